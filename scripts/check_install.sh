#!/usr/bin/env bash
# Installs the build in BUILD_DIR (default build) into a temporary prefix, builds the out-of-tree
# consumer in examples/consumer against it with find_package(fwsvd), and again with pkg-config,
# and runs both on a model. Usage: scripts/check_install.sh [BUILD_DIR] [MODEL_DIR]
set -euo pipefail
cd "$(dirname "$0")/.."
build=${1:-build}
model=${2:-${FWSVD_SHARED_DIR:-../shared}/models/bert-mini-sst2}
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
cmake --install "$build" --prefix "$tmp/prefix" >/dev/null
cmake -S examples/consumer -B "$tmp/consumer" -DCMAKE_PREFIX_PATH="$tmp/prefix" >/dev/null
cmake --build "$tmp/consumer" >/dev/null
libdir=$(dirname "$(find "$tmp/prefix" -name 'libfwsvd.so*' | head -n 1)")
export PKG_CONFIG_PATH="$libdir/pkgconfig"
cc examples/classify.c -o "$tmp/classify-pc" $(pkg-config --cflags --libs fwsvd)
if [ ! -d "$model" ]; then
    echo "check_install: both consumers built; $model not found, so they were not run"
    exit 0
fi
out=$(LD_LIBRARY_PATH="$libdir" "$tmp/consumer/classify" "$model" "a charming and affecting journey")
echo "find_package consumer: $out"
out2=$(LD_LIBRARY_PATH="$libdir" "$tmp/classify-pc" "$model" "a charming and affecting journey")
echo "pkg-config consumer:   $out2"
[ "$out" = "$out2" ] || { echo "the two consumers disagree" >&2; exit 1; }
