#!/usr/bin/env bash
# Builds fwsvd and runs every test: a -Werror release build with all tests (those over two
# processes through mpirun when Open MPI is installed, label mpi), then the unit tests again under
# AddressSanitizer + UndefinedBehaviorSanitizer, the concurrency tests under ThreadSanitizer (in
# a build without MPI), and every libFuzzer target for FWSVD_FUZZ_SECONDS (default 45) each.
# Installs missing build dependencies first (scripts/setup.sh).
# Usage: scripts/test.sh [--no-asan]   (--no-asan: the release build and its tests only)
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh
jobs=$(nproc)
export FWSVD_NO_PROGRESS=1
# Tests run in parallel on few cores: idle OpenMP threads must sleep, not spin.
export OMP_WAIT_POLICY=PASSIVE
# CI always has ../shared; a missing folder is then a failure, not a skip.
if [ "${CI:-}" = true ]; then export FWSVD_REQUIRE_SHARED=1; fi

stage() { echo "== [$((SECONDS / 60))m$((SECONDS % 60))s] $*"; }

stage "release build (-Werror)"
cmake -S . -B build -DCMAKE_BUILD_TYPE=Release -DFWSVD_WERROR=ON >/dev/null
cmake --build build -j"$jobs"
(cd build && ctest --output-on-failure -j"$jobs")
stage "install + out-of-tree consumer (find_package and pkg-config)"
bash scripts/check_install.sh build

if [ "${1:-}" != "--no-asan" ]; then
    # Sanitizer builds: -O1 with line tables only (-g1: enough for the reports' stack traces)
    # compile about twice as fast as -O2 -g, which matters on CI's two cores.
    san_flags=(-DCMAKE_BUILD_TYPE=RelWithDebInfo -DFWSVD_WERROR=ON -DFWSVD_BUILD_BENCH=OFF
               "-DCMAKE_CXX_FLAGS_RELWITHDEBINFO=-O1 -g1 -DNDEBUG"
               "-DCMAKE_C_FLAGS_RELWITHDEBINFO=-O1 -g1 -DNDEBUG")
    stage "AddressSanitizer + UndefinedBehaviorSanitizer build"
    cmake -S . -B build-asan "${san_flags[@]}" -DFWSVD_SANITIZE="address;undefined" >/dev/null
    cmake --build build-asan -j"$jobs"
    # The end-to-end evaluations of whole dev sets (label e2e) run in the release pass only.
    (cd build-asan && ASAN_OPTIONS=detect_leaks=1 ctest --output-on-failure -j"$jobs" -LE "e2e|mpi")
    # The tests over several processes (label mpi) run under ASan + UBSan without the leak check:
    # Open MPI's own runtime leaves allocations behind at exit (LeakSanitizer counts about 3,000
    # in a program that only calls MPI_Init, an all-reduce and MPI_Finalize, many in components
    # already unloaded, so no suppression list can name them). Memory errors are still caught.
    (cd build-asan && ASAN_OPTIONS=detect_leaks=0 ctest --output-on-failure -L mpi)

    # The concurrency tests (one model, many threads with a session each, every result equal to
    # the single-threaded one) under ThreadSanitizer. libgomp is not TSan-aware, so OpenMP runs
    # one thread per call here (OMP_NUM_THREADS=1): the threads under test are the callers'.
    # This build also checks that fwsvd builds without MPI (FWSVD_MPI=OFF: one process always).
    stage "ThreadSanitizer build (concurrency tests), without MPI"
    cmake -S . -B build-tsan "${san_flags[@]}" -DFWSVD_SANITIZE=thread -DFWSVD_MPI=OFF >/dev/null
    cmake --build build-tsan -j"$jobs" --target capi_test models_test dist_test
    export OMP_NUM_THREADS=1 TSAN_OPTIONS="halt_on_error=1 second_deadlock_stack=1"
    build-tsan/tests/capi/capi_test --gtest_filter='*ManyThreads*'
    build-tsan/tests/models/models_test --gtest_filter='*Concurrently*'
    build-tsan/tests/runtime/dist_test
    unset OMP_NUM_THREADS TSAN_OPTIONS

    # The fuzz corpora are seeded from ../shared: without it (outside CI) fuzzing is skipped,
    # as the tests that need it are.
    if [ -d "${FWSVD_SHARED_DIR:-../shared}/models" ] || [ "${CI:-}" = true ]; then
        stage "fuzzing: every parser for ${FWSVD_FUZZ_SECONDS:-45} s (libFuzzer, ASan + UBSan)"
        bash scripts/fuzz.sh "${FWSVD_FUZZ_SECONDS:-45}"
    else
        stage "fuzzing skipped: ${FWSVD_SHARED_DIR:-../shared} not found (it seeds the corpora)"
    fi
fi
stage "all tests passed"
