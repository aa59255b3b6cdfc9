#!/usr/bin/env bash
# Everything a session with a lent GPU should run, in one call, logs under $OUT (or ./gpu-logs):
#   1. the CUDA tests (pytest -m gpu),
#   2. the default suite with estimators on the GPU (device="auto"), one line per failure (up to 30),
#      so a short lease still shows everything that broke,
#   3. the GPU benchmark (bench/results-gpu.md) and the per-kernel profile.
# Usage, from the repository root on the GPU machine:  bash bench/gpu_check.sh [seconds for step 2]
set -u
out="${OUT:-gpu-logs}"
mkdir -p "$out"
export PYTHONPATH="$PWD/src:$PWD${PYTHONPATH:+:$PYTHONPATH}" PYTHONUNBUFFERED=1 MPLBACKEND=Agg
nvidia-smi --query-gpu=name,memory.used,memory.total --format=csv | tee "$out/gpu.txt"
python3 -c "import torch; print('torch', torch.__version__, 'cuda', torch.version.cuda)" | tee -a "$out/gpu.txt"

echo "== 1. CUDA tests"
timeout 300 python3 -m pytest -m gpu -q -rf --tb=short -p no:cacheprovider \
    2>&1 | tee "$out/gpu-tests.log" | tail -12

echo "== 2. default suite on the GPU (one line per failure)"
timeout "${1:-420}" python3 -m pytest -q --tb=line -rf --maxfail=30 -p no:cacheprovider \
    2>&1 | tee "$out/suite.log" | grep -E "^(FAILED|ERROR)|passed|failed" | tail -32

echo "== 3. benchmark and profile"
timeout 360 python3 -m bench --gpu-only --out "$out/results-gpu.md" > "$out/bench.log" 2>&1
grep -A12 "^| contender" "$out/results-gpu.md" | grep -v "^|---"
timeout 120 python3 -m bench.gpu_profile > "$out/profile.log" 2>&1
grep -E "eager step|replays|fit_loop" "$out/profile.log"
