#!/usr/bin/env bash
# From a sim tune to deployable kernels and a report, on the CPU: replay emits compiled sources,
# a manifest with the documented fields and a header that compiles; a second replay is byte for
# byte the same; report writes valid SVG figures and a summary.
# Usage: replay_report.sh CHAMELEON_EXE NETWORK_JSON CXX CUDA_INCLUDE_DIR
set -euo pipefail
exe=$1 net=$2 cxx=$3 cuda_include=$4
dir=$(mktemp -d)
trap 'rm -rf "$dir"' EXIT
common=(-q tune "$net" --device sim --sim-estimate --tasks 3-5 --trials 24 --plan-size 8 --progress none)
"$exe" "${common[@]}" --tuner chameleon --log "$dir/chameleon.jsonl" >/dev/null
"$exe" "${common[@]}" --tuner autotvm --log "$dir/autotvm.jsonl" >/dev/null

"$exe" replay "$dir/chameleon.jsonl" --out "$dir/a" >/dev/null
"$exe" replay "$dir/chameleon.jsonl" --out "$dir/b" >/dev/null
diff -r "$dir/a" "$dir/b" || { echo "replay is not reproducible"; exit 1; }
# A damaged compile cache (one byte of every cubin changed) is compiled again, with a warning,
# and never emitted. (The recompiled cubins are not compared with the first ones: NVRTC 13.0 now
# and then writes another cubin, and more often other PTX, for the same source, docs/deploy.md.
# PTX entries are left alone.)
export CHAMELEON_CACHE_DIR="$dir/cache"
"$exe" replay "$dir/chameleon.jsonl" --out "$dir/c" >/dev/null 2>"$dir/cold.txt"
# From a cold cache, the kernels are compiled side by side in compile workers first.
grep -q "compiling 6 kernels the compile cache lacks (cubins and PTX), [0-9]* at a time" "$dir/cold.txt" ||
  { cat "$dir/cold.txt"; echo "replay did not compile ahead"; exit 1; }
damaged=0
for f in $(find "$dir/cache" -name '*.bin'); do
  # An entry is a line of JSON, then the cubin (an ELF file) or the PTX.
  [ "$(tail -n +2 "$f" | head -c 4 | tail -c 3)" = ELF ] || continue
  printf 'Z' | dd of="$f" bs=1 seek=$(( $(stat -c %s "$f") - 100 )) conv=notrunc status=none
  damaged=$((damaged + 1))
  tail -n +2 "$f" > "$dir/damaged-$damaged.cubin"
done
[ "$damaged" -eq 3 ] || { echo "expected 3 cubins in the cache, damaged $damaged"; exit 1; }
"$exe" replay "$dir/chameleon.jsonl" --out "$dir/d" >/dev/null 2>"$dir/damaged.txt"
grep -q "compile cache: damaged entry .* ignored, the kernel is compiled again" "$dir/damaged.txt" ||
  { cat "$dir/damaged.txt"; echo "no warning about the damaged cache"; exit 1; }
grep -q "compiling 3 kernels the compile cache lacks" "$dir/damaged.txt" ||
  { cat "$dir/damaged.txt"; echo "the damaged kernels were not compiled ahead"; exit 1; }
diff -r -x '*.cubin' -x '*.ptx' -x manifest.json "$dir/c" "$dir/d" || { echo "replay from a damaged cache wrote other sources"; exit 1; }
for bad in "$dir"/damaged-*.cubin; do
  for f in "$dir"/d/*.cubin; do
    ! cmp -s "$bad" "$f" || { echo "replay emitted $(basename "$f") from a damaged cache"; exit 1; }
  done
done
python3 - "$dir/d" <<'PY'
import hashlib, json, pathlib, sys
d = pathlib.Path(sys.argv[1])
for k in json.load(open(d / "manifest.json"))["kernels"]:
    for kind in ("cubin", "ptx", "source"):
        got = hashlib.sha256((d / k["files"][kind]).read_bytes()).hexdigest()
        assert got == k["sha256"][kind], (k["name"], kind)
print("replay from a damaged cache: recompiled, manifest checksums match the files")
PY
unset CHAMELEON_CACHE_DIR
for t in 03 04 05; do
  for ext in cu cubin ptx; do
    [ -s "$dir/a/task_$t.$ext" ] || { echo "missing task_$t.$ext"; exit 1; }
  done
done
grep -q '^\.version' "$dir/a/task_03.ptx" || { echo "task_03.ptx is not PTX"; exit 1; }
python3 - "$dir/a/manifest.json" <<'PY'
import json, sys
m = json.load(open(sys.argv[1]))
assert m["schema"] == "chameleon-manifest/1", m["schema"]
for key in ["log", "network", "device", "simulated", "target", "arch", "nvrtc", "kernels", "missing"]:
    assert key in m, key
assert m["simulated"] is True
assert len(m["kernels"]) == 3
for k in m["kernels"]:
    for key in ["name", "task", "count", "workload", "config", "entry", "grid", "block", "dynamic_smem",
                "resources", "measured", "record", "files", "template", "template_fingerprint", "arch",
                "zero_output", "workspace_splits", "reduce_entry", "reduce_grid", "reduce_block", "tf32",
                "sha256"]:
        assert key in k, key
    assert sorted(k["sha256"]) == ["cubin", "ptx", "source"], k["sha256"]
    assert k["resources"]["registers"] > 0
    assert k["record"]["line"] > 0
print("manifest ok")
PY
"$cxx" -std=c++17 -fsyntax-only -I"$cuda_include" -x c++ "$dir/a/kernels.hpp"

"$exe" report "$dir/chameleon.jsonl" "$dir/autotvm.jsonl" --out "$dir/report" >/dev/null
python3 - "$dir/report" <<'PY'
import sys, pathlib, xml.etree.ElementTree as ET
d = pathlib.Path(sys.argv[1])
svgs = sorted(d.glob("*.svg"))
assert len(svgs) == 1 + 2 * 3, [s.name for s in svgs]
for s in svgs:
    root = ET.parse(s).getroot()
    assert root.tag.endswith("svg"), s
    assert len(root.findall("{http://www.w3.org/2000/svg}polyline")) == 2, s  # both logs
md = (d / "report.md").read_text()
assert "chameleon (chameleon)" in md and "autotvm (autotvm)" in md
# The best config's template, and each template's share of a task tuned over several.
assert "| GFLOPS | template | config |" in md, md
rows = [l.split(" | ") for l in md.splitlines() if l.startswith("| 3 | conv2d_")]
assert {r[1] for r in rows} >= {"conv2d_direct_splitk", "conv2d_implicit_gemm"}, md
assert any(r[-1] == "1.00x |" for r in rows), rows
assert "Tasks won: conv2d_" in md, md
# Why each task stopped, from the tuner's task-end lines.
stops = [l.split(" | ")[-1] for l in md.splitlines() if l.startswith("| 3 | N1")]
assert stops == ["trial budget reached |"] * 2, stops
print("report ok:", len(svgs), "figures")
PY
# One log may hold tasks of several networks (their indices repeat): the report names each
# figure after its network, and no figure overwrites another.
cat > "$dir/tiny.json" <<'JSON'
{"name": "tiny", "layers": [
  {"name": "a", "op": "conv2d", "input_shape": [1, 4, 9, 9], "out_channels": 8, "kernel": 3},
  {"name": "b", "op": "conv2d", "input_shape": [1, 6, 9, 9], "out_channels": 8, "kernel": 3},
  {"name": "c", "op": "conv2d", "input_shape": [1, 8, 9, 9], "out_channels": 8, "kernel": 3}]}
JSON
cp "$dir/chameleon.jsonl" "$dir/two.jsonl"
"$exe" -q tune "$dir/tiny.json" --tasks 3 --device sim --sim-estimate --trials 8 --plan-size 8 --progress none --log "$dir/two.jsonl" >/dev/null
"$exe" report "$dir/two.jsonl" --out "$dir/two" >/dev/null
python3 - "$dir/two" "$(basename "$net" .json)" <<'PY'
import sys, pathlib
d, net = pathlib.Path(sys.argv[1]), sys.argv[2]
names = sorted(s.name for s in d.glob("*.svg"))
want = ["overview.svg"] + ["%s_task_03_%s.svg" % (n, k) for n in ("tiny", net) for k in ("time", "trials")]
assert names == sorted(want + ["task_0%d_%s.svg" % (t, k) for t in (4, 5) for k in ("time", "trials")]), names
md = (d / "report.md").read_text()
assert "| tiny 3 | N1 C8 H9 W9 K8 R3 S3" in md and "| %s 3 |" % net in md, md
print("report of two networks ok")
PY

# A damaged record, the fastest of its task, whose config does not fit it: replay leaves it out
# with a warning and emits the next fastest, not nothing.
python3 - "$dir/chameleon.jsonl" "$dir/damaged.jsonl" <<'PY'
import json, sys
lines = open(sys.argv[1]).read().splitlines()
recs = [(i, json.loads(l)) for i, l in enumerate(lines) if l.startswith("{")]
i, r = min((x for x in recs if x[1]["chameleon"]["task"] == 3 and x[1]["result"][1] == 0), key=lambda x: x[1]["chameleon"]["median"])
knob = r["config"]["entity"][0]
knob[2] = [999] * len(knob[2]) if isinstance(knob[2], list) else 999
r["chameleon"]["median"] = 1e-9
lines[i] = json.dumps(r)
open(sys.argv[2], "w").write("\n".join(lines) + "\n")
PY
"$exe" replay "$dir/damaged.jsonl" --out "$dir/damaged-replay" > "$dir/damaged-replay.txt" 2>&1
grep -q "task 3 (.*): a record of conv2d_.* left out: its config does not fit the task" "$dir/damaged-replay.txt" ||
  { cat "$dir/damaged-replay.txt"; echo "damaged record not reported"; exit 1; }
[ -s "$dir/damaged-replay/task_03.cubin" ] || { echo "no task_03 kernel after a damaged record"; exit 1; }

# bench --device sim re-times a kernels folder without a GPU: a tune that compiled gets back its
# own times (same kernel, same key), and a damaged folder loses only the damaged kernels.
"$exe" -q tune "$net" --device sim --tasks 5,8,11 --trials 8 --plan-size 8 --progress none --log "$dir/real.jsonl" >/dev/null
"$exe" replay "$dir/real.jsonl" --out "$dir/real" >/dev/null
"$exe" bench "$dir/real" --device sim --json > "$dir/bench.json"
python3 - "$dir/real/manifest.json" "$dir/bench.json" <<'PY'
import json, sys
m, b = json.load(open(sys.argv[1])), json.load(open(sys.argv[2]))
assert b["simulated"] is True and b["failed"] == 0 and b["cudnn_complete"] is False, b
for k, row in zip(m["kernels"], b["kernels"]):
    assert row["template"] == k["template"] and row["cudnn"] is None, row
    got, logged = row["ours"]["median"], k["measured"]["seconds"]
    assert abs(got - logged) <= 1e-6 * logged, (k["name"], got, logged)
print("bench on the sim ok")
PY
# GFLOPS count the direct convolution's arithmetic: the table says so when a Winograd kernel is in
# it, and only then.
note="GFLOPS and % peak count the direct convolution's arithmetic"
"$exe" bench "$dir/real" --device sim > "$dir/real.txt"
if grep -q "$note" "$dir/real.txt"; then cat "$dir/real.txt"; echo "a note about Winograd without a Winograd kernel"; exit 1; fi
"$exe" -q tune "$net" --device sim --sim-estimate --tasks 4 --templates conv2d_winograd --trials 4 --plan-size 4 \
  --progress none --log "$dir/wino.jsonl" >/dev/null
"$exe" replay "$dir/wino.jsonl" --out "$dir/wino" >/dev/null
"$exe" bench "$dir/wino" --device sim > "$dir/wino.txt"
grep -q "$note (2\*N\*K\*C\*R\*S\*P\*Q/groups), as for cuDNN; conv2d_winograd computes the same outputs with 2.25x (F(2x2)) or 4x (F(4x4)) fewer multiply-adds" "$dir/wino.txt" ||
  { cat "$dir/wino.txt"; echo "no note about Winograd's arithmetic"; exit 1; }
# ... and the rate of the products the kernel computes (56x56: whole tiles, 2.25x or 4x fewer).
grep -Eq "^GFLOPS of the products they compute \(partial tiles included, the transforms' additions not\): task_04 [0-9]+ \((2\.25|4\.00)x fewer\)$" "$dir/wino.txt" ||
  { cat "$dir/wino.txt"; echo "no rate of Winograd's own products"; exit 1; }
"$exe" bench "$dir/wino" --device sim --json > "$dir/wino.json"
python3 - "$dir/wino.json" "$dir/bench.json" <<'PY'
import json, sys
w, real = json.load(open(sys.argv[1])), json.load(open(sys.argv[2]))
row = w["kernels"][0]
assert row["flops"] in (2.25 * row["arithmetic_flops"], 4 * row["arithmetic_flops"]), row
assert all(r["arithmetic_flops"] == r["flops"] for r in real["kernels"] if r["template"] != "conv2d_winograd")
PY
cp -r "$dir/real" "$dir/damaged"
cp -r "$dir/real" "$dir/flipped"
rm "$dir/damaged/task_05.cubin"
printf 'Z' | dd of="$dir/flipped/task_11.cubin" bs=1 seek=500 conv=notrunc status=none # one byte changed
python3 - "$dir/damaged/manifest.json" <<'PY'
import json, sys
m = json.load(open(sys.argv[1]))
m["kernels"][1]["template_fingerprint"] = "0"
m["device"], m["target"] = "NVIDIA Z9", "auto"  # a GPU no preset names: the first of its arch
json.dump(m, open(sys.argv[1], "w"))
PY
# Kernels that cannot be timed fail the bench (exit 1), after the table.
if "$exe" bench "$dir/damaged" --device sim > "$dir/damaged.txt" 2>&1; then echo "bench of a damaged folder passed"; exit 1; fi
for want in "task_05: missing or empty .*task_05.cubin (replay again)" \
            "task_08: conv2d_.* has changed since this replay (fingerprint 0, now" \
            "ours [1-9][0-9.]* us (2 kernels failed, not counted), cuDNN not run" \
            "no preset is named in the manifest's device 'NVIDIA Z9': simulating .*, the first of its arch sm_" \
            "chameleon: error: 2 of 3 kernels could not be timed (the warnings above say why)"; do
  grep -q "$want" "$dir/damaged.txt" || { cat "$dir/damaged.txt"; echo "damaged bench: no '$want'"; exit 1; }
done
# No kernel timed at all: the total says so instead of a sum of nothing.
cp -r "$dir/real" "$dir/emptied"
rm "$dir"/emptied/*.cubin
if "$exe" bench "$dir/emptied" --device sim > "$dir/emptied.txt" 2>&1; then echo "bench without cubins passed"; exit 1; fi
for want in "ours none timed (3 kernels failed, not counted), cuDNN not run" \
            "chameleon: error: 3 of 3 kernels could not be timed"; do
  grep -qF "$want" "$dir/emptied.txt" || { cat "$dir/emptied.txt"; echo "bench without cubins: no '$want'"; exit 1; }
done
if "$exe" bench "$dir/flipped" --device sim > "$dir/flipped.txt" 2>&1; then echo "bench of a changed cubin passed"; exit 1; fi
grep -q "task_11: .*task_11.cubin is not the file replay wrote (its SHA-256 differs): damaged or replaced" "$dir/flipped.txt" ||
  { cat "$dir/flipped.txt"; echo "a changed cubin was not noticed"; exit 1; }

# A task whose records all failed has no kernel: bench says so, from the log and from its
# replayed folder, and leaves it out of the totals; with no kernel at all, one clear error.
python3 - "$dir/real.jsonl" "$dir/missing.jsonl" "$dir/none.jsonl" <<'PY'
import json, sys
some, none = [], []
for line in open(sys.argv[1]):
    if line.startswith("#"):
        some.append(line); none.append(line); continue
    r = json.loads(line)
    failed = json.loads(line)
    failed["result"][0], failed["result"][1] = [1e9], 4  # a runtime failure
    none.append(json.dumps(failed) + "\n")
    some.append(json.dumps(failed if r["chameleon"]["task"] == 11 else r) + "\n")
open(sys.argv[2], "w").writelines(some)
open(sys.argv[3], "w").writelines(none)
PY
"$exe" replay "$dir/missing.jsonl" --out "$dir/missing" > /dev/null 2>&1
for input in "$dir/missing.jsonl" "$dir/missing"; do
  "$exe" bench "$input" --device sim > "$dir/missing.txt" 2>&1 || { cat "$dir/missing.txt"; exit 1; }
  for want in "no kernel for N1 C256 H14 W14 K512 R1 S1 s2 p0 d1: .* records, none measured without error" \
              "not in the totals: 1 task of the log without a kernel (N1 C256 H14 W14 K512 R1 S1 s2 p0 d1)"; do
    grep -q "$want" "$dir/missing.txt" || { cat "$dir/missing.txt"; echo "bench $input: no '$want'"; exit 1; }
  done
  "$exe" -q bench "$input" --device sim --json > "$dir/missing.json"
  python3 -c 'import json,sys; b=json.load(open(sys.argv[1])); assert len(b["kernels"]) == 2 and [m["shape"] for m in b["missing"]] == ["N1 C256 H14 W14 K512 R1 S1 s2 p0 d1"], b' "$dir/missing.json"
done
if "$exe" bench "$dir/none.jsonl" --device sim > "$dir/none.txt" 2>&1; then echo "bench without kernels passed"; exit 1; fi
grep -q "none.jsonl: no kernel to bench (above: why for each task)" "$dir/none.txt" ||
  { cat "$dir/none.txt"; echo "no clear error for a log without kernels"; exit 1; }
"$exe" replay "$dir/none.jsonl" --out "$dir/none" > /dev/null 2>&1 && { echo "replay without kernels passed"; exit 1; }
if "$exe" bench "$dir/none" --device sim > "$dir/none.txt" 2>&1; then echo "bench of an empty folder passed"; exit 1; fi
for want in "no kernel for N1 C256 H14 W14 K512 R1 S1 s2 p0 d1: .* records, none measured without error" \
            "none/manifest.json lists no kernel (above: why for each task)"; do
  grep -q "$want" "$dir/none.txt" || { cat "$dir/none.txt"; echo "empty folder: no '$want'"; exit 1; }
done

# A manifest field of the whole folder of the wrong type: one clear error.
python3 - "$dir/damaged/manifest.json" <<'PY'
import json, sys
m = json.load(open(sys.argv[1]))
m["arch"] = 90
json.dump(m, open(sys.argv[1], "w"))
PY
if "$exe" bench "$dir/damaged" --device sim > "$dir/arch.txt" 2>&1; then echo "bench took an arch of 90"; exit 1; fi
grep -q "manifest.json: 'arch' must be a string, got 90 (replay again)" "$dir/arch.txt" ||
  { cat "$dir/arch.txt"; echo "no clear error for a bad arch"; exit 1; }

# TF32 records compete only with --allow-tf32.
"$exe" -q tune "$net" --device sim --sim-estimate --tasks 10 --trials 16 --plan-size 8 --progress none \
  --allow-tf32 --templates conv2d_implicit_gemm,conv2d_implicit_gemm_tf32 --log "$dir/tf32.jsonl" >/dev/null
"$exe" replay "$dir/tf32.jsonl" --out "$dir/fp32" > "$dir/fp32.txt" 2>&1
grep -q "TF32 records left out (--allow-tf32 lets them compete)" "$dir/fp32.txt" || { cat "$dir/fp32.txt"; echo "TF32 records not left out"; exit 1; }
grep -q '"tf32": true' "$dir/fp32/manifest.json" && { echo "a TF32 kernel without --allow-tf32"; exit 1; }
"$exe" replay "$dir/tf32.jsonl" --allow-tf32 --out "$dir/tf32" > "$dir/tf32.txt" 2>&1
grep -q "left out" "$dir/tf32.txt" && { echo "TF32 records left out with --allow-tf32"; exit 1; }
echo "replay and report ok"
