#!/usr/bin/env bash
# One time-boxed run on a GPU machine held for a short time (docs/benchmarks.md): builds the app and
# the [gpu] tests, then runs the evidence in order of importance, each phase under its own time
# limit, skipping what no longer fits the budget:
#   the fault, every-template, GPU-turn, slice-replay, fused/fp16 and cuDNN (both APIs) [gpu] tests (gpu-tests-new), the
#   measurement dataset's slices (slices, below), ResNet-18 fp16 with fused epilogues on
#   conv2d_tensorcore, conv2d_wgmma (sm_90 only) and, for its 3x3 stride-1 layers, conv2d_winograd_tc and conv2d_winograd (FP16_TEMPLATES), tune +
#   replay + bench against cuDNN fp16 (resnet18-fp16; FP16_LIMIT, FP16_TRIALS), the same with NHWC
#   tensors on conv2d_tensorcore and conv2d_wgmma (resnet18-fp16-nhwc, against cuDNN's NHWC; same limits),
#   VGG-16 fp16 the same way as resnet18-fp16 (vgg16-fp16; same limits), ResNet-50 fp16 NHWC at
#   batch 32 on conv2d_tensorcore and conv2d_wgmma (resnet50-fp16-b32; B32_LIMIT, default 200 s),
#   the tuners side by side at one time limit (race: ResNet-18 fp32 end to end with chameleon and
#   autotvm, RACE_MINUTES each, default 1, nothing cached, each replayed and benched; RACE_NET,
#   RACE_TUNERS, RACE_HISTORY, RACE_LIMIT), ResNet-18 fp32 tune + replay + bench against
#   cuDNN over all fp32 templates (resnet18-fp32: the headline figure), the tuning throughput of
#   all of ResNet-18 with --lanes auto, the default fp32 templates, nothing cached
#   (net-throughput: the 40 configs/s target, not met by that set on an H200 on 2026-11-27, when
#   failing Winograd configs cost worker restarts), VGG-16 fp32 tune +
#   replay + bench, ResNet-18 TF32 tune + bench against cuDNN TF32, MobileNetV2 fp32 tune +
#   replay + bench (conv2d_depthwise), conv2d_winograd on fixed and random configs of VGG-16's
#   layers 2 and 6 and ResNet-18's layer 4 (winograd; WINOGRAD_TASKS picks others, e.g.
#   "vgg16:4 vgg16:8"), Ctrl-C during a GPU tune (interrupt: exit 130, nothing logged as failed),
#   VGG-16's layer 2 and three largest layers tuned deeper (vgg-deep), Nsight Compute's view of
#   two Winograd kernels and the GEMM's best on VGG-16's task 6 (profile), transfer seeds off and
#   on (seeds), and an earlier run's kernels re-benched beside them (bench-prev) with the same
#   configs rebuilt by this template at 2-4 stages in both reduction orders (same-configs).
# The slices phase feeds the measurement dataset (docs/measurement.md): it measures every config of
# each slice of SLICES (tests/data/measurements/slices/NAME.json; default: all of them, the
# implicit GEMM ones and Winograd's first), resuming from what the dataset holds for this GPU, for
# as long as SLICES_LIMIT (default 360 s) and the budget allow; a later run goes on where it stopped.
# By default it runs right after the [gpu] tests.
# Every tune + replay + bench phase also times what a PyTorch user gets for the same workloads
# (scripts/torch_baseline.py on the host's PyTorch: cudnn.benchmark, CUDA graph; BASELINE_LIMIT,
# default 30 s) and the bench shows it beside ours and cuDNN (the faster of its legacy and graph APIs).
# Everything lands in OUT_DIR/session.log and OUT_DIR/results.tar.gz (logs, kernels, bench output),
# re-packed after every phase, so a run cut short still returns what it measured. Every tuning and
# collection log in it goes into the dataset with `scripts/dataset.py add OUT_DIR/results.tar.gz`.
# The records name the commit the binary was built from: where the tree has no .git (a copy on a
# GPU machine), set CHAMELEON_COMMIT (e.g. to `git rev-parse --short=12 HEAD` of the copy's source).
# Usage: scripts/gpu-run.sh OUT_DIR [BUDGET_S (default 500)] [BUILD_DIR (default build-gpu)]
# SKIP_BUILD=1 uses BUILD_DIR as it is; PHASES picks and orders the phases (default: all, in the
# order above; also smoke (a few random configs of every template on two ResNet-18 tasks),
# throughput (compile-included measure throughput), gpu-tests-templates, gpu-tests-new (the fault, every-template and GPU-turn tests),
# bench-prev to re-bench every *-kernels folder under PREV_KERNELS (default .prev: an earlier
# run's replayed kernels, carried as an ignored path) against cuDNN, same-configs to measure the
# implicit GEMM configs of the kernel folders SAME_CONFIGS names under PREV_KERNELS (default
# vgg-deep-kernels) again with this template at 2, 3 and 4 stages, tap_major 0 and 1 (an A/B of the template on fixed
# configs; SAME_CONFIGS_LIMIT), net-throughput (all of ResNet-18, NET_TRIALS (default 64) each,
# --lanes LANES (default auto), nothing cached: the configs/s target), lanes to compare tune throughput with the lane
# counts of LANES_LIST (default "1 2", limit LANES_LIMIT), sanitize to run Inception-v3's
# suspect split-K config 647298 alone and under compute-sanitizer memcheck and racecheck, and
# mobilenet-fp32 (every MobileNetV2 task on the implicit GEMM, its depthwise ones on
# conv2d_depthwise too, MOBILENET_TRIALS (default 48) each, against cuDNN; MOBILENET_LIMIT), vgg-deep (VGG_DEEP_TASKS, default 2,4,6,8, with
# VGG_DEEP_TRIALS, default 192, each, against cuDNN; VGG_DEEP_LIMIT), seeds (SEEDS_NET, default
# vgg16, tuned on the GEMM with --transfer-seeds 0 and 4 side by side, SEEDS_TRIALS per task,
# default 32; SEEDS_LIMIT));
# RESNET_TRIALS/RESNET_LIMIT, VGG_TRIALS/VGG_LIMIT and TF32_LIMIT size the tunes, WINOGRAD_LIMIT and
# PROFILE_LIMIT the winograd and profile phases; LANES sets tune --lanes
# (default auto).
set -uo pipefail
cd "$(dirname "$0")/.."
out=$1
budget=${2:-500}
build=${3:-build-gpu}
t0=$(date +%s)
res=/tmp/gpu-run
rm -rf "$res"
mkdir -p "$res" "$out"
exec > >(tee -a "$out/session.log") 2>&1

elapsed() { echo $(( $(date +%s) - t0 )); }
pack() {
  tar czf "$out/results.tmp" -C "$res" --exclude=./cache . && mv "$out/results.tmp" "$out/results.tar.gz"
}
phase() { # name, limit in seconds, command...
  local name=$1 limit=$2
  shift 2
  local left=$(( budget - $(elapsed) ))
  if [ "$left" -lt 15 ]; then
    echo "== $name: skipped, $left s of the budget left"
    return
  fi
  [ "$limit" -gt "$left" ] && limit=$left
  echo "== $name (at $(elapsed) s, limit $limit s)"
  local start=$(date +%s)
  PHASE_LIMIT=$limit timeout -k 5 "$limit" bash -c '"$@"' phase "$@"
  echo "== $name: exit $? in $(( $(date +%s) - start )) s"
  pack
}

build_all() {
  if [ -n "${SKIP_BUILD:-}" ]; then return 0; fi
  if [ -d .deps ]; then # the carried Debian packages (../shared/device/fetch-debs.sh)
    mkdir -p /tmp/deps
    for f in .deps/*.deb; do dpkg -x "$f" /tmp/deps; done
  fi
  local torch_prefix
  torch_prefix=$(python3 -c 'import torch; print(torch.utils.cmake_prefix_path)')
  cmake -S . -B "$build" -G Ninja -DCMAKE_BUILD_TYPE=Release -DCMAKE_POLICY_VERSION_MINIMUM=3.5 \
    -DCMAKE_PREFIX_PATH="/tmp/deps/usr;/tmp/deps/usr/share/eigen3/cmake;$torch_prefix" \
    > "$res/configure.log" 2>&1 || { tail -40 "$res/configure.log"; return 1; }
  cmake --build "$build" -j"$(nproc)" --target chameleon chameleon_gpu_tests > "$res/build.log" 2>&1 \
    || { grep -m20 -E 'error|Error' "$res/build.log"; return 1; }
}
export LD_LIBRARY_PATH=/tmp/deps/usr/lib/x86_64-linux-gnu:${LD_LIBRARY_PATH:-}
export CHAMELEON_CACHE_DIR="$res/cache"
exe="$build/apps/chameleon"
device=${DEVICE:-cuda} # DEVICE=sim tries the script without a GPU

smoke() {
  nvidia-smi --query-gpu=name,clocks.sm,clocks.max.sm,power.limit --format=csv
  "$exe" devices
  for task in 7 1; do
    for tmpl in conv2d_direct conv2d_direct_splitk conv2d_implicit_gemm conv2d_implicit_gemm_tf32; do
      echo "-- resnet18 task $task $tmpl"
      "$exe" measure networks/resnet18.json --task "$task" --template "$tmpl" --device "$device" \
        --target auto --count 6 --seed 3 2>&1 | grep -E 'configs in|error|us \(|failed' | tail -n 8
    done
  done
}

tune_bench() { # name network trials plan templates tune_limit_s [--allow-tf32]
  # The tune ends by its time limit (the log keeps every measurement), so replay and bench still run.
  local name=$1 net=$2 trials=$3 plan=$4 templates=$5 tune_limit=$6
  shift 6
  local cap=$(( ${PHASE_LIMIT:-100000} - 45 - ${BASELINE_LIMIT:-30} ))
  [ "$tune_limit" -gt "$cap" ] && tune_limit=$cap
  [ "$tune_limit" -lt 10 ] && tune_limit=10
  # --time-limit shares the time among the tasks (each is tuned, the bench is complete); the
  # timeout is the backstop for the iteration in flight.
  local minutes
  minutes=$(python3 -c "import sys; print(max(0.1, (int(sys.argv[1]) - 15) / 60))" "$tune_limit")
  # TUNE_ARGS: flags of the tune alone (--precision fp16).
  # shellcheck disable=SC2086
  timeout -k 5 "$tune_limit" "$exe" tune "networks/$net.json" --device "$device" --target auto --trials "$trials" \
    --plan-size "$plan" --lanes "${LANES:-auto}" --time-limit "$minutes" ${TUNE_ARGS:-} \
    --templates "$templates" "$@" --log "$res/$name.jsonl" > "$res/$name-tune.txt" 2> "$res/$name-progress.txt"
  echo "tune exit $?"
  cat "$res/$name-tune.txt"
  grep -E 'done:|tuned ' "$res/$name-progress.txt" | tail -n 30
  "$exe" replay "$res/$name.jsonl" "$@" --out "$res/$name-kernels" > "$res/$name-replay.txt" 2>&1
  tail -n 15 "$res/$name-replay.txt"
  # What a PyTorch user gets for the same workloads (cudnn.benchmark, CUDA graph), timed on this
  # GPU right before the bench, which shows it beside ours and cuDNN (both its APIs).
  local baseline=()
  local tf32=()
  [[ " $* " == *" --allow-tf32 "* ]] && tf32=(--allow-tf32)
  if [ "$device" != cuda ]; then
    echo "no PyTorch baseline: not on a GPU (DEVICE=$device)"
  elif timeout -k 5 "${BASELINE_LIMIT:-30}" python3 scripts/torch_baseline.py \
      "$res/$name-kernels" "${tf32[@]}" --out "$res/$name-pytorch.json" 2> "$res/$name-pytorch.txt"; then
    baseline=(--baseline "$res/$name-pytorch.json")
  else
    echo "no PyTorch baseline (exit $?):"; tail -n 5 "$res/$name-pytorch.txt"
  fi
  "$exe" bench "$res/$name-kernels" --device "$device" "$@" "${baseline[@]}" 2>&1 | tee "$res/$name-bench.txt"
}

lanes() { # tune throughput with 1, 2, ... lanes (LANES_LIST), side by side, nothing cached
  for n in ${LANES_LIST:-1 2}; do
    echo "-- resnet18 tasks 2-7, 64 trials, --lanes $n"
    "$exe" -q tune networks/resnet18.json --device "$device" --target auto --tasks 2-7 --trials 64 \
      --plan-size 32 --lanes "$n" --no-cache --no-resume --log "$res/lanes-$n.jsonl" | grep -E 'tuned|total'
  done
}

net_throughput() { # the 40 configs/s target: all of ResNet-18's tasks with --lanes auto, nothing cached
  echo "-- resnet18, all tasks, ${NET_TRIALS:-64} trials, --lanes ${LANES:-auto}"
  "$exe" -q tune networks/resnet18.json --device "$device" --target auto --trials "${NET_TRIALS:-64}" \
    --plan-size 32 --lanes "${LANES:-auto}" --no-cache --no-resume --log "$res/net-throughput.jsonl" |
    grep -E 'tuned|total'
}

sanitize() { # Inception-v3 task 42's conv2d_direct_splitk config 647298 (docs/benchmark-history.md)
  # 896 accumulators per thread: ruled out by the static checks since, built here regardless.
  local args=(networks/inception_v3.json --task 42 --template conv2d_direct_splitk --config 647298
              --device "$device" --target auto --warmup 0 --repeat 1 --min-repeat-ms 0 --no-cuda-graph
              --no-static-checks)
  echo "-- alone, no sanitizer"
  "$exe" measure "${args[@]}" 2>&1 | tail -n 5
  local cs=${CUDA_HOME:-/usr/local/cuda}/bin/compute-sanitizer
  [ -x "$cs" ] || cs=$(command -v compute-sanitizer) || { echo "no compute-sanitizer"; return 1; }
  for tool in memcheck racecheck; do
    echo "-- compute-sanitizer --tool $tool"
    "$cs" --tool "$tool" --target-processes all --print-limit 20 "$exe" measure "${args[@]}" --run-timeout 60 \
      > "$res/sanitize-$tool.txt" 2>&1
    echo "exit $?"
    grep -v '^=========     ' "$res/sanitize-$tool.txt" | tail -n 25
  done
}

vgg_deep() { # the VGG-16 GEMM layers with a deeper budget: how far the tuner gets with more trials
  local cap=$(( ${PHASE_LIMIT:-100000} - 40 ))
  timeout -k 5 "$cap" "$exe" tune networks/vgg16.json --device "$device" --target auto \
    --tasks "${VGG_DEEP_TASKS:-2,4,6,8}" --trials "${VGG_DEEP_TRIALS:-192}" --plan-size 32 \
    --templates conv2d_implicit_gemm,conv2d_direct_splitk,conv2d_winograd --lanes "${LANES:-auto}" \
    --time-limit "$(python3 -c "import sys; print(max(0.1, (int(sys.argv[1]) - 45) / 60))" "$cap")" \
    --log "$res/vgg-deep.jsonl" > "$res/vgg-deep-tune.txt" 2> "$res/vgg-deep-progress.txt"
  echo "tune exit $?"
  cat "$res/vgg-deep-tune.txt"
  "$exe" replay "$res/vgg-deep.jsonl" --out "$res/vgg-deep-kernels" > "$res/vgg-deep-replay.txt" 2>&1
  tail -n 6 "$res/vgg-deep-replay.txt"
  "$exe" bench "$res/vgg-deep-kernels" --device "$device" 2>&1 | tee "$res/vgg-deep-bench.txt"
}

winograd() { # conv2d_winograd's first GPU timings: fixed configs and random ones on VGG-16's layers
  # and a ResNet-18 one (tuned against the implicit GEMM and cuDNN in vgg-deep)
  for nt in ${WINOGRAD_TASKS:-vgg16:2 vgg16:6 resnet18:4}; do
    local net=${nt%%:*} task=${nt##*:}
    # tile tile_k thread_m thread_n lanes_m lanes_n: the static table in docs/benchmark-history.md
    for knobs in 2,8,8,8,4,4 2,16,8,8,4,4 2,8,8,4,4,8 2,8,4,8,8,4 4,8,8,8,2,4 4,8,8,8,2,2 4,8,8,8,4,2 4,8,8,4,4,4; do
      local cfg
      cfg=$(python3 -c 'import json,sys; v=[int(x) for x in sys.argv[1].split(",")]; print(json.dumps([[k,"ot",x] for k,x in zip(["tile","tile_k","thread_m","thread_n","lanes_m","lanes_n"],v)] + [["split_k","ot",1],["splitk_reduce","ot",0]]))' "$knobs")
      printf '%s task %s winograd %s: ' "$net" "$task" "$knobs"
      "$exe" measure "networks/$net.json" --task "$task" --template conv2d_winograd --config "$cfg" \
        --device "$device" --target auto 2>&1 | grep -E 'us \(median|_ERROR|error|failed|wrong' | tail -n 2 | paste -sd " "
    done
    echo "-- $net task $task: 16 random conv2d_winograd configs"
    "$exe" measure "networks/$net.json" --task "$task" --template conv2d_winograd --device "$device" \
      --target auto --count 16 --seed 5 2>&1 | tail -n 1
  done
}

profile() { # Nsight Compute on VGG-16 task 6: what limits the Winograd kernels and the GEMM's best
  local ncu=${CUDA_HOME:-/usr/local/cuda}/bin/ncu
  [ -x "$ncu" ] || ncu=$(command -v ncu) || { echo "no ncu"; return 1; }
  local w='[["tile_k","ot",8],["thread_m","ot",8],["thread_n","ot",8],["split_k","ot",1],["splitk_reduce","ot",0]'
  local specs=(
    "conv2d_winograd ${w},[\"tile\",\"ot\",2],[\"lanes_m\",\"ot\",4],[\"lanes_n\",\"ot\",4]]"
    "conv2d_winograd ${w},[\"tile\",\"ot\",4],[\"lanes_m\",\"ot\",2],[\"lanes_n\",\"ot\",4]]"
    'conv2d_implicit_gemm [["tile_k","ot",16],["thread_m","ot",8],["thread_n","ot",8],["lanes_n","ot",4],["warps_m","ot",4],["warps_n","ot",1],["split_k","ot",4],["splitk_reduce","ot",0],["stages","ot",3],["tap_major","ot",0]]'
  )
  local i=0
  for spec in "${specs[@]}"; do
    local tmpl=${spec%% *} cfg=${spec#* }
    i=$((i + 1))
    echo "-- ncu: vgg16 task 6 $tmpl $cfg"
    "$ncu" --target-processes all -k "$tmpl" --launch-count 1 --section SpeedOfLight --section Occupancy \
      --section LaunchStats --section WarpStateStats --section SchedulerStats --section MemoryWorkloadAnalysis \
      "$exe" measure networks/vgg16.json --task 6 --template "$tmpl" --config "$cfg" --device "$device" \
      --target auto --warmup 0 --repeat 1 --min-repeat-ms 0 --no-cuda-graph > "$res/profile-$i.txt" 2>&1
    echo "exit $?"
    grep -E 'ERR|Throughput|Registers|Achieved Occupancy|Theoretical Occupancy|Warp Cycles Per Issued|Issued Ipc|No Eligible|Stall|Duration' \
      "$res/profile-$i.txt" | head -n 30
  done
}

race() { # the tuners side by side at one time limit, nothing cached: a whole network end to end
  # (RACE_NET, default resnet18, fp32, the default templates), each tuner (RACE_TUNERS, default
  # "chameleon autotvm") given --time-limit RACE_MINUTES (default 1), then each replayed and
  # benched on this GPU: the totals say which tuner got further in the same wall time.
  # RACE_HISTORY (a dataset folder or log) starts every tuner's model trained on it.
  local net=${RACE_NET:-resnet18} minutes=${RACE_MINUTES:-1}
  local hist=()
  [ -n "${RACE_HISTORY:-}" ] && hist=(--history "$RACE_HISTORY")
  local backstop
  # Past the limit each task still measures one batch (every task gets a kernel): the backstop
  # leaves room for that.
  backstop=$(python3 -c "import sys; print(int(float(sys.argv[1]) * 90) + 40)" "$minutes")
  for tuner in ${RACE_TUNERS:-chameleon autotvm}; do
    echo "-- $net fp32, --tuner $tuner, --time-limit $minutes minutes, nothing cached"
    timeout -k 5 "$backstop" "$exe" tune "networks/$net.json" --device "$device" --target auto \
      --tuner "$tuner" --trials 4000 --lanes "${LANES:-auto}" --time-limit "$minutes" --no-cache \
      --no-resume "${hist[@]}" --log "$res/race-$tuner.jsonl" > "$res/race-$tuner-tune.txt" \
      2> "$res/race-$tuner-progress.txt"
    echo "tune exit $?"
    grep -E 'tuned |total' "$res/race-$tuner-tune.txt"
    "$exe" replay "$res/race-$tuner.jsonl" --out "$res/race-$tuner-kernels" > "$res/race-$tuner-replay.txt" 2>&1
  done
  for tuner in ${RACE_TUNERS:-chameleon autotvm}; do
    echo "-- bench of --tuner $tuner's kernels"
    "$exe" bench "$res/race-$tuner-kernels" --device "$device" > "$res/race-$tuner-bench.txt" 2>&1
    tail -n 4 "$res/race-$tuner-bench.txt"
  done
}

seeds() { # transfer seeds on and off, side by side, nothing cached (docs/tuning.md)
  for n in 0 4; do
    echo "-- ${SEEDS_NET:-vgg16}, ${SEEDS_TRIALS:-32} GEMM trials per task, --transfer-seeds $n"
    "$exe" -q tune "networks/${SEEDS_NET:-vgg16}.json" --device "$device" --target auto --trials "${SEEDS_TRIALS:-32}" \
      --plan-size 16 --templates conv2d_implicit_gemm --transfer-seeds "$n" --no-cache --no-resume \
      --log "$res/seeds-$n.jsonl" | grep -E 'tuned|total'
  done
}

throughput() {
  for task in 2 7; do
    for tmpl in conv2d_implicit_gemm conv2d_direct_splitk; do
      echo "-- throughput resnet18 task $task $tmpl"
      "$exe" measure networks/resnet18.json --task "$task" --template "$tmpl" --device "$device" --target auto \
        --count 64 --seed 99 --no-cache 2>&1 | tail -n 1
    done
  done
}

bench_prev() { # an earlier run's kernels, re-timed here beside cuDNN: old against new on one GPU
  local found=0
  for dir in "${PREV_KERNELS:-.prev}"/*-kernels; do
    [ -f "$dir/manifest.json" ] || continue
    found=1
    echo "-- $dir"
    "$exe" bench "$dir" --device "$device" 2>&1 | tee "$res/prev-$(basename "$dir")-bench.txt"
  done
  [ "$found" = 1 ] || echo "no kernels under ${PREV_KERNELS:-.prev}"
}

same_configs() { # the carried kernels' GEMM configs rebuilt by this template, with 2, 3, 4 stages
  # (bench-prev timed the old template's kernels of the same configs, same protocol)
  for name in ${SAME_CONFIGS:-vgg-deep-kernels}; do
    local dir="${PREV_KERNELS:-.prev}/$name"
    [ -f "$dir/manifest.json" ] || continue
    python3 - "$dir/manifest.json" > "$res/same-configs-$name.txt" <<'PY'
import json, sys
m = json.load(open(sys.argv[1]))
for k in m["kernels"]:
    if k["template"] == "conv2d_implicit_gemm":
        print(m["network"], k["task"], json.dumps(k["config"]["entity"]))
PY
    while read -r net task entity; do
      for tap_major in 0 1; do
        for stages in 2 3 4; do
          local cfg
          cfg=$(python3 -c 'import json,sys; e=[k for k in json.loads(sys.argv[1]) if k[0] not in ("stages","tap_major")]; e.append(["stages","ot",int(sys.argv[2])]); e.append(["tap_major","ot",int(sys.argv[3])]); print(json.dumps(e))' "$entity" "$stages" "$tap_major")
          printf '%s task %s stages %s tap_major %s: ' "$net" "$task" "$stages" "$tap_major"
          "$exe" measure "networks/$net.json" --task "$task" --template conv2d_implicit_gemm --config "$cfg" \
            --device "$device" --target auto 2>&1 | grep -E 'us \(median|ERROR|error' | tail -n 1
        done
      done
    done < "$res/same-configs-$name.txt"
  done
}

interrupt_check() { # Ctrl-C (SIGINT to the process group, as a terminal sends it) during a GPU tune
  # The tune should stop after its batch, exit 130, log no config as failed (the GPU and compile
  # workers ignore the signal), and status should call the task unfinished.
  local log="$res/interrupt.jsonl" pid n=0 rc=0
  setsid "$exe" tune networks/resnet18.json --device "$device" --target auto --tasks 4 \
    --templates conv2d_implicit_gemm --trials 512 --plan-size 32 --no-cache --log "$log" \
    > "$res/interrupt-out.txt" 2> "$res/interrupt-err.txt" &
  pid=$!
  for _ in $(seq 1 1500); do
    [ -f "$log" ] && n=$(grep -c '^{' "$log") && [ "$n" -ge 8 ] && break
    sleep 0.02
  done
  kill -INT -- "-$pid"
  for _ in $(seq 1 300); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
  kill -9 -- "-$pid" 2>/dev/null # its own session: the phase's timeout would not reach it
  wait "$pid" || rc=$?
  echo "tune exit $rc (130 expected), interrupted at $n records"
  grep -E 'interrupted|done' "$res/interrupt-err.txt" | tail -n 4
  python3 - "$log" <<'PY'
import json, sys
errors = [json.loads(l)["result"][1] for l in open(sys.argv[1]) if l.startswith("{")]
print(f"{len(errors)} records; errors other than 0: {[e for e in errors if e]}")
PY
  "$exe" status networks/resnet18.json --device "$device" --target auto --templates conv2d_implicit_gemm \
    --log "$log" | grep -E '^ +4 '
}

slices() { # every config of each slice, resumed from the dataset's records of this GPU
  local gpu folder start
  gpu=$(nvidia-smi --query-gpu=name --format=csv,noheader 2>/dev/null | head -n 1)
  [ "$device" = sim ] && gpu="sim:h100"
  folder=$(python3 scripts/dataset.py folder "${gpu:-unknown}")
  start=$(date +%s)
  mkdir -p "$res/slices"
  for name in ${SLICES:-resnet18-t7-gemm vgg16-t2-winograd resnet18-t4-gemm resnet18-t10-gemm resnet18-t2-gemm vgg16-t4-gemm resnet18-t7-direct mobilenet_v2-t5-depthwise}; do
    local log="$res/slices/$name.jsonl" known="tests/data/measurements/$folder/$name.jsonl.gz"
    if [ ! -f "$log" ] && [ -f "$known" ]; then gzip -dc "$known" > "$log"; fi
    local left=$(( ${PHASE_LIMIT:-100000} - ($(date +%s) - start) - 20 ))
    if [ "$left" -lt 30 ]; then echo "-- $name: no time left"; break; fi
    echo "-- $name ($left s left, dataset folder $folder)"
    timeout -k 5 "$left" "$exe" collect "tests/data/measurements/slices/$name.json" --device "$device" \
      --target auto --log "$log" --time-limit "$(python3 -c "import sys; print(max(0.2, (int(sys.argv[1]) - 15) / 60))" "$left")" \
      2>&1 | grep -v '^\[info\] \[collect\]'
  done
}

export res build exe device
export -f slices build_all smoke tune_bench throughput lanes sanitize vgg_deep seeds bench_prev same_configs net_throughput winograd profile interrupt_check race
# PREV: the results folder of an earlier run of this script; its tuning logs are resumed, not redone.
if [ -n "${PREV:-}" ]; then cp "$PREV"/*.jsonl "$res"/ 2>/dev/null; fi
nvidia-smi --query-gpu=name,clocks.sm,clocks.max.sm,power.limit,driver_version --format=csv 2>/dev/null
echo "host: $(nproc) cores"
phase build 200 build_all || true
[ -x "$exe" ] || { echo "gpu-run: the build failed"; pack; exit 1; }
for name in ${PHASES:-gpu-tests-new slices resnet18-fp16 resnet18-fp16-nhwc race vgg16-fp16 resnet50-fp16-b32 resnet18-fp32 net-throughput vgg16-fp32 resnet18-tf32 mobilenet-fp32 winograd interrupt vgg-deep profile seeds bench-prev same-configs}; do
  case $name in
    smoke) phase smoke 60 smoke ;;
    slices) phase slices ${SLICES_LIMIT:-360} slices ;;
    resnet18-fp32) phase resnet18-fp32 ${RESNET_LIMIT:-160} tune_bench resnet18-fp32 resnet18 \
      ${RESNET_TRIALS:-128} 32 conv2d_direct_splitk,conv2d_implicit_gemm,conv2d_winograd $(( ${RESNET_LIMIT:-160} - 45 )) ;;
    gpu-tests) phase gpu-tests 180 "$build/tests/chameleon_gpu_tests" --durations yes ;;
    gpu-tests-templates) phase gpu-tests-templates 120 "$build/tests/chameleon_gpu_tests" --durations yes \
      "every template verifies*" ;;
    gpu-tests-new) phase gpu-tests-new 120 "$build/tests/chameleon_gpu_tests" --durations yes \
      "faulting*,every template verifies*,a runner waits*,a slice collected*,fused epilogues verify*,cuDNN*" ;;
    resnet18-fp16) TUNE_ARGS="--precision fp16" phase resnet18-fp16 ${FP16_LIMIT:-130} tune_bench resnet18-fp16 \
      resnet18 ${FP16_TRIALS:-64} 32 ${FP16_TEMPLATES:-conv2d_tensorcore,conv2d_wgmma,conv2d_winograd_tc,conv2d_winograd} $(( ${FP16_LIMIT:-130} - 45 )) ;;
    resnet18-fp16-nhwc) TUNE_ARGS="--precision fp16 --layout nhwc" phase resnet18-fp16-nhwc ${FP16_LIMIT:-130} tune_bench resnet18-fp16-nhwc \
      resnet18 ${FP16_TRIALS:-64} 32 conv2d_tensorcore,conv2d_wgmma $(( ${FP16_LIMIT:-130} - 45 )) ;;
    vgg16-fp16) TUNE_ARGS="--precision fp16" phase vgg16-fp16 ${FP16_LIMIT:-130} tune_bench vgg16-fp16 \
      vgg16 ${FP16_TRIALS:-64} 32 ${FP16_TEMPLATES:-conv2d_tensorcore,conv2d_wgmma,conv2d_winograd_tc,conv2d_winograd} $(( ${FP16_LIMIT:-130} - 45 )) ;;
    resnet50-fp16-b32) TUNE_ARGS="--precision fp16 --layout nhwc --batch 32" phase resnet50-fp16-b32 ${B32_LIMIT:-200} \
      tune_bench resnet50-fp16-b32 resnet50 ${FP16_TRIALS:-64} 32 conv2d_tensorcore,conv2d_wgmma $(( ${B32_LIMIT:-200} - 45 )) ;;
    bench-prev) phase bench-prev 60 bench_prev ;;
    interrupt) phase interrupt 45 interrupt_check ;;
    same-configs) phase same-configs ${SAME_CONFIGS_LIMIT:-60} same_configs ;;
    net-throughput) phase net-throughput 90 net_throughput ;;
    vgg16-fp32) phase vgg16-fp32 ${VGG_LIMIT:-170} tune_bench vgg16-fp32 vgg16 ${VGG_TRIALS:-96} 32 \
      conv2d_direct_splitk,conv2d_implicit_gemm,conv2d_winograd $(( ${VGG_LIMIT:-170} - 45 )) ;;
    mobilenet-fp32) phase mobilenet-fp32 ${MOBILENET_LIMIT:-150} tune_bench mobilenet-fp32 mobilenet_v2 \
      ${MOBILENET_TRIALS:-48} 32 conv2d_depthwise,conv2d_implicit_gemm $(( ${MOBILENET_LIMIT:-150} - 45 )) ;;
    resnet18-tf32) phase resnet18-tf32 ${TF32_LIMIT:-130} tune_bench resnet18-tf32 resnet18 64 32 \
      conv2d_implicit_gemm_tf32 $(( ${TF32_LIMIT:-130} - 45 )) --allow-tf32 ;;
    throughput) phase throughput 40 throughput ;;
    vgg-deep) phase vgg-deep ${VGG_DEEP_LIMIT:-150} vgg_deep ;;
    winograd) phase winograd ${WINOGRAD_LIMIT:-60} winograd ;;
    profile) phase profile ${PROFILE_LIMIT:-60} profile ;;
    seeds) phase seeds ${SEEDS_LIMIT:-120} seeds ;;
    race) phase race ${RACE_LIMIT:-240} race ;;
    lanes) phase lanes ${LANES_LIMIT:-200} lanes ;;
    sanitize) phase sanitize 90 sanitize ;;
    *) echo "gpu-run: unknown phase $name" ;;
  esac
done
echo "gpu-run: done in $(elapsed) s"
pack
