#!/usr/bin/env python3
"""Compares tuners on the sim device over several seeds: best GFLOPS reached after N measurements.

Usage: scripts/bench_tuners.py [--exe build/apps/chameleon] [--network networks/resnet18.json]
           [--tasks 4,7,10] [--tuners autotvm,random] [--seeds 5] [--trials 512] [--compile]
Without --compile the sim estimates registers instead of running NVRTC (fast; see
docs/measurement.md). Prints a markdown table per task and the mean over tasks, with the mean wall
time of one tune (the tuner's own CPU cost, when registers are estimated).
"""
import argparse
import json
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path


def best_curve(log_path, flops_by_workload, trials):
    """Best GFLOPS after each measurement, in log order."""
    curve, best = [], 0.0
    for line in Path(log_path).read_text().splitlines():
        if not line.strip() or line.startswith("#"):
            continue  # run headers
        rec = json.loads(line)
        cham = rec["chameleon"]
        if rec["result"][1] == 0:
            key = json.dumps(cham["workload"], sort_keys=True)
            best = max(best, flops_by_workload[key] / cham["median"] / 1e9)
        curve.append(best)
    return curve[:trials]


def flops(w):
    oh = (w["H"] + w["padding"][0] + w["padding"][2] - w["dilation"][0] * (w["R"] - 1) - 1) // w["stride"][0] + 1
    ow = (w["W"] + w["padding"][1] + w["padding"][3] - w["dilation"][1] * (w["S"] - 1) - 1) // w["stride"][1] + 1
    return 2 * w["N"] * w["K"] * oh * ow * (w["C"] // w["groups"]) * w["R"] * w["S"]


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--exe", default="build/apps/chameleon")
    ap.add_argument("--network", default="networks/resnet18.json")
    ap.add_argument("--tasks", default="4,7,10")
    ap.add_argument("--tuners", default="autotvm,random")
    ap.add_argument("--seeds", type=int, default=5)
    ap.add_argument("--trials", type=int, default=512)
    ap.add_argument("--target", default="h100")
    ap.add_argument("--compile", action="store_true", help="compile with NVRTC (slow)")
    args = ap.parse_args()

    tasks = json.loads(subprocess.run([args.exe, "tasks", args.network, "--json"], check=True,
                                      capture_output=True, text=True).stdout)["tasks"]
    flops_by_workload = {json.dumps(t["workload"], sort_keys=True): flops(t["workload"]) for t in tasks}
    checkpoints = [c for c in (32, 64, 128, 256, 512, 1000, 2000) if c <= args.trials]
    results = {}  # (tuner, task) -> [curve per seed]
    seconds = {}  # tuner -> [wall seconds per tune]
    with tempfile.TemporaryDirectory() as tmp:
        for tuner in args.tuners.split(","):
            for task in args.tasks.split(","):
                for seed in range(args.seeds):
                    log = Path(tmp) / f"{tuner}-{task}-{seed}.jsonl"
                    cmd = [args.exe, "-q", "tune", args.network, "--device", "sim", "--target", args.target,
                           "--tuner", tuner, "--tasks", task, "--trials", str(args.trials),
                           "--seed", str(seed), "--log", str(log), "--progress", "none", "--json"]
                    if not args.compile:
                        cmd.append("--sim-estimate")
                    start = time.monotonic()
                    subprocess.run(cmd, check=True, capture_output=True, text=True)
                    seconds.setdefault(tuner, []).append(time.monotonic() - start)
                    results.setdefault((tuner, task), []).append(best_curve(log, flops_by_workload, args.trials))
                    print(f"done {tuner} task {task} seed {seed}", file=sys.stderr)

    print(f"Best GFLOPS after N measurements (sim device, target {args.target}, "
          f"{'compiled' if args.compile else 'estimated resources'}), mean over {args.seeds} seeds "
          f"(min..max)\n")
    header = "| task | tuner | " + " | ".join(f"N={c}" for c in checkpoints) + " |"
    print(header)
    print("|" + "---|" * (2 + len(checkpoints)))
    for (tuner, task), curves in sorted(results.items(), key=lambda kv: (kv[0][1], kv[0][0])):
        cells = []
        for c in checkpoints:
            vals = [curve[min(c, len(curve)) - 1] for curve in curves]
            cells.append(f"{statistics.mean(vals):.0f} ({min(vals):.0f}..{max(vals):.0f})")
        print(f"| {task} | {tuner} | " + " | ".join(cells) + " |")
    # Mean over tasks, relative to the best tuner at the final checkpoint.
    print()
    final = checkpoints[-1]
    for tuner in args.tuners.split(","):
        rel = []
        for task in args.tasks.split(","):
            per_tuner = {t: statistics.mean(c[min(final, len(c)) - 1] for c in results[(t, task)])
                         for t in args.tuners.split(",")}
            rel.append(per_tuner[tuner] / max(per_tuner.values()))
        print(f"{tuner}: mean best at N={final} is {100 * statistics.mean(rel):.1f}% of the best tuner's; "
              f"{statistics.mean(seconds[tuner]):.1f} s per tune on average")


if __name__ == "__main__":
    main()
