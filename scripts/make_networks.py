#!/usr/bin/env python3
"""Writes networks/*.json from torchvision's definitions (no torch needed).

The network files are committed; rerun this after changing a definition:
    python3 scripts/make_networks.py networks/
"""
import json
import sys
from pathlib import Path


class Net:
    def __init__(self, name, description, shape):
        self.name, self.description, self.shape = name, description, shape
        self.layers = []
        self.last = "data"

    def add(self, name, op, inputs=None, **attrs):
        layer = {"name": name, "op": op}
        if inputs is not None and inputs != [self.last]:
            layer["inputs"] = inputs
        layer.update(attrs)
        self.layers.append(layer)
        self.last = name
        return name

    def conv(self, name, out, kernel, stride=1, padding=0, groups=1, inputs=None, act="relu",
             bn=True):
        attrs = {"out_channels": out, "kernel": kernel}
        if stride != 1:
            attrs["stride"] = stride
        if padding != 0:
            attrs["padding"] = padding
        if groups != 1:
            attrs["groups"] = groups
        self.add(name, "conv2d", inputs, **attrs)
        if bn:
            self.add(name + "_bn", "batch_norm")
        if act:
            self.add(name + "_" + act, act)
        return self.last

    def head(self, classes=1000):
        self.add("avgpool", "global_avg_pool")
        self.add("flatten", "flatten")
        self.add("fc", "dense", units=classes)

    def doc(self):
        return {"name": self.name, "description": self.description,
                "input": {"name": "data", "shape": self.shape}, "layers": self.layers}


def resnet(depth):
    n = Net(f"resnet{depth}", f"torchvision ResNet-{depth} (v1.5: stride on the 3x3), "
            "inference graph, batch 1, 224x224", [1, 3, 224, 224])
    n.conv("conv1", 64, 7, 2, 3)
    n.add("maxpool", "max_pool", kernel=3, stride=2, padding=1)
    bottleneck = depth == 50
    blocks = [2, 2, 2, 2] if depth == 18 else [3, 4, 6, 3]
    in_ch = 64
    for stage, (width, count) in enumerate(zip([64, 128, 256, 512], blocks), start=1):
        for b in range(count):
            stride = 2 if stage > 1 and b == 0 else 1
            p = f"layer{stage}_{b}"
            x = n.last
            out_ch = width * 4 if bottleneck else width
            if bottleneck:
                n.conv(p + "_conv1", width, 1)
                n.conv(p + "_conv2", width, 3, stride, 1)
                y = n.conv(p + "_conv3", out_ch, 1, act=None)
            else:
                n.conv(p + "_conv1", width, 3, stride, 1)
                y = n.conv(p + "_conv2", width, 3, 1, 1, act=None)
            if stride != 1 or in_ch != out_ch:
                short = n.conv(p + "_downsample", out_ch, 1, stride, inputs=[x], act=None)
            else:
                short = x
            n.add(p + "_add", "add", [y, short])
            n.add(p + "_relu", "relu")
            in_ch = out_ch
    n.head()
    return n


def vgg16():
    n = Net("vgg16", "torchvision VGG-16 (no batch norm), inference graph, batch 1, 224x224",
            [1, 3, 224, 224])
    cfg = [64, 64, "M", 128, 128, "M", 256, 256, 256, "M", 512, 512, 512, "M", 512, 512, 512, "M"]
    block, idx = 1, 1
    for v in cfg:
        if v == "M":
            n.add(f"pool{block}", "max_pool", kernel=2, stride=2)
            block, idx = block + 1, 1
        else:
            n.conv(f"conv{block}_{idx}", v, 3, 1, 1, bn=False)
            idx += 1
    n.add("avgpool", "adaptive_avg_pool", output_size=7)
    n.add("flatten", "flatten")
    n.add("fc6", "dense", units=4096)
    n.add("fc6_relu", "relu")
    n.add("drop6", "dropout")
    n.add("fc7", "dense", units=4096)
    n.add("fc7_relu", "relu")
    n.add("drop7", "dropout")
    n.add("fc8", "dense", units=1000)
    return n


def alexnet():
    n = Net("alexnet", "torchvision AlexNet, inference graph, batch 1, 224x224", [1, 3, 224, 224])
    n.conv("conv1", 64, 11, 4, 2, bn=False)
    n.add("pool1", "max_pool", kernel=3, stride=2)
    n.conv("conv2", 192, 5, 1, 2, bn=False)
    n.add("pool2", "max_pool", kernel=3, stride=2)
    n.conv("conv3", 384, 3, 1, 1, bn=False)
    n.conv("conv4", 256, 3, 1, 1, bn=False)
    n.conv("conv5", 256, 3, 1, 1, bn=False)
    n.add("pool5", "max_pool", kernel=3, stride=2)
    n.add("avgpool", "adaptive_avg_pool", output_size=6)
    n.add("flatten", "flatten")
    n.add("drop6", "dropout")
    n.add("fc6", "dense", units=4096)
    n.add("fc6_relu", "relu")
    n.add("drop7", "dropout")
    n.add("fc7", "dense", units=4096)
    n.add("fc7_relu", "relu")
    n.add("fc8", "dense", units=1000)
    return n


def inception_v3():
    n = Net("inception_v3", "torchvision Inception-v3, inference graph (no aux logits), batch 1, "
            "299x299: asymmetric 1x7/7x1 and 1x3/3x1 kernels, odd spatial sizes", [1, 3, 299, 299])
    n.conv("Conv2d_1a_3x3", 32, 3, 2)
    n.conv("Conv2d_2a_3x3", 32, 3)
    n.conv("Conv2d_2b_3x3", 64, 3, 1, 1)
    n.add("maxpool1", "max_pool", kernel=3, stride=2)
    n.conv("Conv2d_3b_1x1", 80, 1)
    n.conv("Conv2d_4a_3x3", 192, 3)
    n.add("maxpool2", "max_pool", kernel=3, stride=2)

    def block_a(p, pool_features):
        x = n.last
        b1 = n.conv(p + "_branch1x1", 64, 1, inputs=[x])
        n.conv(p + "_branch5x5_1", 48, 1, inputs=[x])
        b5 = n.conv(p + "_branch5x5_2", 64, 5, 1, 2)
        n.conv(p + "_branch3x3dbl_1", 64, 1, inputs=[x])
        n.conv(p + "_branch3x3dbl_2", 96, 3, 1, 1)
        b3 = n.conv(p + "_branch3x3dbl_3", 96, 3, 1, 1)
        n.add(p + "_pool", "avg_pool", [x], kernel=3, stride=1, padding=1)
        bp = n.conv(p + "_branch_pool", pool_features, 1)
        n.add(p, "concat", [b1, b5, b3, bp], axis=1)

    def block_b(p):
        x = n.last
        b3 = n.conv(p + "_branch3x3", 384, 3, 2, inputs=[x])
        n.conv(p + "_branch3x3dbl_1", 64, 1, inputs=[x])
        n.conv(p + "_branch3x3dbl_2", 96, 3, 1, 1)
        bd = n.conv(p + "_branch3x3dbl_3", 96, 3, 2)
        bp = n.add(p + "_pool", "max_pool", [x], kernel=3, stride=2)
        n.add(p, "concat", [b3, bd, bp], axis=1)

    def block_c(p, c7):
        x = n.last
        b1 = n.conv(p + "_branch1x1", 192, 1, inputs=[x])
        n.conv(p + "_branch7x7_1", c7, 1, inputs=[x])
        n.conv(p + "_branch7x7_2", c7, [1, 7], 1, [0, 3])
        b7 = n.conv(p + "_branch7x7_3", 192, [7, 1], 1, [3, 0])
        n.conv(p + "_branch7x7dbl_1", c7, 1, inputs=[x])
        n.conv(p + "_branch7x7dbl_2", c7, [7, 1], 1, [3, 0])
        n.conv(p + "_branch7x7dbl_3", c7, [1, 7], 1, [0, 3])
        n.conv(p + "_branch7x7dbl_4", c7, [7, 1], 1, [3, 0])
        bd = n.conv(p + "_branch7x7dbl_5", 192, [1, 7], 1, [0, 3])
        n.add(p + "_pool", "avg_pool", [x], kernel=3, stride=1, padding=1)
        bp = n.conv(p + "_branch_pool", 192, 1)
        n.add(p, "concat", [b1, b7, bd, bp], axis=1)

    def block_d(p):
        x = n.last
        n.conv(p + "_branch3x3_1", 192, 1, inputs=[x])
        b3 = n.conv(p + "_branch3x3_2", 320, 3, 2)
        n.conv(p + "_branch7x7x3_1", 192, 1, inputs=[x])
        n.conv(p + "_branch7x7x3_2", 192, [1, 7], 1, [0, 3])
        n.conv(p + "_branch7x7x3_3", 192, [7, 1], 1, [3, 0])
        b7 = n.conv(p + "_branch7x7x3_4", 192, 3, 2)
        bp = n.add(p + "_pool", "max_pool", [x], kernel=3, stride=2)
        n.add(p, "concat", [b3, b7, bp], axis=1)

    def block_e(p):
        x = n.last
        b1 = n.conv(p + "_branch1x1", 320, 1, inputs=[x])
        s = n.conv(p + "_branch3x3_1", 384, 1, inputs=[x])
        a = n.conv(p + "_branch3x3_2a", 384, [1, 3], 1, [0, 1], inputs=[s])
        b = n.conv(p + "_branch3x3_2b", 384, [3, 1], 1, [1, 0], inputs=[s])
        b3 = n.add(p + "_branch3x3", "concat", [a, b], axis=1)
        n.conv(p + "_branch3x3dbl_1", 448, 1, inputs=[x])
        s = n.conv(p + "_branch3x3dbl_2", 384, 3, 1, 1)
        a = n.conv(p + "_branch3x3dbl_3a", 384, [1, 3], 1, [0, 1], inputs=[s])
        b = n.conv(p + "_branch3x3dbl_3b", 384, [3, 1], 1, [1, 0], inputs=[s])
        bd = n.add(p + "_branch3x3dbl", "concat", [a, b], axis=1)
        n.add(p + "_pool", "avg_pool", [x], kernel=3, stride=1, padding=1)
        bp = n.conv(p + "_branch_pool", 192, 1)
        n.add(p, "concat", [b1, b3, bd, bp], axis=1)

    block_a("Mixed_5b", 32)
    block_a("Mixed_5c", 64)
    block_a("Mixed_5d", 64)
    block_b("Mixed_6a")
    block_c("Mixed_6b", 128)
    block_c("Mixed_6c", 160)
    block_c("Mixed_6d", 160)
    block_c("Mixed_6e", 192)
    block_d("Mixed_7a")
    block_e("Mixed_7b")
    block_e("Mixed_7c")
    n.add("avgpool", "global_avg_pool")
    n.add("dropout", "dropout")
    n.add("flatten", "flatten")
    n.add("fc", "dense", units=1000)
    return n


def mobilenet_v2():
    n = Net("mobilenet_v2", "torchvision MobileNetV2, inference graph, batch 1, 224x224: "
            "depthwise (grouped) convolutions", [1, 3, 224, 224])
    n.conv("features_0", 32, 3, 2, 1, act="relu6")
    in_ch, idx = 32, 1
    for t, c, count, s in [[1, 16, 1, 1], [6, 24, 2, 2], [6, 32, 3, 2], [6, 64, 4, 2],
                           [6, 96, 3, 1], [6, 160, 3, 2], [6, 320, 1, 1]]:
        for i in range(count):
            stride = s if i == 0 else 1
            p = f"features_{idx}"
            x = n.last
            hidden = in_ch * t
            if t != 1:
                n.conv(p + "_expand", hidden, 1, act="relu6")
            n.conv(p + "_dw", hidden, 3, stride, 1, groups=hidden, act="relu6")
            y = n.conv(p + "_project", c, 1, act=None)
            if stride == 1 and in_ch == c:
                n.add(p + "_add", "add", [x, y])
            in_ch, idx = c, idx + 1
    n.conv(f"features_{idx}", 1280, 1, act="relu6")
    n.add("avgpool", "global_avg_pool")
    n.add("flatten", "flatten")
    n.add("dropout", "dropout")
    n.add("classifier", "dense", units=1000)
    return n


def write(net, folder):
    doc = net.doc()
    lines = [json.dumps(layer) for layer in doc["layers"]]
    head = ",\n".join(f"  {json.dumps(k)}: {json.dumps(v)}" for k, v in doc.items() if k != "layers")
    text = "{\n" + head + ',\n  "layers": [\n    ' + ",\n    ".join(lines) + "\n  ]\n}\n"
    json.loads(text)  # must stay valid JSON
    (Path(folder) / f"{net.name}.json").write_text(text)


if __name__ == "__main__":
    out = sys.argv[1] if len(sys.argv) > 1 else "networks"
    for make in [lambda: resnet(18), lambda: resnet(50), vgg16, alexnet, inception_v3, mobilenet_v2]:
        write(make(), out)
