#!/usr/bin/env bash
# The one command to check chameleon's real measurement path on a GPU host with the project built:
# the [gpu] tests, a smoke measurement of random configs of a few tasks per shipped network, a
# short tune with replay and bench against cuDNN, then measurement throughput. Prints a short summary; exits non-zero on any failure.
# Usage: scripts/gpu-check.sh [BUILD_DIR]   (default: build)
set -uo pipefail
cd "$(dirname "$0")/.."
build=${1:-build}
exe="$build/apps/chameleon"
[ -x "$exe" ] || { echo "gpu-check: $exe not found; build the project first" >&2; exit 2; }
log=$(mktemp -d)
failures=0
step() { # name, command...
  local name=$1; shift
  echo "== $name: $*"
  if "$@" >"$log/step.out" 2>&1; then
    tail -n 3 "$log/step.out"; echo "   ok"
  else
    cat "$log/step.out"; echo "   FAILED"; failures=$((failures + 1))
  fi
}

gpu=$("$exe" devices 2>&1 | head -n 1)
echo "gpu-check on: $gpu"
case "$gpu" in GPU*) ;; *) echo "gpu-check: no usable GPU"; exit 2 ;; esac

step "gpu tests" ctest --test-dir "$build" -L gpu --output-on-failure
grep -h '^\[gpu\]' "$build"/Testing/Temporary/LastTest.log 2>/dev/null | sed 's/^/   /'

for net in resnet18 vgg16 alexnet; do
  for task in 1 2 3; do
    step "$net task $task" "$exe" measure "networks/$net.json" --task "$task" --device cuda \
      --count 4 --seed "$task" --target auto
  done
done

# Templates the measurements above (each task's first template) do not reach: depthwise, Winograd.
step "mobilenet_v2 task 2 conv2d_depthwise" "$exe" measure networks/mobilenet_v2.json --task 2 \
  --template conv2d_depthwise --device cuda --count 4 --seed 2 --target auto
for task in 2 8; do
  step "vgg16 task $task conv2d_winograd" "$exe" measure networks/vgg16.json --task "$task" \
    --template conv2d_winograd --device cuda --count 4 --seed "$task" --target auto
done

# A short tune, then the emitted kernels against cuDNN.
step "short tune" "$exe" -q tune networks/resnet18.json --tasks 7,10 --trials 64 --device cuda \
  --target auto --log "$log/tune.jsonl"
step "replay" "$exe" replay "$log/tune.jsonl" --out "$log/kernels"
step "bench against cuDNN" "$exe" bench "$log/kernels"
# Retuning (docs/ci.md): the same tune again measures nothing new, and status says up to date.
step "second tune measures nothing new" bash -c "\"$exe\" -q tune networks/resnet18.json --tasks 7,10 \
  --trials 64 --device cuda --target auto --log \"$log/tune.jsonl\" | grep -q ' 0 new measurements'"
step "status: tasks 7 and 10 up to date" bash -c "\"$exe\" status networks/resnet18.json --device cuda \
  --target auto --log \"$log/tune.jsonl\" | grep -cE '^ +(7|10) .* up to date' | grep -qx 2"
# TF32: the tensor-core template, benched against cuDNN's TF32 kernels.
step "tf32 tune" "$exe" -q tune networks/resnet18.json --tasks 7,10 --trials 32 --device cuda \
  --target auto --allow-tf32 --templates conv2d_implicit_gemm_tf32 --log "$log/tf32.jsonl"
step "tf32 bench" "$exe" bench "$log/tf32.jsonl" --allow-tf32

# Throughput: random configs, nothing cached, compile included.
export CHAMELEON_CACHE_DIR="$log/cache"
for task in 2 4 7; do
  for tmpl in conv2d_direct conv2d_implicit_gemm conv2d_winograd; do
    step "throughput resnet18 task $task $tmpl" "$exe" measure networks/resnet18.json --task "$task" \
      --template "$tmpl" --device cuda --count 64 --seed 99 --no-cache --target auto
  done
done

echo "gpu-check summary: $gpu; $failures failed step(s)"
rm -rf "$log"
[ "$failures" -eq 0 ]
