#!/usr/bin/env bash
# Pascal and Volta for real: with a CUDA 12 NVRTC beside the toolkit's 13 (the nvidia-cuda-nvrtc-cu12
# wheel, which scripts/test.sh unpacks into the build), `targets` names NVRTC 12 for titanxp and
# v100 and 13 for h100; ResNet-18's tasks compile to real sm_61 and sm_70 cubins (the arch read from
# each cubin's ELF header) while sm_90 still compiles with 13; a sim tune for titanxp compiles its
# kernels for sm_61, without the nearest-arch warning, and its records name NVRTC 12.
# Exits 77 (skipped) when the wheel is not there. Usage: nvrtc12.sh CHAMELEON_EXE NETWORKS_DIR NVRTC12_DIR
set -euo pipefail
exe=$1
net=$2/resnet18.json
mobilenet=$2/mobilenet_v2.json
nvrtc12=$3
if [ ! -e "$nvrtc12/libnvrtc.so.12" ]; then
  echo "no CUDA 12 NVRTC in $nvrtc12 (scripts/test.sh fetches the nvidia-cuda-nvrtc-cu12 wheel there): skipped"
  exit 77
fi
export CHAMELEON_NVRTC=$nvrtc12
dir=$(mktemp -d)
trap 'rm -rf "$dir"' EXIT

"$exe" targets >"$dir/targets.txt"
for want in "^titanxp .* NVRTC 12\." "^v100 .* NVRTC 12\." "^h100 .* NVRTC 13\." "^NVRTC 12\.[0-9]+ \(.*libnvrtc.so.12\) compiles for sm_.*sm_61, sm_62, sm_70"; do
  grep -Eq "$want" "$dir/targets.txt" || { cat "$dir/targets.txt"; echo "targets: no line matching '$want'"; exit 1; }
done

# The arch a cubin was compiled for, from its ELF header (CUDA's ABI 7 keeps it in the low byte of
# e_flags, ABI 8 in the next one).
cubin_sm() {
  python3 - "$1" <<'PY'
import struct, sys
b = open(sys.argv[1], "rb").read()
assert b[:4] == b"\x7fELF", "not an ELF file"
flags = struct.unpack_from("<I", b, 0x30)[0]
print(flags & 0xFF if b[8] < 8 else (flags >> 8) & 0xFF)
PY
}
# Every task for Pascal and Volta, each (task, template) pair once over the two: the default
# template for titanxp's odd tasks and v100's even ones, the implicit GEMM for the others; three
# tasks for sm_90, which NVRTC 13 keeps.
compiled=0
for target in titanxp:61:1 v100:70:0 h100:90:; do
  IFS=: read -r name sm parity <<<"$target"
  tasks=$(seq 1 11)
  [ -z "$parity" ] && tasks="1 4 9"
  for task in $tasks; do
    template=""
    [ -n "$parity" ] && [ $((task % 2)) != "$parity" ] && template=conv2d_implicit_gemm
    out="$dir/$name-$task-${template:-default}.cubin"
    "$exe" -q compile "$net" --task "$task" --target "$name" --config random --seed "$task" \
      ${template:+--template "$template"} --cubin "$out" >"$dir/compile.txt" 2>&1 ||
      { cat "$dir/compile.txt"; echo "task $task for $name (${template:-default template}) did not compile"; exit 1; }
    got=$(cubin_sm "$out")
    [ "$got" = "$sm" ] || { echo "task $task for $name: a cubin for sm_$got, expected sm_$sm"; exit 1; }
    compiled=$((compiled + 1))
  done
done
echo "$compiled cubins, each for its target's arch (sm_61, sm_70, sm_90)"

# float16 and bfloat16 storage on Pascal and Volta (float32 arithmetic): Winograd on a fused 3x3
# task and the depthwise kernel; bfloat16 is rounded by hand there (no cvt to bf16 before sm_80).
for target in titanxp:61 v100:70; do
  name=${target%%:*}
  for precision in fp16 bf16; do
    for job in "$net 3 conv2d_winograd" "$mobilenet 2 conv2d_depthwise"; do
      set -- $job
      out="$dir/$name-$precision-$3.cubin"
      "$exe" -q compile "$1" --task "$2" --template "$3" --precision "$precision" --target "$name" \
        --config random --seed 3 --cubin "$out" >"$dir/compile.txt" 2>&1 ||
        { cat "$dir/compile.txt"; echo "$precision $3 for $name did not compile"; exit 1; }
      [ "$(cubin_sm "$out")" = "${target##*:}" ] || { echo "$precision $3 for $name: not an sm_${target##*:} cubin"; exit 1; }
    done
  done
done
echo "fp16 and bf16 Winograd and depthwise kernels compile for sm_61 and sm_70"

"$exe" tune "$net" --target titanxp --device sim --tasks 2 --trials 8 --log "$dir/titanxp.jsonl" \
  --progress none >"$dir/tune.txt" 2>&1 || { cat "$dir/tune.txt"; echo "the titanxp sim tune failed"; exit 1; }
if grep -q "simulating titanxp with kernels compiled for" "$dir/tune.txt"; then
  cat "$dir/tune.txt"
  echo "the titanxp tune compiled for the nearest arch instead of sm_61"
  exit 1
fi
python3 - "$dir/titanxp.jsonl" <<'PY'
import json, sys
lines = open(sys.argv[1]).read().splitlines()
records = [json.loads(l) for l in lines if l.startswith("{")]
assert records, "no records"
archs = {r["chameleon"]["arch"] for r in records}
assert archs == {"sm_61"}, f"records compiled for {archs}"
run = json.loads([l for l in lines if l.startswith("# chameleon-run ")][0][len("# chameleon-run "):])
assert run["provenance"]["nvrtc"].startswith("12."), run["provenance"]["nvrtc"]
print(f"titanxp sim tune: {len(records)} records for sm_61, NVRTC {run['provenance']['nvrtc']}")
PY
# An AutoTVM log of a GTX 1080 Ti (-model=1080ti) replays into sm_61 kernels built by NVRTC 12.
"$exe" replay "$(dirname "$0")/autotvm_v02.log" --out "$dir/tophub" >"$dir/replay.txt" 2>&1 ||
  { cat "$dir/replay.txt"; echo "the 1080ti log did not replay"; exit 1; }
cubin=$(python3 - "$dir/tophub" <<'PY'
import json, os, sys
m = json.load(open(os.path.join(sys.argv[1], "manifest.json")))
assert m["arch"] == "sm_61" and m["nvrtc"].startswith("12."), (m["arch"], m["nvrtc"])
print(os.path.join(sys.argv[1], m["kernels"][0]["files"]["cubin"]))
PY
)
[ "$(cubin_sm "$cubin")" = 61 ] || { echo "the 1080ti log's cubin is not for sm_61"; exit 1; }
echo "the 1080ti log replays into sm_61 kernels (NVRTC 12)"
# --nvrtc-version 12: NVRTC 12 for every arch it has, sm_90 included (to compare the two there).
"$exe" --nvrtc-version 12 targets >"$dir/targets12.txt"
grep -Eq "^h100 .* NVRTC 12\." "$dir/targets12.txt" || { cat "$dir/targets12.txt"; echo "h100 does not use NVRTC 12 with --nvrtc-version 12"; exit 1; }
out="$dir/h100-12.cubin"
"$exe" -q --nvrtc-version 12 compile "$net" --task 4 --target h100 --config random --cubin "$out" >/dev/null
[ "$(cubin_sm "$out")" = 90 ] || { echo "no sm_90 cubin from NVRTC 12"; exit 1; }
echo "nvrtc12 ok"
