#!/usr/bin/env bash
# The measurement dataset from the command line, each command's exit code and output checked:
# collect (dry run, --limit, resume, refusals), dataset (an incomplete slice, a folder, --fidelity,
# --json --times), the recorded device for tune and measure (answers exactly as recorded, tasks and
# templates it has no slice of, charged time, a target that is not the recording's), gzip logs
# (read; never appended to; a cut-off one refused), scripts/dataset.py (filing by device and slice,
# refusing replays and, unless asked, sim records; nothing filed twice), and
# scripts/bench_tuners.py on the CI slice (the machinery, not the figures).
# Usage: dataset.sh CHAMELEON_EXE SOURCE_DIR
set -euo pipefail
exe=$1
src=$2
dir=$(mktemp -d)
trap 'rm -rf "$dir"' EXIT
slices=$src/tests/data/measurements/slices
ci=$src/tests/data/measurements/sim-h100/ci-resnet18-t4-gemm.jsonl.gz
net=$src/networks/resnet18.json

expect() { # exit code, regex the output must match, command...
  local want=$1 pattern=$2 rc=0
  shift 2
  "$@" >"$dir/out.txt" 2>&1 || rc=$?
  if [ "$rc" -ne "$want" ] || ! grep -qE -- "$pattern" "$dir/out.txt"; then
    cat "$dir/out.txt"
    echo "FAILED: exit $rc (wanted $want), output /$pattern/ wanted, of: $*"
    exit 1
  fi
}
records() { grep -c '^{' "$1"; }

# collect: count, measure part of it, resume, never twice.
expect 0 "256 configs, 256 that tuning measures on h100" \
  "$exe" collect "$slices/ci-resnet18-t4-gemm.json" --dry-run --device sim --target h100
expect 0 "12 of 256 configs recorded, incomplete \(--limit reached; the same command resumes\)" \
  "$exe" collect "$slices/ci-resnet18-t4-gemm.json" --device sim --target h100 --limit 12 --log "$dir/ci.jsonl"
expect 0 "20 of 256 configs recorded, incomplete" \
  "$exe" collect "$slices/ci-resnet18-t4-gemm.json" --device sim --target h100 --limit 8 --log "$dir/ci.jsonl"
[ "$(records "$dir/ci.jsonl")" -eq 20 ] || { echo "expected 20 records"; exit 1; }
unique_configs() {
  python3 -c 'import json,sys; print(len({json.dumps(json.loads(l)["config"]["entity"]) for l in open(sys.argv[1]) if l[0] == "{"}))' "$1"
}
[ "$(unique_configs "$dir/ci.jsonl")" -eq 20 ] || { echo "a config measured twice"; exit 1; }
[ "$(grep -c '^# chameleon-run .*"collect":.*"provenance":.*"compile_jobs"' "$dir/ci.jsonl")" -eq 2 ] ||
  { echo "each collection run writes its slice and provenance"; exit 1; }
expect 0 "ci-resnet18-t4-gemm .* 20/256 \(incomplete\)" "$exe" dataset "$dir/ci.jsonl"
expect 1 "holds no complete slice: .chameleon collect. completes one" \
  "$exe" tune "$net" --tasks 4 --device "recorded:$dir/ci.jsonl" --trials 8 --log "$dir/none.jsonl"
expect 1 "on a recorded device there is nothing to measure" \
  "$exe" collect "$slices/ci-resnet18-t4-gemm.json" --device "recorded:$ci"
printf '{"name": "bad", "template": "conv2d_implicit_gemm", "workload": %s, "knobs": {"tile_z": [1]}}\n' \
  "$(python3 -c 'import json,sys; print(json.dumps(json.load(open(sys.argv[1]))["workload"]))' "$slices/ci-resnet18-t4-gemm.json")" \
  >"$dir/bad.json"
expect 1 "slice 'bad'\): unknown knob 'tile_z' \(this space's knobs: tile_k, " "$exe" collect "$dir/bad.json" --dry-run --device sim

# The committed CI slice: complete, with the sim's fidelity to itself.
expect 0 "ci-resnet18-t4-gemm +conv2d_implicit_gemm .* sim:h100 +256/256 .*[0-9]+% of [0-9]+ +[0-9.]+%" \
  "$exe" dataset "$ci" --fidelity
"$exe" dataset "$ci" --json --times >"$dir/ds.json"
python3 - "$dir/ds.json" <<'PY'
import json, sys
d = json.load(open(sys.argv[1]))
s = d["slices"][0]
assert s["complete"] and len(s["times"]) == 256 and s["provenance"]["compile_jobs"] >= 1, s.keys()
assert min(t for t in s["times"] if t) == s["optimum"]["seconds"]
PY

# Tune on the recorded device: the task it has no slice of is skipped, every answer is the
# recorded one, records are logged on the charged clock.
expect 0 "charged as recorded: [0-9.]+ s" \
  "$exe" tune "$net" --tasks 1,4 --device "recorded:$ci" --trials 64 --log "$dir/rec.jsonl" --tuner autotvm
grep -q "task 1 .* skipped: no recorded slice of this workload" "$dir/out.txt" || { cat "$dir/out.txt"; exit 1; }
[ "$(records "$dir/rec.jsonl")" -eq 64 ] || { echo "expected 64 records"; exit 1; }
python3 - "$ci" "$dir/rec.jsonl" <<'PY'
import gzip, json, sys
truth = {}
for line in gzip.open(sys.argv[1], "rt"):
    if line.startswith("{"):
        r = json.loads(line)
        truth[json.dumps(r["config"]["entity"])] = r["chameleon"]["median"]
last = 0
for line in open(sys.argv[2]):
    if line.startswith("{"):
        r = json.loads(line)
        assert r["chameleon"]["median"] == truth[json.dumps(r["config"]["entity"])], "an answer that is not the recorded one"
        assert r["chameleon"]["device"] == "recorded:sim:h100" and r["chameleon"]["simulated"]
        elapsed = r["chameleon"]["settings"]["tune"]["elapsed_s"]
        assert elapsed >= last, "records out of the charged clock's order"
        last = elapsed
assert last > 0
PY
# --compile-aware: the recorded compile seconds train a compile-time model; the run header keeps
# the setting; a share outside 0..1 is refused.
expect 0 '"compile_aware": 0.3' "$exe" -q tune "$net" --tasks 4 --device "recorded:$ci" --trials 48 \
  --compile-aware 0.3 --log "$dir/compile-aware.jsonl" --json
grep -q '"compile_aware":0.3' "$dir/compile-aware.jsonl" || { echo "no compile_aware in the run header"; exit 1; }
expect 105 "--compile-aware: must be from 0 to 1, got 2" \
  "$exe" tune "$net" --tasks 4 --device "recorded:$ci" --compile-aware 2
# --goal-us: a task stops at the batch that finds a kernel that fast (here the slice's optimum).
optimum_us=$(python3 -c 'import json,sys; print(repr(json.load(open(sys.argv[1]))["slices"][0]["optimum"]["seconds"] * 1e6))' "$dir/ds.json")
expect 0 '"stop_reason": "goal reached"' "$exe" -q tune "$net" --tasks 4 --device "recorded:$ci" --trials 256 \
  --plan-size 16 --goal-us "$optimum_us" --log "$dir/goal.jsonl" --json
[ "$(records "$dir/goal.jsonl")" -lt 256 ] || { echo "the goal did not stop the task"; exit 1; }
expect 1 "--target v100 \(sm_70\) is not the GPU the recording .* was measured on \(sim:h100, sm_90\): leave --target out" \
  "$exe" tune "$net" --tasks 4 --device "recorded:$ci" --target v100 --log "$dir/v100.jsonl"
expect 0 "config [0-9]+ on recorded:sim:h100 \[simulated\]:" \
  "$exe" measure "$net" --task 4 --template conv2d_implicit_gemm --device "recorded:$ci" --config random
expect 1 "task 4 on recorded:sim:h100: no recorded slice of conv2d_direct_splitk" \
  "$exe" measure "$net" --task 4 --template conv2d_direct_splitk --device "recorded:$ci"
expect 105 "expected cuda, sim, auto or recorded:PATH" "$exe" measure "$net" --task 4 --device gpu

# Compressed logs: read like any log, never appended to, refused when cut off.
gzip -c "$dir/rec.jsonl" >"$dir/rec.jsonl.gz"
expect 0 "report in $dir/rep" "$exe" report "$dir/rec.jsonl.gz" --out "$dir/rep"
expect 1 "is compressed and cannot be appended to: tune into another --log" \
  "$exe" tune "$net" --tasks 4 --device sim --trials 1 --log "$dir/rec.jsonl.gz"
head -c 2000 "$dir/rec.jsonl.gz" >"$dir/cut.jsonl.gz"
expect 1 "damaged or cut-off gzip data" "$exe" report "$dir/cut.jsonl.gz" --out "$dir/rep2"

# Filing into a dataset: replays and (unless asked) sim records are refused; nothing twice.
ds=$dir/ds
expect 0 "left out 64 recorded records" python3 "$src/scripts/dataset.py" --to "$ds" add "$dir/rec.jsonl"
expect 0 "left out 20 sim records" python3 "$src/scripts/dataset.py" --to "$ds" add "$dir/ci.jsonl"
expect 0 "20 new records -> .*/sim-h100/ci-resnet18-t4-gemm.jsonl.gz" \
  python3 "$src/scripts/dataset.py" --to "$ds" add "$dir/ci.jsonl" --sim
expect 0 "dataset: 0 records added" python3 "$src/scripts/dataset.py" --to "$ds" add "$dir/ci.jsonl" --sim
expect 0 "ci-resnet18-t4-gemm .* 20/256 \(incomplete\)" "$exe" dataset "$ds/sim-h100"
expect 0 "^nvidia-h100-80gb-hbm3$" python3 "$src/scripts/dataset.py" folder "NVIDIA H100 80GB HBM3"

# A device's dataset folder as --history (a trained start), with the paper's tuner and the
# search flags; a folder without logs is named.
mkdir -p "$dir/empty-history"
expect 0 "history .*ci-resnet18-t4-gemm.jsonl.gz: 256 records" \
  "$exe" tune "$net" --tasks 4 --device sim --sim-estimate --trials 24 --tuner chameleon-paper --ppo-measured \
  --kmeans-knobs 0 --kmeans-epsilon 0.1 --kmeans-pick nearest --transfer-rows 64 \
  --history "$(dirname "$ci")" --history "$dir/empty-history" --log "$dir/paper.jsonl" --progress none
grep -q "history $dir/empty-history: a folder without logs" "$dir/out.txt" || { cat "$dir/out.txt"; exit 1; }
grep -q '"pick":"nearest"' "$dir/paper.jsonl" || { echo "the run header has not the paper's pick"; exit 1; }
grep -q '"transfer_rows":64' "$dir/paper.jsonl" || { echo "the run header has not --transfer-rows"; exit 1; }
grep -q '"transfer_trust":false' "$dir/paper.jsonl" || { echo "chameleon-paper checks transfer"; exit 1; }
grep -q '"batch":64' "$dir/paper.jsonl" || { echo "chameleon-paper's plan size is not 64"; exit 1; }
expect 105 "--kmeans-pick: median not in \{nearest,best\}" "$exe" tune "$net" --device sim --kmeans-pick median
# The trained start checked against the task's own records: the trust in the iteration comments.
expect 0 "tuned .* 1 task" "$exe" tune "$net" --tasks 4 --device sim --sim-estimate --trials 48 \
  --transfer-trust --history "$(dirname "$ci")" --log "$dir/trust.jsonl" --progress none
grep -q '"transfer_trust":true' "$dir/trust.jsonl" || { echo "the run header has not --transfer-trust"; exit 1; }
grep -qE '"transfer_trust":(0|1|0\.[0-9]+)[,}]' "$dir/trust.jsonl" || { grep iteration "$dir/trust.jsonl"; exit 1; }
expect 0 "tuned .* 1 task" "$exe" tune "$net" --tasks 4 --device sim --sim-estimate --trials 8 \
  --no-transfer-trust --sim-feature --log "$dir/unchecked.jsonl" --progress none
grep -q '"transfer_trust":false' "$dir/unchecked.jsonl" || { echo "--no-transfer-trust not in the header"; exit 1; }
grep -q '"sim_feature":true' "$dir/unchecked.jsonl" || { echo "--sim-feature not in the header"; exit 1; }

# The tuner benchmark on the CI slice: the machinery, not the figures.
expect 0 "### ci-resnet18-t4-gemm: conv2d_implicit_gemm, 256 configs" \
  python3 "$src/scripts/bench_tuners.py" --exe "$exe" --recorded "$ci" --tuners autotvm,random --seeds 2 \
  --trials 40 --jobs 2 --out "$dir/bt"
grep -qE "^\| autotvm \| -?[0-9.]+ \(±[0-9.]+\) \| [0-9.]+% \|" "$dir/bt/report.md" || { cat "$dir/bt/report.md"; exit 1; }
grep -qE "^\| random \| -?[0-9.]+ " "$dir/bt/report.md" || { cat "$dir/bt/report.md"; exit 1; }
for f in ci-resnet18-t4-gemm_measurements.svg ci-resnet18-t4-gemm_time.svg; do
  grep -q "<polyline" "$dir/bt/$f" || { echo "no curve in $f"; exit 1; }
done
# A variant: a tuner with other settings, benched under its own name; a spec without one is refused.
expect 0 "### ci-resnet18-t4-gemm" \
  python3 "$src/scripts/bench_tuners.py" --exe "$exe" --recorded "$ci" --seeds 2 --trials 24 --jobs 2 \
  --variant 'near=chameleon --kmeans-pick nearest --plan-size 8' --out "$dir/bv"
grep -qE "^\| near \| -?[0-9.]+ " "$dir/bv/report.md" || { cat "$dir/bv/report.md"; exit 1; }
if grep -qE "^\| (autotvm|chameleon) \|" "$dir/bv/report.md"; then cat "$dir/bv/report.md"; exit 1; fi
expect 1 "--variant wants 'NAME=TUNER" python3 "$src/scripts/bench_tuners.py" --exe "$exe" --recorded "$ci" \
  --variant 'nameless' --out "$dir/bw"
echo '{"charts": [{"file": "../x.svg", "series": []}]}' >"$dir/badchart.json"
expect 1 "a chart's file is a name ending in .svg" "$exe" report --charts "$dir/badchart.json" --out "$dir/c"
expect 1 "report takes logs or --charts, not both" "$exe" report "$dir/rec.jsonl" --charts "$dir/badchart.json"
echo "dataset: all checks passed"
