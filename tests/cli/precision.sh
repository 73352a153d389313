#!/usr/bin/env bash
# Types and fused epilogues from the command line to the kernels folder, on the sim: `tasks`
# shows fp16 tasks with their fused chains (fusion on by default for fp16, off for fp32, either
# way by flag or by the network file); a fp16 tune of three ResNet-18 tasks at batch 8 logs
# float16 records and names its log after the precision; status reads them; replay writes
# kernels whose manifest, kernels.hpp and sources carry the type and epilogue; bench times them;
# kernels.hpp compiles against cuda.h; an NHWC network's tune, records, replay and bench carry
# its layout; scripts/torch_baseline.py plans PyTorch's calls for them
# (fused epilogue, asymmetric padding) and bench --baseline shows a baseline file beside ours; a
# bf16 tune on a Pascal target says why nothing runs; wgmma (an H100's) is not named for an A100.
# Usage: precision.sh CHAMELEON_EXE NETWORKS_DIR SCRIPTS_DIR
set -euo pipefail
exe=$1
net=$2/resnet18.json
scripts=$3
dir=$(mktemp -d)
trap 'rm -rf "$dir"' EXIT
cd "$dir"

fail() { echo "precision: $*"; exit 1; }
expect() { # FILE REGEX
  grep -Eq -- "$2" "$1" || { cat "$1"; fail "no line of $1 matches '$2'"; }
}

"$exe" tasks "$net" --precision fp16 >tasks16.txt
expect tasks16.txt "20 conv2d layers, 18 unique tasks, .* fp16, epilogues fused"
expect tasks16.txt "^ +3 +N1 C64 H56 W56 K64 R3 S3 s1 p1 d1 fp16 \+bias\+add\+relu .*conv2d_tensorcore"
# wgmma is an H100's (sm_90a): listed for h100 tasks, "not for" an A100.
"$exe" tasks "$net" --precision fp16 --target h100 --json >tasks_h100.json
"$exe" tasks "$net" --precision fp16 --target a100 --json >tasks_a100.json
"$exe" tasks "$net" --precision fp16 --target a100 >tasks_a100.txt
expect tasks_a100.txt "^not for a100: conv2d_wgmma \(sm_90 only\)$"
python3 - <<'PY'
import json
names = lambda t: [x["name"] for x in t["templates"]]
h, a = json.load(open("tasks_h100.json"))["tasks"][2], json.load(open("tasks_a100.json"))["tasks"][2]
assert names(h) == ["conv2d_tensorcore", "conv2d_wgmma", "conv2d_winograd_tc", "conv2d_winograd"] and "needs_newer_arch" not in h, h
assert names(a) == ["conv2d_tensorcore", "conv2d_winograd_tc", "conv2d_winograd"] and a["needs_newer_arch"] == ["conv2d_wgmma (sm_90 only)"], a
PY
"$exe" tasks "$net" --precision bf16 --no-fuse >tasks_bf16.txt
expect tasks_bf16.txt "11 unique tasks, .* bf16$"
"$exe" tasks "$net" --fuse --json >tasks_fused32.json
python3 - <<'PY'
import json
t = json.load(open("tasks_fused32.json"))
assert t["precision"] == "fp32" and t["fused"], t["precision"]
first = t["tasks"][0]
assert first["workload"]["epilogue"] == {"bias": True, "residual": False, "activation": "relu"}, first
assert first["fused"] == [["conv1_bn", "conv1_relu"]], first["fused"]
assert "dtype" not in first["workload"]
assert any(tt["name"] == "conv2d_winograd" for x in t["tasks"] for tt in x["templates"]), "fp32 fused tasks keep their templates"
PY
# The network file's own setting.
python3 - "$net" <<'PY'
import json, sys
n = json.load(open(sys.argv[1]))
n["precision"] = "bf16"
n["fuse"] = False
json.dump(n, open("net_bf16.json", "w"))
PY
"$exe" tasks net_bf16.json >tasks_file.txt
expect tasks_file.txt "11 unique tasks, .* bf16$"

"$exe" tune "$net" --precision fp16 --batch 8 --device sim --target h100 --tasks 1,3,6 --trials 16 >tune.txt 2>&1 ||
  { cat tune.txt; fail "tune failed"; }
log=resnet18-fp16-h100-sim.jsonl
[ -s "$log" ] || { cat tune.txt; fail "no $log"; }
expect tune.txt "N8 C64 H56 W56 K64 R3 S3 s1 p1 d1 fp16 \+bias\+add\+relu .*conv2d_(tensorcore|wgmma|winograd_tc|winograd)"
python3 - "$log" <<'PY'
import json, sys
recs = [json.loads(l) for l in open(sys.argv[1]) if l.startswith("{")]
assert len(recs) == 48, len(recs)
for r in recs:
    w = r["chameleon"]["workload"]
    assert w["dtype"] == "float16" and w["N"] == 8, w
    assert r["input"][2][0][2] == "float16", r["input"][2]
    # The tensor cores through mma.sync and, on an H100, wgmma; task 3 (3x3, stride 1) shares its
    # trials with Winograd too, on the tensor cores and in float32.
    want = {"conv2d_tensorcore", "conv2d_wgmma"} | ({"conv2d_winograd_tc", "conv2d_winograd"} if r["chameleon"]["task"] == 3 else set())
    assert r["chameleon"]["template"] in want, (r["chameleon"]["task"], r["chameleon"]["template"])
    assert r["chameleon"]["arch"] == "sm_90", r["chameleon"]["arch"]  # the target's, for wgmma too
assert {r["chameleon"]["template"] for r in recs if r["chameleon"]["task"] == 3} == {"conv2d_tensorcore", "conv2d_wgmma", "conv2d_winograd_tc", "conv2d_winograd"}
assert {r["chameleon"]["template"] for r in recs if r["chameleon"]["task"] == 6} == {"conv2d_tensorcore", "conv2d_wgmma"}
PY
"$exe" status "$net" --precision fp16 --batch 8 --log "$log" --device sim --target h100 >status.txt || true
expect status.txt "^ +3 +N8 C64 H56 W56 K64 R3 S3 s1 p1 d1 fp16 \+bias\+add\+relu +up to date"

"$exe" replay "$log" --out kernels >replay.txt 2>&1 || { cat replay.txt; fail "replay failed"; }
expect kernels/kernels.hpp '"float16", true, true, "relu"'
expect kernels/task_03.cu "#define DTYPE 1"
expect kernels/task_03.cu "#define EPI_RESIDUAL 1"
python3 - <<'PY'
import json
m = json.load(open("kernels/manifest.json"))
assert "bias float32" in m["layout"], m["layout"]
ks = {k["name"]: k for k in m["kernels"]}
assert ks["task_03"]["workload"]["epilogue"]["residual"] is True
assert ks["task_06"]["workload"]["dtype"] == "float16"
# wgmma kernels are compiled for sm_90a (cubin and PTX), the others for the target's sm_90.
assert m["arch"] == "sm_90", m["arch"]
for k in m["kernels"]:
    specific = k["template"] == "conv2d_wgmma"
    assert k["arch"] == ("sm_90a" if specific else "sm_90"), (k["name"], k["template"], k["arch"])
    ptx = open("kernels/" + k["files"]["ptx"]).read()
    assert (".target sm_90a" in ptx) == specific, k["name"]
PY
"$exe" bench kernels --device sim >bench.txt 2>&1 || { cat bench.txt; fail "bench failed"; }
# The sim times each kernel as the tune did (wgmma kernels keyed by their sm_90a compile too).
"$exe" bench kernels --device sim --json >bench.json 2>&1 || { cat bench.json; fail "bench --json failed"; }
python3 - <<'PY'
import json
m, b = json.load(open("kernels/manifest.json")), json.load(open("bench.json"))
for k, row in zip(m["kernels"], b["kernels"]):
    got, logged = row["ours"]["median"], k["measured"]["seconds"]
    assert abs(got - logged) <= 1e-6 * logged, (k["name"], k["template"], got, logged)
PY
expect bench.txt "task_03 .*fp16 \+bias\+add\+relu"
expect bench.txt "% peak is of the FP32 peak"
cuda_include=${CUDA_HOME:-/usr/local/cuda}/include
if [ -e "$cuda_include/cuda.h" ]; then
  printf '#include "kernels/kernels.hpp"\nint main() { return chameleon_kernels::kKernelCount == 3 ? 0 : 1; }\n' >use.cpp
  c++ -std=c++17 -fsyntax-only -I"$cuda_include" -I. use.cpp || fail "kernels.hpp does not compile"
fi

# NHWC (channels last) from the network file: records, manifest, kernels.hpp and bench carry it.
python3 - "$net" <<'PY'
import json, sys
n = json.load(open(sys.argv[1]))
n.update(precision="fp16", layout="nhwc")
json.dump(n, open("net_nhwc.json", "w"))
PY
"$exe" tune net_nhwc.json --device sim --target h100 --tasks 2,6 --trials 8 --log nhwc.jsonl >tune_nhwc.txt 2>&1 ||
  { cat tune_nhwc.txt; fail "NHWC tune failed"; }
expect tune_nhwc.txt "N1 C64 H56 W56 K64 R3 S3 s1 p1 d1 fp16 nhwc \+bias\+relu .*conv2d_(tensorcore|wgmma)"
python3 - <<'PY'
import json
recs = [json.loads(l) for l in open("nhwc.jsonl") if l.startswith("{")]
assert len(recs) == 16, len(recs)
for r in recs:
    assert r["chameleon"]["workload"]["layout"] == "nhwc", r["chameleon"]["workload"]
    args = r["input"][2]
    assert args[5] == "NHWC" and args[0][1][3] == r["chameleon"]["workload"]["C"], args
PY
"$exe" replay nhwc.jsonl --out kernels_nhwc >replay_nhwc.txt 2>&1 || { cat replay_nhwc.txt; fail "NHWC replay failed"; }
expect kernels_nhwc/kernels.hpp '"float16", true, false, "relu", "nhwc"'
expect kernels_nhwc/task_02.cu "#define LAYOUT_NHWC 1"
"$exe" bench kernels_nhwc --device sim >bench_nhwc.txt 2>&1 || { cat bench_nhwc.txt; fail "NHWC bench failed"; }
expect bench_nhwc.txt "task_02 .*fp16 nhwc \+bias\+relu"
echo '{"name": "x", "layout": "chwn", "layers": []}' >bad_layout.json
"$exe" tasks bad_layout.json >bad_layout.txt 2>&1 && fail "a layout chwn was taken"
expect bad_layout.txt "'layout' is nchw or nhwc, got 'chwn'"

# What a PyTorch user runs for the same kernels (scripts/torch_baseline.py), and bench beside it.
python3 "$scripts/torch_baseline.py" kernels --plan >plan.txt 2>&1 || { cat plan.txt; fail "baseline plan failed"; }
expect plan.txt "^task_03 \(x2\) float16: y = F.conv2d\(x \[8,64,56,56\], w \[64,64,3,3\], bias, stride=\(1, 1\), padding=\(1, 1\), dilation=\(1, 1\), groups=1\); y.add_\(residual\); F.relu\(y, inplace=True\)$"
mkdir asym
python3 - <<'PY'
import json
m = json.load(open("kernels/manifest.json"))
m["kernels"][0]["workload"]["padding"] = [0, 1, 2, 3]
m["kernels"][0]["workload"]["epilogue"]["activation"] = "hardswish"
m["kernels"][1]["workload"]["dtype"] = "float8"
json.dump(m, open("asym/manifest.json", "w"))
PY
python3 "$scripts/torch_baseline.py" asym --plan >asym.txt 2>&1 || { cat asym.txt; fail "baseline plan failed"; }
expect asym.txt "^task_01 .*x = F.pad\(x, \[1, 3, 0, 2\]\); y = F.conv2d\(.*padding=\(0, 0\).*F.hardswish\(y, inplace=True\)$"
expect asym.txt "task_03: skipped, its workload cannot be read \(unknown dtype 'float8'\)"
if ! python3 -c "import torch" 2>/dev/null; then
  python3 "$scripts/torch_baseline.py" kernels >notorch.txt 2>&1 && fail "a baseline without PyTorch succeeded"
  expect notorch.txt "needs PyTorch with CUDA .*--plan prints the calls without it"
fi
python3 "$scripts/torch_baseline.py" nowhere --plan >nowhere.txt 2>&1 && fail "a baseline of no folder succeeded"
expect nowhere.txt "nowhere/manifest.json: no manifest"
python3 - <<'PY'
import json
m = json.load(open("kernels/manifest.json"))
ks = {k["name"]: k for k in m["kernels"]}
entry = lambda name, **kw: dict(name=name, workload=ks[name]["workload"], **kw)
json.dump({"schema": "chameleon-baseline/1", "baseline": "PyTorch", "description": "PyTorch (test)",
           "device": "NVIDIA H100 80GB HBM3", "date": "2026-12-07T00:00:00Z", "allow_tf32": False,
           "kernels": [entry("task_01", median_s=2e-6), entry("task_03", median_s=1e-3),
                       entry("task_06", error="channels_last: out of memory"),
                       {"name": "x", "workload": {"N": 1}}]}, open("baseline.json", "w"))
PY
"$exe" bench kernels --device sim --baseline baseline.json >bench_bl.txt 2>&1 || { cat bench_bl.txt; fail "bench --baseline failed"; }
expect bench_bl.txt "baseline 'baseline.json': an entry left out: bad workload"
expect bench_bl.txt "timed on NVIDIA H100 80GB HBM3, ours on the sim model: the columns are not comparable"
expect bench_bl.txt "^kernel .* ours us +PyTorch us +GFLOPS"
expect bench_bl.txt "^task_01 .* 2\.00 "
expect bench_bl.txt "^task_06 .* n/a "
expect bench_bl.txt "PyTorch us: PyTorch \(test\), on NVIDIA H100 80GB HBM3 at 2026-12-07T00:00:00Z"
expect bench_bl.txt "cuDNN not run, PyTorch incomplete"
"$exe" bench kernels --device sim --baseline baseline.json --json >bench_bl.json 2>/dev/null
python3 - <<'PY'
import json
b = json.load(open("bench_bl.json"))
rows = {r["kernel"]: r for r in b["kernels"]}
assert rows["task_01"]["fastest_baseline"] == "PyTorch" and rows["task_01"]["fastest_baseline_seconds"] == 2e-6
assert rows["task_06"]["baselines"][0] == {"name": "PyTorch", "seconds": None, "error": "channels_last: out of memory"}
assert b["baselines"][0]["complete"] is False and abs(b["baselines"][0]["total_seconds"] - (2e-6 + 2 * 1e-3)) < 1e-12
assert b["fastest_baseline_complete"] is False
PY
echo '{"schema": "chameleon-baseline/1", "kernels": []}' >empty.json
"$exe" bench kernels --device sim --baseline empty.json >bench_empty.txt 2>&1 && fail "bench of an empty baseline succeeded"
expect bench_empty.txt "baseline 'empty.json': no entry could be read"
echo '{"kernels": []}' >other.json
"$exe" bench kernels --device sim --baseline other.json >bench_other.txt 2>&1 && fail "bench of a non-baseline succeeded"
expect bench_other.txt "baseline 'other.json': not a chameleon-baseline/1 file \(scripts/torch_baseline.py writes one\)"

# Tensor cores need sm_80: a bf16 tune for a Pascal target says so and skips the task.
"$exe" tune "$net" --precision bf16 --device sim --target titanxp --tasks 1 --trials 4 >pascal.txt 2>&1 || true
expect pascal.txt "conv2d_tensorcore: needs sm_80 or newer \(the target is sm_61\)"
expect pascal.txt "conv2d_tensorcore needs sm_80 or newer; titanxp is sm_61: it is not tuned"
grep -q "conv2d_wgmma" pascal.txt && grep "conv2d_wgmma" pascal.txt | grep -qv "runs on sm_90 only" &&
  fail "a Pascal tune spoke of wgmma other than to say it runs on sm_90 only"
# wgmma is sm_90a's: named for an A100 it is said not to run there.
"$exe" tune "$net" --precision fp16 --device sim --target a100 --tasks 1 --trials 4 \
  --templates conv2d_tensorcore,conv2d_wgmma --log a100.jsonl >a100.txt 2>&1 || { cat a100.txt; fail "an A100 fp16 tune failed"; }
expect a100.txt "conv2d_wgmma runs on sm_90 only; a100 is sm_80: it is not tuned"
# Its 3x3 stride-1 tasks run there on Winograd (bf16 storage, float32 arithmetic).
"$exe" tune "$net" --precision bf16 --device sim --sim-estimate --target titanxp --tasks 3 --trials 4 \
  --log pascal3.jsonl >pascal3.txt 2>&1 || { cat pascal3.txt; fail "a bf16 Winograd tune for Pascal failed"; }
python3 - <<'PY'
import json
recs = [json.loads(l) for l in open("pascal3.jsonl") if l.startswith("{")]
assert len(recs) == 4 and {r["chameleon"]["template"] for r in recs} == {"conv2d_winograd"}, recs
assert all(r["chameleon"]["workload"]["dtype"] == "bfloat16" for r in recs)
PY
# A float32 tune for Pascal says nothing of the tensor cores, which take no float32 task.
"$exe" tune "$net" --device sim --sim-estimate --target titanxp --tasks 2 --trials 2 --log pascal32.jsonl \
  >pascal32.txt 2>&1 || { cat pascal32.txt; fail "a float32 tune for Pascal failed"; }
if grep -q "conv2d_tensorcore needs sm_80" pascal32.txt; then cat pascal32.txt; fail "a float32 tune warned of the tensor cores"; fi
echo "precision: fp16/bf16 tasks and fused epilogues from tasks to bench: ok"
