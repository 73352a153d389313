#!/usr/bin/env python3
"""Fails (exit 1) when a bench is slower than the previous one beyond a threshold.

Usage: check_regression.py BENCH_JSON PREVIOUS_BENCH_JSON [--threshold PERCENT]
Both files are `chameleon bench --json` output. The network total (weighted by layer counts)
and every kernel are compared; a missing previous bench passes (first run).
"""
import argparse
import json
import sys
from pathlib import Path


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("bench")
    ap.add_argument("previous")
    ap.add_argument("--threshold", type=float, default=3.0, help="allowed slowdown in percent")
    args = ap.parse_args()
    now = json.loads(Path(args.bench).read_text())
    if not Path(args.previous).exists():
        print(f"no previous bench ({args.previous}): nothing to compare")
        return 0
    before = json.loads(Path(args.previous).read_text())
    limit = 1 + args.threshold / 100
    failures = []
    t_now, t_before = now["total_ours_seconds"], before["total_ours_seconds"]
    print(f"network total: {t_before * 1e6:.2f} us -> {t_now * 1e6:.2f} us")
    if t_before > 0 and t_now > t_before * limit:
        failures.append(f"network total {t_before * 1e6:.2f} -> {t_now * 1e6:.2f} us")
    previous = {k["workload"]: k for k in before["kernels"]}
    for k in now["kernels"]:
        old = previous.get(k["workload"])
        if old is None or old["ours"]["error_no"] != 0:
            continue
        if k["ours"]["error_no"] != 0:
            failures.append(f"{k['kernel']} ({k['workload']}) now fails: {k['ours']['message']}")
            continue
        a, b = old["ours"]["median"], k["ours"]["median"]
        if b > a * limit:
            failures.append(f"{k['kernel']} ({k['workload']}): {a * 1e6:.2f} -> {b * 1e6:.2f} us")
    if failures:
        print(f"regressions beyond {args.threshold}%:")
        for f in failures:
            print("  " + f)
        return 1
    print(f"no regression beyond {args.threshold}%")
    return 0


if __name__ == "__main__":
    sys.exit(main())
