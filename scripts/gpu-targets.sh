#!/usr/bin/env bash
# The evidence for the kernel-speed targets (docs/benchmarks.md): tune ResNet-18 and VGG-16 over
# every fp32 template, emit the best kernels and bench them against cuDNN fp32 side by side; then
# the same with TF32 allowed against cuDNN TF32. Everything goes to OUT_DIR (logs, kernels, bench
# JSON, a summary). Run on a GPU host with the project built.
# Usage: scripts/gpu-targets.sh BUILD_DIR OUT_DIR [TRIALS_PER_TASK]   (default 96)
set -uo pipefail
cd "$(dirname "$0")/.."
build=$1
out=$2
trials=${3:-96}
exe="$build/apps/chameleon"
[ -x "$exe" ] || { echo "gpu-targets: $exe not found; build the project first" >&2; exit 2; }
mkdir -p "$out"
"$exe" devices | tee "$out/devices.txt"
export CHAMELEON_CACHE_DIR="$out/cache"

for net in resnet18 vgg16; do
  # fp32: the three fp32 templates share each task's trials.
  "$exe" -q tune "networks/$net.json" --device cuda --target auto --trials "$trials" \
    --log "$out/$net-fp32.jsonl" --json > "$out/$net-fp32-tune.json" 2> "$out/$net-fp32-tune.err"
  "$exe" replay "$out/$net-fp32.jsonl" --out "$out/$net-fp32-kernels" > "$out/$net-fp32-replay.txt" 2>&1
  "$exe" bench "$out/$net-fp32-kernels" | tee "$out/$net-fp32-bench.txt"
  "$exe" bench "$out/$net-fp32-kernels" --json > "$out/$net-fp32-bench.json" 2>/dev/null
  # TF32: only the TF32 template, against cuDNN with TF32 allowed.
  "$exe" -q tune "networks/$net.json" --device cuda --target auto --trials "$((trials / 2))" \
    --allow-tf32 --templates conv2d_implicit_gemm_tf32 --log "$out/$net-tf32.jsonl" \
    > "$out/$net-tf32-tune.txt" 2>&1
  "$exe" replay "$out/$net-tf32.jsonl" --allow-tf32 --out "$out/$net-tf32-kernels" > "$out/$net-tf32-replay.txt" 2>&1
  "$exe" bench "$out/$net-tf32-kernels" --allow-tf32 | tee "$out/$net-tf32-bench.txt"
done
grep -h "total\|speedup" "$out"/*-bench.txt > "$out/summary.txt" 2>/dev/null
rm -rf "$out/cache"
