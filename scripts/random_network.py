#!/usr/bin/env python3
"""Writes a random network of awkward conv2d layers (docs/network-format.md), for robustness
sweeps: prime channel counts, odd and non-square planes, asymmetric kernels, stride 2, dilation,
uneven padding, grouped and depthwise layers (some with a channel multiplier), batch up to 4.
The same seed gives the same network.

    python3 scripts/random_network.py SEED [--layers N] > net.json

For example, every template on every task of such a network in the host emulator:
    CHM_EMU_NETS=/tmp/net.json build/tests/chameleon_unit_tests "[.emu-all]"
"""
import argparse
import json
import random

PRIMES = [3, 5, 7, 11, 13, 17, 19, 23, 29, 31, 37, 41, 43, 47, 53, 59, 61, 67, 71, 73, 79, 83, 89, 97, 101, 127, 131]


def network(seed, layers):
    rng = random.Random(seed)
    n = rng.choice([1, 1, 2, 3, 4])
    c = rng.choice(PRIMES[:8] + [3, 16, 32])
    h, w = rng.randint(9, 61), rng.randint(9, 61)
    out = []
    shape = [n, c, h, w]
    while len(out) < layers:
        kh, kw = rng.choice([(1, 1), (3, 3), (3, 3), (3, 3), (5, 5), (7, 7), (1, 3), (3, 1), (1, 7)])
        stride = rng.choice([1, 1, 1, 2])
        dilation = rng.choice([1, 1, 1, 2]) if kh > 1 or kw > 1 else 1
        ph = rng.randint(0, dilation * (kh - 1) // 2 + 1)
        pw = rng.randint(0, dilation * (kw - 1) // 2 + 1)
        oh = (shape[2] + 2 * ph - dilation * (kh - 1) - 1) // stride + 1
        ow = (shape[3] + 2 * pw - dilation * (kw - 1) - 1) // stride + 1
        if oh < 1 or ow < 1:  # the plane got too small: start a new branch from the input
            shape = [n, c, h, w]
            continue
        layer = {"name": f"c{len(out) + 1}", "op": "conv2d", "input_shape": shape,
                 "out_channels": rng.choice(PRIMES + [64, 128]), "kernel": [kh, kw], "stride": stride,
                 "dilation": dilation, "padding": [ph, pw]}
        if rng.random() < 0.25:  # depthwise, sometimes with a channel multiplier
            layer["groups"] = shape[1]
            layer["out_channels"] = shape[1] * rng.choice([1, 1, 2])
        out.append(layer)
        shape = [n, layer["out_channels"], oh, ow]
    return {"name": f"random{seed}", "description": f"scripts/random_network.py {seed}", "layers": out}


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("seed", type=int)
    parser.add_argument("--layers", type=int, default=6)
    args = parser.parse_args()
    print(json.dumps(network(args.seed, args.layers), indent=1))


if __name__ == "__main__":
    main()
