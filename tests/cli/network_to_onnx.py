#!/usr/bin/env python3
"""Test helper: writes a chameleon network file as an ONNX model (weights as graph inputs with
their shapes, no data), so that scripts/onnx_to_network.py can be checked on whole networks: the
round trip must give the same tasks. Stops at the classifier head (flatten, dense, adaptive
pooling), after every convolution of the shipped networks.
Usage: network_to_onnx.py NETWORK.json OUT.onnx"""
import json
import sys

import onnx
from onnx import TensorProto, helper


def two(v):
    return list(v) if isinstance(v, list) else [v, v]


def pads(v):
    v = v if isinstance(v, list) else [v, v]
    return v * 2 if len(v) == 2 else v  # [top, left, bottom, right], ONNX's order


def main():
    net = json.load(open(sys.argv[1]))
    inp = net["input"]
    channels = {inp["name"]: inp["shape"][1]}
    nodes, inputs = [], [helper.make_tensor_value_info(inp["name"], TensorProto.FLOAT, ["N"] + inp["shape"][1:])]
    inits = [helper.make_tensor("zero", TensorProto.FLOAT, [], [0.0]),
             helper.make_tensor("six", TensorProto.FLOAT, [], [6.0])]
    previous = inp["name"]
    for layer in net["layers"]:
        op, name = layer["op"], layer["name"]
        ins = layer.get("inputs", [previous])
        ins = [ins] if isinstance(ins, str) else ins
        c = channels[ins[0]]
        if op in ("flatten", "dense", "adaptive_avg_pool"):
            break
        if op == "conv2d":
            k, g = two(layer["kernel"]), layer.get("groups", 1)
            inputs.append(helper.make_tensor_value_info(name + "_w", TensorProto.FLOAT,
                                                        [layer["out_channels"], c // g] + k))
            nodes.append(helper.make_node("Conv", [ins[0], name + "_w"], [name], name=name, kernel_shape=k,
                                          strides=two(layer.get("stride", 1)), pads=pads(layer.get("padding", 0)),
                                          dilations=two(layer.get("dilation", 1)), group=g))
            c = layer["out_channels"]
        elif op == "batch_norm":
            params = [name + "_" + p for p in ("scale", "bias", "mean", "var")]
            inputs += [helper.make_tensor_value_info(p, TensorProto.FLOAT, [c]) for p in params]
            nodes.append(helper.make_node("BatchNormalization", [ins[0]] + params, [name]))
        elif op == "relu":
            nodes.append(helper.make_node("Relu", ins, [name]))
        elif op == "relu6":
            nodes.append(helper.make_node("Clip", [ins[0], "zero", "six"], [name]))
        elif op in ("dropout", "identity"):
            nodes.append(helper.make_node("Identity", ins[:1], [name]))
        elif op == "add":
            nodes.append(helper.make_node("Sum", ins, [name]))
        elif op == "concat":
            nodes.append(helper.make_node("Concat", ins, [name], axis=1))
            c = sum(channels[i] for i in ins)
        elif op in ("max_pool", "avg_pool"):
            k = two(layer["kernel"])
            attrs = dict(kernel_shape=k, strides=two(layer.get("stride", layer["kernel"])),
                         pads=pads(layer.get("padding", 0)), ceil_mode=int(layer.get("ceil_mode", False)))
            if op == "avg_pool":
                attrs["count_include_pad"] = int(layer.get("count_include_pad", True))
            nodes.append(helper.make_node("MaxPool" if op == "max_pool" else "AveragePool", ins, [name], **attrs))
        elif op == "global_avg_pool":
            nodes.append(helper.make_node("GlobalAveragePool", ins, [name]))
        else:
            sys.exit(f"network_to_onnx: no ONNX for op '{op}' (layer {name})")
        channels[name] = c
        previous = name
    graph = helper.make_graph(nodes, net["name"], inputs,
                              [helper.make_tensor_value_info(previous, TensorProto.FLOAT, ["N", channels[previous], "H", "W"])],
                              inits)
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 13)])
    model.ir_version = 7
    onnx.checker.check_model(model)
    onnx.save(model, sys.argv[2])


if __name__ == "__main__":
    main()
