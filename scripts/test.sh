#!/usr/bin/env bash
# Builds fwsvd and runs every test: a -Werror release build with all tests, then the unit tests
# again under AddressSanitizer + UndefinedBehaviorSanitizer. Installs missing build dependencies
# first (scripts/setup.sh). Usage: scripts/test.sh [--no-asan]
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh
jobs=$(nproc)
export FWSVD_NO_PROGRESS=1
# Tests run in parallel on few cores: idle OpenMP threads must sleep, not spin.
export OMP_WAIT_POLICY=PASSIVE
# CI always has ../shared; a missing folder is then a failure, not a skip.
if [ "${CI:-}" = true ]; then export FWSVD_REQUIRE_SHARED=1; fi

echo "== release build (-Werror)"
cmake -S . -B build -DCMAKE_BUILD_TYPE=Release -DFWSVD_WERROR=ON >/dev/null
cmake --build build -j"$jobs"
(cd build && ctest --output-on-failure -j"$jobs")
echo "== install + out-of-tree consumer (find_package and pkg-config)"
bash scripts/check_install.sh build

if [ "${1:-}" != "--no-asan" ]; then
    echo "== AddressSanitizer + UndefinedBehaviorSanitizer build"
    cmake -S . -B build-asan -DCMAKE_BUILD_TYPE=RelWithDebInfo -DFWSVD_WERROR=ON \
        -DFWSVD_SANITIZE="address;undefined" -DFWSVD_BUILD_BENCH=OFF >/dev/null
    cmake --build build-asan -j"$jobs"
    # The end-to-end evaluations of whole dev sets (label e2e) run in the release pass only.
    (cd build-asan && ASAN_OPTIONS=detect_leaks=1 ctest --output-on-failure -j"$jobs" -LE e2e)
fi
echo "== all tests passed"
