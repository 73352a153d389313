#!/usr/bin/env python3
"""Writes a chameleon network file (docs/network-format.md) from an ONNX model: its 2-D Conv nodes.

    python3 scripts/onnx_to_network.py MODEL.onnx [--batch N] [--shape INPUT=N,C,H,W ...]
                                      [--name NAME] [--no-fuse] [-o OUT.json]

Every 2-D `Conv` node becomes a conv2d layer with the shape of the tensor it reads (from ONNX's
shape inference), its kernel, strides, pads (`auto_pad` resolved), dilations, group and bias.
What a kernel can fuse follows it (docs/network-format.md, "Fused epilogues"), each only while the
tensor before it has no other reader: a BatchNormalization, an Add (or two-input Sum) whose other
input is an earlier such layer's output or a tensor written before the Conv ran (a pooling
layer's output, which the file then gives as an identity layer with its shape), then Relu,
Clip(0, 6) (relu6), HardSwish or x * Sigmoid(x) (silu); --no-fuse leaves them out. Other operators are left out (chameleon tunes
the convolutions). A dynamic batch dimension becomes
--batch (default 1); --shape gives an input's whole shape (a model exported with dynamic
image sizes needs one). A node that cannot be expressed (a 1-D or 3-D convolution, a transposed or
quantized one, an input of unknown size) is named on stderr and left out. Needs Python's `onnx`
package (`pip install onnx`, or Debian's python3-onnx).
"""
import argparse
import json
import sys
from pathlib import Path


def fail(message):
    sys.exit(f"onnx_to_network: {message}")


def dims_of(type_proto):
    """[d0, d1, ...] of a tensor type, None for a dimension without a known value."""
    if not type_proto.HasField("tensor_type") or not type_proto.tensor_type.HasField("shape"):
        return None
    return [d.dim_value if d.HasField("dim_value") and d.dim_value > 0 else None
            for d in type_proto.tensor_type.shape.dim]


def fix_batch(model, batch):
    """Sets a data input's unknown first dimension to `batch` (before shape inference). Weights
    (initializers, and what Conv nodes take as weights) keep theirs."""
    weights = {init.name for init in model.graph.initializer}
    weights |= {node.input[1] for node in model.graph.node if node.op_type == "Conv" and len(node.input) > 1}
    for value in model.graph.input:
        if value.name in weights or not value.type.HasField("tensor_type"):
            continue
        shape = value.type.tensor_type.shape
        if len(shape.dim) == 4:
            first = shape.dim[0]
            if batch is not None or not (first.HasField("dim_value") and first.dim_value > 0):
                first.Clear()
                first.dim_value = batch or 1


def set_shapes(model, shapes):
    """Gives the named graph inputs these shapes (before shape inference)."""
    inputs = {value.name: value for value in model.graph.input}
    for name, dims in shapes.items():
        if name not in inputs:
            fail(f"--shape {name}: the model has no input '{name}' (it has: {', '.join(inputs)})")
        shape = inputs[name].type.tensor_type.shape
        shape.Clear()
        for d in dims:
            shape.dim.add().dim_value = d


def parse_shape(text):
    name, _, dims = text.partition("=")
    try:
        values = [int(d) for d in dims.split(",")]
    except ValueError:
        values = []
    if not name or not values or min(values) < 1:
        fail(f"--shape takes INPUT=N,C,H,W (positive sizes), got '{text}'")
    return name, values


def same_pads(size, kernel, stride, dilation, upper):
    """(begin, end) padding of auto_pad SAME_UPPER / SAME_LOWER for one axis."""
    out = -(-size // stride)
    total = max((out - 1) * stride + (kernel - 1) * dilation + 1 - size, 0)
    small, large = total // 2, total - total // 2
    return (small, large) if upper else (large, small)


def pair(values):
    return values[0] if values[0] == values[1] else list(values)


def conv_layer(node, name, shapes, attr):
    """The conv2d layer of one Conv node, or the reason it cannot be one."""
    x = shapes.get(node.input[0])
    w = shapes.get(node.input[1]) if len(node.input) > 1 else None
    kernel = attr.get("kernel_shape")
    if w is not None and len(w) != 4 or kernel is not None and len(kernel) != 2:
        rank = len(kernel) if kernel is not None else len(w) - 2
        return None, f"a {rank}-D convolution (chameleon tunes 2-D ones)"
    if x is None or len(x) != 4 or any(d is None for d in x):
        return None, f"input '{node.input[0]}' has no known [N, C, H, W] shape ({x})"
    if w is None or w[0] is None:
        return None, f"weight '{node.input[1] if len(node.input) > 1 else '?'}' has no known shape"
    kh, kw = kernel if kernel is not None else w[2:]
    sh, sw = attr.get("strides", [1, 1])
    dh, dw = attr.get("dilations", [1, 1])
    group = attr.get("group", 1)
    auto_pad = attr.get("auto_pad", b"NOTSET")
    auto_pad = auto_pad.decode() if isinstance(auto_pad, bytes) else auto_pad
    if auto_pad in ("SAME_UPPER", "SAME_LOWER"):
        upper = auto_pad == "SAME_UPPER"
        top, bottom = same_pads(x[2], kh, sh, dh, upper)
        left, right = same_pads(x[3], kw, sw, dw, upper)
    elif auto_pad == "VALID":
        top = left = bottom = right = 0
    else:
        top, left, bottom, right = attr.get("pads", [0, 0, 0, 0])
    # Checked against the output shape ONNX inferred, where it did: the same convolution.
    oh = (x[2] + top + bottom - dh * (kh - 1) - 1) // sh + 1
    ow = (x[3] + left + right - dw * (kw - 1) - 1) // sw + 1
    y = shapes.get(node.output[0])
    if y is not None and len(y) == 4 and None not in y[2:] and (y[1] not in (None, w[0]) or y[2:] != [oh, ow]):
        return None, f"its output would be {[x[0], w[0], oh, ow]}, ONNX infers {y}"
    layer = {"name": name, "op": "conv2d", "input_shape": x, "out_channels": w[0], "kernel": pair([kh, kw])}
    if (sh, sw) != (1, 1):
        layer["stride"] = pair([sh, sw])
    if (top, left, bottom, right) != (0, 0, 0, 0):
        layer["padding"] = pair([top, left]) if (top, left) == (bottom, right) else [top, left, bottom, right]
    if (dh, dw) != (1, 1):
        layer["dilation"] = pair([dh, dw])
    if group != 1:
        layer["groups"] = group
    if len(node.input) > 2 and node.input[2]:
        layer["bias"] = True
    return layer, None


def constant(name, graph):
    """The scalar value of an initializer (or Constant node output), or None."""
    from onnx import numpy_helper
    for init in graph.initializer:
        if init.name == name:
            values = numpy_helper.to_array(init).reshape(-1)
            return float(values[0]) if values.size == 1 else None
    for node in graph.node:
        if node.op_type == "Constant" and node.output[0] == name:
            from onnx import helper
            for a in node.attribute:
                if a.name == "value":
                    values = numpy_helper.to_array(a.t).reshape(-1)
                    return float(values[0]) if values.size == 1 else None
    return None


def activation_of(tensor, readers, graph, attr_of):
    """(op, output tensor, nodes) of an activation chameleon fuses that reads `tensor`, or None."""
    nodes = readers.get(tensor, [])
    if len(nodes) == 1:
        n = nodes[0]
        if n.op_type == "Relu":
            return "relu", n.output[0], [n]
        if n.op_type == "HardSwish":
            return "hardswish", n.output[0], [n]
        if n.op_type == "Clip":
            a = attr_of(n)
            lo = constant(n.input[1], graph) if len(n.input) > 1 and n.input[1] else a.get("min")
            hi = constant(n.input[2], graph) if len(n.input) > 2 and n.input[2] else a.get("max")
            if lo == 0.0 and hi == 6.0:
                return "relu6", n.output[0], [n]
    if len(nodes) == 2:  # silu: x * Sigmoid(x)
        sig = next((n for n in nodes if n.op_type == "Sigmoid"), None)
        mul = next((n for n in nodes if n.op_type == "Mul"), None)
        if sig is not None and mul is not None and sorted(mul.input) == sorted([tensor, sig.output[0]]) \
                and len(readers.get(sig.output[0], [])) == 1:
            return "silu", mul.output[0], [sig, mul]
    return None


def fused_layers(node, conv_name, readers, layer_of, graph, attr_of, new_name, placeholder):
    """The layers after a Conv node that its kernel can fuse (see the module's description).
    `placeholder(tensor)`: the name of a layer standing for a tensor that an operator the file
    leaves out wrote before the Conv node ran (None when there is none or it has no shape)."""
    layers, tensor, prev = [], node.output[0], conv_name

    def only_reader(t):
        nodes = readers.get(t, [])
        return nodes[0] if len(nodes) == 1 else None

    n = only_reader(tensor)
    if n is not None and n.op_type == "BatchNormalization":
        prev = new_name(n.name or conv_name + "_bn")
        layers.append({"name": prev, "op": "batch_norm", "inputs": [conv_name]})
        tensor = n.output[0]
        n = only_reader(tensor)
    if n is not None and n.op_type in ("Add", "Sum") and len(n.input) == 2:
        other = n.input[1] if n.input[0] == tensor else n.input[0]
        other_layer = layer_of.get(other) or (placeholder(other) if other != tensor else None)
        if other != tensor and other_layer:
            name = new_name(n.name or conv_name + "_add")
            layers.append({"name": name, "op": "add", "inputs": [prev, other_layer]})
            prev, tensor = name, n.output[0]
    act = activation_of(tensor, readers, graph, attr_of)
    if act is not None:
        op, out, nodes = act
        name = new_name(nodes[-1].name or conv_name + "_" + op)
        layers.append({"name": name, "op": op, "inputs": [prev]})
        prev, tensor = name, out
    return layers, tensor, prev


def convert(model, name, source, fuse=True):
    import onnx
    from onnx import helper, shape_inference

    try:
        model = shape_inference.infer_shapes(model)
    except Exception as e:  # a model shape inference cannot follow: use the shapes it has
        print(f"onnx_to_network: shape inference failed ({e}); using the shapes the model gives",
              file=sys.stderr)
    graph = model.graph
    shapes = {}
    for value in list(graph.input) + list(graph.value_info) + list(graph.output):
        dims = dims_of(value.type)
        if dims is not None:
            shapes[value.name] = dims
    for init in graph.initializer:
        shapes[init.name] = list(init.dims)
    layers, skipped, used = [], [], set()
    readers = {}
    for node in graph.node:
        for t in node.input:
            readers.setdefault(t, []).append(node)
    layer_of = {}  # tensor -> the layer that writes it
    producer = {t: (i, node) for i, node in enumerate(graph.node) for t in node.output}
    graph_inputs = {value.name for value in graph.input}

    def attr_of(node):
        return {a.name: helper.get_attribute_value(a) for a in node.attribute}

    def new_name(text):
        base = "".join(c if c.isalnum() or c in "_-./" else "_" for c in text)
        layer_name, n = base, 2
        while layer_name in used:
            layer_name, n = f"{base}_{n}", n + 1
        used.add(layer_name)
        return layer_name

    for i, node in enumerate(graph.node):
        label = node.name or f"{node.op_type} #{i + 1}"
        if node.domain not in ("", "ai.onnx"):
            continue
        if node.op_type in ("ConvTranspose", "ConvInteger", "QLinearConv"):
            skipped.append(f"{label}: a {node.op_type} (chameleon tunes float Conv nodes)")
            continue
        if node.op_type != "Conv":
            continue
        attr = attr_of(node)
        base = node.name or f"conv{sum(1 for layer in layers if layer['op'] == 'conv2d') + 1}"
        layer, why = conv_layer(node, base, shapes, attr)
        if layer is None:
            skipped.append(f"{label}: {why}")
            continue
        layer["name"] = new_name(base)
        layers.append(layer)
        layer_of[node.output[0]] = layer["name"]

        def placeholder(tensor, conv_at=i, conv_layer_at=len(layers) - 1):
            """An identity layer with the tensor's shape, before the conv2d: the residual of an
            add that an operator the file leaves out (a pooling layer, the model's input) wrote
            before this Conv node ran."""
            before = tensor in graph_inputs or (tensor in producer and producer[tensor][0] < conv_at)
            if not before or len(shapes.get(tensor, [])) != 4 or not all(
                    isinstance(d, int) and d > 0 for d in shapes[tensor]):
                return None
            writer = producer.get(tensor, (0, None))[1]
            what = f"{writer.op_type} {writer.name}".strip() if writer is not None else "the input"
            name = new_name((writer.name if writer is not None and writer.name else tensor) + "_out")
            layers.insert(conv_layer_at, {"name": name, "op": "identity", "input_shape": shapes[tensor],
                                          "comment": f"the output of {what}, left out: a fused add's residual"})
            layer_of[tensor] = name
            return name

        if fuse:
            chain, tensor, last = fused_layers(node, layer["name"], readers, layer_of, graph, attr_of,
                                               new_name, placeholder)
            layers += chain
            layer_of[tensor] = last
    for s in skipped:
        print(f"onnx_to_network: left out {s}", file=sys.stderr)
    if not any(layer["op"] == "conv2d" for layer in layers):
        fail(f"{source}: no 2-D Conv node with a known input shape")
    return {"name": name, "description": f"the 2-D Conv nodes of {Path(source).name} "
            f"(scripts/onnx_to_network.py, onnx {onnx.__version__})", "layers": layers}


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("model", help="ONNX model (.onnx)")
    parser.add_argument("--batch", type=int, help="batch size (default: the model's, 1 when dynamic)")
    parser.add_argument("--shape", action="append", default=[], metavar="INPUT=N,C,H,W",
                        help="an input's shape, for a model exported with dynamic sizes (repeatable)")
    parser.add_argument("--name", help="network name (default: the file's stem)")
    parser.add_argument("--no-fuse", action="store_true",
                        help="only the Conv nodes, without the operators their kernels can fuse")
    parser.add_argument("-o", "--out", help="output file (default: stdout)")
    args = parser.parse_args()
    if args.batch is not None and args.batch < 1:
        fail("--batch must be at least 1")
    try:
        import onnx
    except ImportError:
        fail("needs Python's onnx package: pip install onnx (or Debian's python3-onnx)")
    try:
        with open(args.model, "rb") as f:
            if not f.read(1):
                fail(f"{args.model}: empty file, not an ONNX model")
    except OSError as e:
        fail(f"{args.model}: cannot open ({e.strerror})")
    try:
        model = onnx.load(args.model, load_external_data=False)
    except Exception as e:
        fail(f"{args.model}: not an ONNX model ({e})")
    set_shapes(model, dict(parse_shape(s) for s in args.shape))
    fix_batch(model, args.batch)
    doc = convert(model, args.name or Path(args.model).stem, args.model, fuse=not args.no_fuse)
    # One layer per line.
    layers = ",\n".join("    " + json.dumps(layer) for layer in doc["layers"])
    text = (f'{{\n  "name": {json.dumps(doc["name"])},\n  "description": {json.dumps(doc["description"])},\n'
            f'  "layers": [\n{layers}\n  ]\n}}\n')
    if args.out:
        Path(args.out).write_text(text)
        convs = sum(1 for layer in doc["layers"] if layer["op"] == "conv2d")
        print(f"onnx_to_network: {convs} conv2d layers to {args.out}", file=sys.stderr)
    else:
        sys.stdout.write(text)


if __name__ == "__main__":
    main()
