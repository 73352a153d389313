#!/usr/bin/env python3
"""What a PyTorch user gets for each kernel of a kernels folder (`chameleon replay`'s), timed on
this machine's GPU, for `chameleon bench DIR --baseline FILE` to show beside ours and cuDNN's.

  scripts/torch_baseline.py KERNELS_DIR [--out FILE] [--allow-tf32]
  scripts/torch_baseline.py KERNELS_DIR --plan     the PyTorch calls of each kernel; no PyTorch needed

For each kernel's workload (manifest.json): the same shapes and type, as a PyTorch user writes
them: `F.conv2d` (with `F.pad` first where the padding is not symmetric), then, for a fused
kernel, its epilogue as PyTorch's own operators (`+ bias` through conv2d's bias, `add_` of the
residual, the in-place activation). `torch.backends.cudnn.benchmark` is on, so cuDNN tries its
engines for each shape and keeps the fastest; both memory formats are timed (contiguous NCHW and
channels_last, whose fp16 kernels cuDNN often prefers) and the faster is kept. Timing follows
chameleon's own protocol (docs/measurement.md): a warm-up, one timed call that sets how many calls
a round holds (at least --min-repeat-ms), those calls captured in one CUDA graph, --repeat rounds
timed by CUDA events, the median per call. Every output is checked against a float64 computation
of the same operators with the tolerance chameleon verifies kernels of that type with; a wrong
result is that kernel's error, not a time.

The output (schema chameleon-baseline/1) names the device, PyTorch, cuDNN, the date and the
protocol; bench matches its entries to kernels by workload and warns when the device is not the
one it runs on. Needs PyTorch with CUDA (scripts/gpu-run.sh runs it on the GPU host's PyTorch).
"""
import argparse
import datetime
import json
import statistics
import sys
from pathlib import Path

SCHEMA = "chameleon-baseline/1"
ACTIVATIONS = ("none", "relu", "relu6", "silu", "hardswish")
DTYPES = ("float32", "float16", "bfloat16")
# Tolerances of chameleon's verification (lib/include/chameleon/measure/options.hpp).
TOLERANCE = {"float32": 1e-4, "tf32": 5e-3, "float16": 2e-3, "bfloat16": 1.6e-2}


class ManifestError(Exception):
    pass


def read_kernels(folder):
    """(name, count, workload) of every readable kernel of FOLDER/manifest.json."""
    path = Path(folder) / "manifest.json"
    try:
        manifest = json.loads(path.read_text())
    except FileNotFoundError:
        raise ManifestError(f"{path}: no manifest (a kernels folder is what chameleon replay writes)")
    except (OSError, ValueError) as e:
        raise ManifestError(f"{path}: not a manifest ({e})")
    if not isinstance(manifest, dict) or not isinstance(manifest.get("kernels"), list):
        raise ManifestError(f"{path}: not a manifest (no kernels list)")
    out = []
    for i, k in enumerate(manifest["kernels"]):
        name = k.get("name", f"kernel #{i + 1}") if isinstance(k, dict) else f"kernel #{i + 1}"
        try:
            wl = check_workload(k["workload"])
        except (KeyError, TypeError, ValueError) as e:
            print(f"torch_baseline: {path}: {name}: skipped, its workload cannot be read ({e})",
                  file=sys.stderr)
            continue
        out.append((name, int(k.get("count", 1)), wl))
    if not out:
        raise ManifestError(f"{path}: no kernel with a readable workload")
    return out


def check_workload(wl):
    for key in ("N", "C", "H", "W", "K", "R", "S"):
        if not isinstance(wl[key], int) or wl[key] < 1:
            raise ValueError(f"{key} must be a positive integer")
    if len(wl["stride"]) != 2 or len(wl["padding"]) != 4 or len(wl["dilation"]) != 2:
        raise ValueError("stride and dilation need 2 values, padding 4")
    if wl.get("dtype", "float32") not in DTYPES:
        raise ValueError(f"unknown dtype {wl['dtype']!r}")
    act = wl.get("epilogue", {}).get("activation", "none")
    if act not in ACTIVATIONS:
        raise ValueError(f"unknown activation {act!r}")
    return wl


def epilogue_of(wl):
    e = wl.get("epilogue", {})
    return bool(e.get("bias")), bool(e.get("residual")), e.get("activation", "none")


def padding_of(wl):
    """(conv2d's symmetric padding, F.pad's (left, right, top, bottom) or None)."""
    top, left, bottom, right = wl["padding"]
    if top == bottom and left == right:
        return (top, left), None
    return (0, 0), (left, right, top, bottom)


def plan(wl):
    """The PyTorch calls for one workload, as text."""
    bias, residual, act = epilogue_of(wl)
    conv_pad, pad = padding_of(wl)
    calls = []
    if pad:
        calls.append(f"x = F.pad(x, {list(pad)})")
    calls.append(f"y = F.conv2d(x [{wl['N']},{wl['C']},{wl['H']},{wl['W']}], "
                 f"w [{wl['K']},{wl['C'] // wl.get('groups', 1)},{wl['R']},{wl['S']}], "
                 f"{'bias' if bias else 'None'}, stride={tuple(wl['stride'])}, "
                 f"padding={conv_pad}, dilation={tuple(wl['dilation'])}, "
                 f"groups={wl.get('groups', 1)})")
    if residual:
        calls.append("y.add_(residual)")
    if act != "none":
        calls.append(f"F.{act}(y, inplace=True)")
    return f"{wl.get('dtype', 'float32')}: " + "; ".join(calls)


def launches_per_round(single_ms, min_repeat_ms, max_number):
    """As chameleon's measure/stats.cpp."""
    max_number = max(1, max_number)
    if not single_ms > 0:
        return max_number
    n = -(-min_repeat_ms // single_ms)
    return int(min(max(n, 1), max_number))


class Case:
    """One workload's tensors and its PyTorch function."""

    def __init__(self, torch, wl, seed, channels_last, device="cuda"):
        import torch.nn.functional as F
        self.torch, self.F, self.wl = torch, F, wl
        dtype = getattr(torch, wl.get("dtype", "float32"))
        g = torch.Generator(device=device).manual_seed(seed)
        groups = wl.get("groups", 1)
        fmt = torch.channels_last if channels_last else torch.contiguous_format

        def draw(*shape):
            t = torch.rand(*shape, generator=g, device=device, dtype=torch.float32) * 2 - 1
            return t.to(dtype)

        self.x = draw(wl["N"], wl["C"], wl["H"], wl["W"]).contiguous(memory_format=fmt)
        self.w = draw(wl["K"], wl["C"] // groups, wl["R"], wl["S"]).contiguous(memory_format=fmt)
        self.bias_on, self.residual_on, self.act = epilogue_of(wl)
        self.conv_pad, self.pad = padding_of(wl)
        self.b = draw(wl["K"]) if self.bias_on else None
        out_shape = self.conv(self.x, self.w, self.b).shape
        self.res = draw(*out_shape).contiguous(memory_format=fmt) if self.residual_on else None

    def conv(self, x, w, b):
        wl = self.wl
        if self.pad:
            x = self.F.pad(x, self.pad)
        return self.F.conv2d(x, w, b, stride=tuple(wl["stride"]), padding=self.conv_pad,
                             dilation=tuple(wl["dilation"]), groups=wl.get("groups", 1))

    def run(self, x=None, w=None, b=None, res=None):
        x = self.x if x is None else x
        w = self.w if w is None else w
        b = self.b if b is None else b
        res = self.res if res is None else res
        y = self.conv(x, w, b)
        if self.residual_on:
            y.add_(res)
        if self.act != "none":
            y = getattr(self.F, self.act)(y, inplace=True)
        return y

    def max_error(self, tolerance):
        """(worst |out - ref| / (atol + rtol |ref|), worst absolute error) against float64."""
        out = self.run().double()
        d = self.torch.float64
        ref = self.run(self.x.to(d), self.w.to(d), None if self.b is None else self.b.to(d),
                       None if self.res is None else self.res.to(d))
        err = (out - ref).abs()
        return float((err / (tolerance + tolerance * ref.abs())).max()), float(err.max())


def time_call(torch, fn, repeat, min_repeat_ms, max_number, cuda_graph, warmup):
    """Median seconds per call and the rounds' spread, with chameleon's protocol."""
    stream = torch.cuda.Stream()
    stream.wait_stream(torch.cuda.current_stream())
    with torch.cuda.stream(stream):
        for _ in range(max(warmup, 3)):  # cudnn.benchmark chooses its engine on the first call
            fn()
        e0, e1 = torch.cuda.Event(enable_timing=True), torch.cuda.Event(enable_timing=True)
        e0.record()
        fn()
        e1.record()
        e1.synchronize()
        number = launches_per_round(e0.elapsed_time(e1), min_repeat_ms, max_number)
    torch.cuda.current_stream().wait_stream(stream)
    graph = None
    if cuda_graph:
        try:
            graph = torch.cuda.CUDAGraph()
            with torch.cuda.graph(graph):
                for _ in range(number):
                    fn()
        except RuntimeError as e:
            print(f"torch_baseline: CUDA graph capture failed ({e}); timing eager calls",
                  file=sys.stderr)
            graph = None
    costs = []
    for _ in range(max(1, repeat)):
        e0, e1 = torch.cuda.Event(enable_timing=True), torch.cuda.Event(enable_timing=True)
        e0.record()
        if graph is not None:
            graph.replay()
        else:
            for _ in range(number):
                fn()
        e1.record()
        e1.synchronize()
        costs.append(e0.elapsed_time(e1) / 1000.0 / number)
    med = statistics.median(costs)
    return med, (max(costs) - min(costs)) / med if med > 0 else 0.0, number, graph is not None


def time_kernel(torch, name, wl, args):
    dtype = wl.get("dtype", "float32")
    kind = "tf32" if dtype == "float32" and args.allow_tf32 else dtype
    reduction = wl["C"] // wl.get("groups", 1) * wl["R"] * wl["S"] * 2.0**-24
    tolerance = max(1e-4, TOLERANCE[kind] + (reduction if dtype != "float32" else 0.0))
    entry = {"name": name, "workload": wl, "plan": plan(wl)}
    best = None
    for channels_last in (False, True):
        fmt = "channels_last" if channels_last else "contiguous"
        try:
            case = Case(torch, wl, args.seed, channels_last)
            worst, abs_err = case.max_error(tolerance)
            if not worst <= 1.0:  # NaN fails too
                entry.setdefault("wrong", []).append(
                    f"{fmt}: error {abs_err:.3g} exceeds the tolerance {tolerance:.3g}")
                continue
            med, spread, number, graphed = time_call(torch, case.run, args.repeat,
                                                     args.min_repeat_ms, args.max_number,
                                                     not args.no_cuda_graph, args.warmup)
            conv_med, _, _, _ = time_call(torch, lambda: case.conv(case.x, case.w, case.b),
                                          args.repeat, args.min_repeat_ms, args.max_number,
                                          not args.no_cuda_graph, args.warmup)
        except RuntimeError as e:  # out of memory, no engine for the type, ...
            entry.setdefault("failed", []).append(f"{fmt}: {str(e).splitlines()[0]}")
            torch.cuda.empty_cache()
            continue
        if best is None or med < best["median_s"]:
            best = {"median_s": med, "spread": spread, "number": number, "cuda_graph": graphed,
                    "memory_format": fmt, "conv_median_s": conv_med, "max_abs_error": abs_err}
        del case
        torch.cuda.empty_cache()
    if best is None:
        why = entry.get("wrong", []) + entry.get("failed", [])
        entry["error"] = "; ".join(why) or "not timed"
    else:
        entry.update(best)
    return entry


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0],
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("kernels", help="a kernels folder (chameleon replay's)")
    ap.add_argument("--out", help="where the JSON goes (default: KERNELS/baseline-pytorch.json)")
    ap.add_argument("--plan", action="store_true",
                    help="print the PyTorch calls of each kernel and stop (no PyTorch needed)")
    ap.add_argument("--allow-tf32", action="store_true",
                    help="let cuDNN use TF32 for float32 kernels (as bench --allow-tf32)")
    ap.add_argument("--repeat", type=int, default=5)
    ap.add_argument("--warmup", type=int, default=3)
    ap.add_argument("--min-repeat-ms", type=float, default=1.0)
    ap.add_argument("--max-number", type=int, default=10000)
    ap.add_argument("--no-cuda-graph", action="store_true")
    ap.add_argument("--seed", type=int, default=0)
    args = ap.parse_args()
    try:
        kernels = read_kernels(args.kernels)
    except ManifestError as e:
        sys.exit(f"torch_baseline: {e}")
    if args.plan:
        for name, count, wl in kernels:
            print(f"{name} (x{count}) {plan(wl)}")
        return
    try:
        import torch
    except ImportError as e:
        sys.exit(f"torch_baseline: needs PyTorch with CUDA ({e}); --plan prints the calls without it")
    if not torch.cuda.is_available():
        sys.exit(f"torch_baseline: PyTorch {torch.__version__} sees no CUDA GPU: the baseline is a "
                 "GPU's time (--plan prints the calls without one)")
    torch.backends.cudnn.benchmark = True
    torch.backends.cudnn.allow_tf32 = args.allow_tf32
    torch.backends.cuda.matmul.allow_tf32 = args.allow_tf32
    device = torch.cuda.get_device_name()
    description = (f"PyTorch {torch.__version__} (cuDNN {torch.backends.cudnn.version()}, "
                   f"cudnn.benchmark, {'CUDA graph' if not args.no_cuda_graph else 'eager'}, "
                   f"TF32 {'on' if args.allow_tf32 else 'off'})")
    print(f"torch_baseline: {len(kernels)} kernels on {device}, {description}", file=sys.stderr)
    entries = []
    with torch.no_grad():
        for i, (name, count, wl) in enumerate(kernels, 1):
            entry = time_kernel(torch, name, wl, args)
            entry["count"] = count
            entries.append(entry)
            shown = (f"{entry['median_s'] * 1e6:.2f} us ({entry['memory_format']})"
                     if "median_s" in entry else f"error: {entry['error']}")
            print(f"  [{i}/{len(kernels)}] {name}: {shown}", file=sys.stderr)
    out = {
        "schema": SCHEMA,
        "baseline": "PyTorch",
        "description": description,
        "device": device,
        "date": datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ"),
        "torch": torch.__version__,
        "cudnn": torch.backends.cudnn.version(),
        "allow_tf32": args.allow_tf32,
        "protocol": {"repeat": args.repeat, "warmup": args.warmup,
                     "min_repeat_ms": args.min_repeat_ms, "max_number": args.max_number,
                     "cuda_graph": not args.no_cuda_graph, "seed": args.seed},
        "kernels": entries,
    }
    path = Path(args.out) if args.out else Path(args.kernels) / "baseline-pytorch.json"
    path.write_text(json.dumps(out, indent=1) + "\n")
    failed = sum("error" in e for e in entries)
    print(f"torch_baseline: wrote {path}" + (f" ({failed} kernels not timed)" if failed else ""),
          file=sys.stderr)


if __name__ == "__main__":
    main()
