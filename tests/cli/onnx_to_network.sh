#!/usr/bin/env bash
# scripts/onnx_to_network.py on a small ONNX model built here: every 2-D Conv node becomes a task
# with the shape, strides, pads (explicit and auto_pad), dilations and group it has in the model;
# 1-D and transposed convolutions are named and left out; a dynamic batch takes --batch.
# Skipped (exit 77) where no Python has the onnx package.
# Then every shipped network, written as ONNX (network_to_onnx.py) and converted back at batch 2,
# gives the same tasks as the network itself; and, where the onnx package ships them, the ONNX
# model zoo's networks convert and load.
# Usage: onnx_to_network.sh CHAMELEON_EXE SCRIPTS_DIR NETWORKS_DIR
set -euo pipefail
exe=$1 scripts=$2 networks=$3
here=$(cd "$(dirname "$0")" && pwd)
py=
for candidate in python3 /usr/bin/python3; do
  if command -v "$candidate" >/dev/null && "$candidate" -c "import onnx" 2>/dev/null; then py=$candidate; break; fi
done
[ -n "$py" ] || { echo "no Python with the onnx package (scripts/setup.sh installs python3-onnx): skipped"; exit 77; }
dir=$(mktemp -d)
trap 'rm -rf "$dir"' EXIT
"$py" - "$dir/model.onnx" <<'PY'
import sys
import numpy as np
import onnx
from onnx import TensorProto, helper, numpy_helper

def weight(name, *dims):
    return numpy_helper.from_array(np.zeros(dims, dtype=np.float32), name)

nodes = [
    # explicit asymmetric pads [top, left, bottom, right], stride 2
    helper.make_node("Conv", ["x", "w1"], ["a"], name="stem", strides=[2, 2], pads=[1, 0, 2, 2]),
    helper.make_node("Relu", ["a"], ["a_relu"]),
    # auto_pad SAME_UPPER with stride 2 on an odd size: the extra row and column at the end
    helper.make_node("Conv", ["a_relu", "w2"], ["b"], name="same", strides=[2, 2], auto_pad="SAME_UPPER"),
    # grouped, dilated, no name
    helper.make_node("Conv", ["b", "w3"], ["c"], group=13, dilations=[2, 2], pads=[2, 2, 2, 2]),
    helper.make_node("Add", ["c", "b"], ["d"]),
    # a transposed convolution: left out
    helper.make_node("ConvTranspose", ["d", "w4"], ["e"], name="up"),
    # the same workload again under the same name: one task, two layers
    helper.make_node("Conv", ["b", "w3"], ["f"], name="stem", group=13, dilations=[2, 2], pads=[2, 2, 2, 2]),
    # a 1-D convolution: left out
    helper.make_node("Reshape", ["d", "shape"], ["g"]),
    helper.make_node("Conv", ["g", "w5"], ["h"], name="conv1d"),
]
graph = helper.make_graph(
    nodes, "t",
    [helper.make_tensor_value_info("x", TensorProto.FLOAT, ["N", 7, 37, 23])],
    [helper.make_tensor_value_info(o, TensorProto.FLOAT, [f"{o}{i}" for i in range(rank)])
     for o, rank in (("e", 4), ("f", 4), ("h", 3))],
    [weight("w1", 13, 7, 3, 3), weight("w2", 26, 13, 3, 3), weight("w3", 26, 2, 3, 3),
     weight("w4", 26, 4, 2, 2), weight("w5", 5, 26, 3),
     numpy_helper.from_array(np.array([0, 26, -1], dtype=np.int64), "shape")])
model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 13)])
model.ir_version = 7
onnx.checker.check_model(model)
onnx.save(model, sys.argv[1])
PY
"$py" "$scripts/onnx_to_network.py" "$dir/model.onnx" --batch 3 -o "$dir/net.json" 2> "$dir/err.txt"
cat "$dir/err.txt"
for want in "left out up: a ConvTranspose" "left out conv1d: a 1-D convolution" "4 conv2d layers to"; do
  grep -q "$want" "$dir/err.txt" || { echo "no '$want' on stderr"; exit 1; }
done
"$exe" tasks "$dir/net.json" --json > "$dir/tasks.json"
"$py" - "$dir/tasks.json" <<'PY'
import json, sys
t = json.load(open(sys.argv[1]))
shapes = [(task["shape"], task["count"]) for task in t["tasks"]]
want = [("N3 C7 H37 W23 K13 R3 S3 s2 p1,0,2,2 d1", 1),
        # 37x23 -> 19x12 after the stem; SAME_UPPER stride 2: out 10x6, rows padded 1 and 1, columns
        # 0 and 1 (the odd one at the end)
        ("N3 C13 H19 W12 K26 R3 S3 s2 p1,0,1,1 d1", 1),
        ("N3 C26 H10 W6 K26 R3 S3 s1 p2 d2 g13", 2)]
assert shapes == want, shapes
assert t["input"] is None
assert [l for task in t["tasks"] for l in task["layers"]] == ["stem", "same", "conv3", "stem_2"], t["tasks"]
print("onnx_to_network ok:", len(shapes), "tasks")
PY
# Dynamic image sizes: --shape gives them; without it the convolutions are reported, not guessed.
"$py" - "$dir/model.onnx" "$dir/dynamic.onnx" <<'PY'
import sys
import onnx
m = onnx.load(sys.argv[1])
for d, name in zip(m.graph.input[0].type.tensor_type.shape.dim[2:], ("H", "W")):
    d.Clear()
    d.dim_param = name
onnx.save(m, sys.argv[2])
PY
"$py" "$scripts/onnx_to_network.py" "$dir/dynamic.onnx" > /dev/null 2> "$dir/dyn.txt" && { echo "no error without sizes"; exit 1; }
grep -q "left out stem: input 'x' has no known \[N, C, H, W\] shape" "$dir/dyn.txt" || { cat "$dir/dyn.txt"; exit 1; }
grep -q "no 2-D Conv node with a known input shape" "$dir/dyn.txt" || { cat "$dir/dyn.txt"; exit 1; }
"$py" "$scripts/onnx_to_network.py" "$dir/dynamic.onnx" --shape x=3,7,37,23 -o "$dir/fixed.json" 2>/dev/null
diff <("$exe" tasks "$dir/net.json" --json | grep '"shape"') <("$exe" tasks "$dir/fixed.json" --json | grep '"shape"') \
  || { echo "--shape gave other tasks"; exit 1; }
"$py" "$scripts/onnx_to_network.py" "$dir/dynamic.onnx" --shape y=1,2,3,4 > /dev/null 2> "$dir/bad-shape.txt" && exit 1
grep -q "the model has no input 'y' (it has: x" "$dir/bad-shape.txt" || { cat "$dir/bad-shape.txt"; exit 1; }

# Without --batch a dynamic batch is 1; a file that is not ONNX is refused.
"$py" "$scripts/onnx_to_network.py" "$dir/model.onnx" > "$dir/batch1.json" 2>/dev/null
grep -q '"input_shape": \[1, 7, 37, 23\]' "$dir/batch1.json" || { echo "dynamic batch is not 1"; exit 1; }
if "$py" "$scripts/onnx_to_network.py" "$dir/net.json" > /dev/null 2> "$dir/bad.txt"; then
  echo "a JSON file was taken for ONNX"; exit 1
fi
grep -q "not an ONNX model" "$dir/bad.txt" || { cat "$dir/bad.txt"; exit 1; }
: > "$dir/empty.onnx"
for bad in "$dir/empty.onnx:empty file, not an ONNX model" "$dir/none.onnx:cannot open (No such file"; do
  if "$py" "$scripts/onnx_to_network.py" "${bad%%:*}" > /dev/null 2> "$dir/bad.txt"; then echo "${bad%%:*} taken"; exit 1; fi
  grep -q "${bad#*:}" "$dir/bad.txt" || { cat "$dir/bad.txt"; exit 1; }
done

tasks_of() { "$exe" tasks "$@" --json | "$py" -c 'import json, sys; [print(t["shape"], t["count"]) for t in json.load(sys.stdin)["tasks"]]'; }
for net in "$networks"/*.json; do
  base=$(basename "$net" .json)
  "$py" "$here/network_to_onnx.py" "$net" "$dir/$base.onnx"
  "$py" "$scripts/onnx_to_network.py" "$dir/$base.onnx" --batch 2 -o "$dir/$base.json" 2>/dev/null
  diff <(tasks_of "$net" --batch 2) <(tasks_of "$dir/$base.json") > "$dir/diff.txt" \
    || { cat "$dir/diff.txt"; echo "$base: the ONNX round trip changed the tasks"; exit 1; }
  echo "$base: $(tasks_of "$dir/$base.json" | wc -l) tasks, the same after the ONNX round trip"
done
# With fusion, the batch norms, adds and activations that follow each Conv come along: the fused
# tasks are the network's own, also where a residual is not a convolution's output (ResNet-18's
# first blocks add the max pool's output: the file gives it as an identity layer with its shape).
for base in mobilenet_v2 resnet18 resnet50 vgg16; do
  diff <(tasks_of "$networks/$base.json" --batch 2 --precision fp16) <(tasks_of "$dir/$base.json" --precision fp16) > "$dir/diff.txt" \
    || { cat "$dir/diff.txt"; echo "$base: the ONNX round trip changed the fused tasks"; exit 1; }
done
# (Into files first: `grep -q` on a pipe may end its writer early, which pipefail reports.)
tasks_of "$dir/mobilenet_v2.json" --precision fp16 > "$dir/mobilenet_fused.txt"
tasks_of "$dir/resnet50.json" --precision fp16 > "$dir/resnet50_fused.txt"
grep -q "fp16 +bias+relu6 " "$dir/mobilenet_fused.txt" || { echo "mobilenet_v2: no relu6 fused"; exit 1; }
grep -q "fp16 +bias+add+relu " "$dir/resnet50_fused.txt" || { echo "resnet50: no residual fused"; exit 1; }
"$py" - "$dir/resnet18.json" <<'PY' || exit 1
import json, sys
layers = json.load(open(sys.argv[1]))["layers"]
names = [l["name"] for l in layers]
holders = [l for l in layers if l["op"] == "identity"]
assert holders and all(l["input_shape"] == [2, 64, 56, 56] for l in holders), holders
adds = [l for l in layers if l["op"] == "add" and l["inputs"][1] == holders[0]["name"]]
assert adds, "no add reads the max pool's stand-in"
reader = next(l for l in layers if l["op"] == "conv2d" and names.index(l["name"]) > names.index(holders[0]["name"]))
assert names.index(holders[0]["name"]) < names.index(adds[0]["inputs"][0]), "the stand-in is not before its conv"
PY
"$py" "$scripts/onnx_to_network.py" "$dir/resnet50.onnx" --no-fuse -o "$dir/resnet50_convs.json" 2>/dev/null
if grep -q '"op": "batch_norm"' "$dir/resnet50_convs.json"; then echo "--no-fuse wrote more than the Conv nodes"; exit 1; fi

# Real models: the ONNX model zoo networks that PyPI's onnx package ships for its backend tests
# (weights left out; Debian's python3-onnx does not ship them): every one converts and loads.
light=$("$py" -c 'import onnx, os; print(os.path.join(os.path.dirname(onnx.__file__), "backend/test/data/light"))')
if ls "$light"/*.onnx > /dev/null 2>&1; then
  for model in "$light"/*.onnx; do
    base=$(basename "$model" .onnx)
    "$py" "$scripts/onnx_to_network.py" "$model" -o "$dir/$base.json" 2>/dev/null
    echo "$base: $("$exe" tasks "$dir/$base.json" | head -n 1 | sed 's/^[^:]*: //')"
  done
  for want in "light_resnet50:53 conv2d layers, 23 unique tasks" "light_vgg19:16 conv2d layers, 9 unique tasks"; do
    summary=$("$exe" tasks "$dir/${want%%:*}.json")
    [[ "$summary" == *"${want#*:}"* ]] || { echo "${want%%:*}: not ${want#*:}"; exit 1; }
  done
else
  echo "no ONNX model zoo models in this onnx install ($light): that part skipped"
fi
