#!/usr/bin/env bash
# The main job. Until the compressor lands this evaluates the reference checkpoints.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh
cmake -S . -B build -DCMAKE_BUILD_TYPE=Release >/dev/null
cmake --build build -j"$(nproc)" --target fwsvd
shared=${FWSVD_SHARED_DIR:-../shared}
for t in SST-2:sst2 STS-B:stsb MRPC:mrpc CoLA:cola; do
    build/tools/fwsvd eval "$shared/models/bert-mini-${t#*:}" --data "$shared/data/glue/${t%:*}/dev.tsv"
done
