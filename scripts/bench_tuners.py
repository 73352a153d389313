#!/usr/bin/env python3
"""Compares the tuners, over many seeds, on recorded ground truth or on the sim device.

On recorded slices (the measurement dataset, docs/measurement.md): every tuner tunes every complete
slice of a recording on `--device recorded:FILE`, whose answers are what the GPU measured, whose
optimum is known exactly, and whose compile and measurement times are charged as the recording
host spent them (the tuners' own exploring and fitting really runs here). Per slice and tuner:

- measurements and modelled wall time to reach 90%, 95%, 99% and 100% of the optimum (the
  optimum's time over the best time found): median and interquartile range over the seeds, with
  how many runs reached it at all within the budget. A run stops when it finds the optimum
  (`tune --goal-us`): nothing after it could change any of these figures;
- the autotuning-methodology score (Willemsen et al., "A methodology for comparing optimization
  algorithms for auto-tuning", 2024): at every measurement n of the budget,
  (R(n) - best(n)) / (R(n) - optimum), R(n) the expected best time of random search after n
  draws without replacement from the slice's tunable configs (computed exactly, not sampled; a
  failed config counts as a draw at the slice's worst time, as does having found nothing yet),
  averaged over the budget: 0 is random search, 1 the optimum from the first measurement; the
  mean over seeds with a 95% confidence interval (Student's t);
- the best after the whole budget, as a share of the optimum;
- curves (SVG, drawn by `chameleon report --charts`): the median over seeds of best-so-far against
  measurements and against modelled time.

Usage:
  scripts/bench_tuners.py --recorded tests/data/measurements/DEVICE [--slices a,b]
      [--tuners chameleon,ae,sa-as,autotvm,random] [--seeds 25] [--trials 256] [--jobs N]
      [--out bench-tuners] [--exe build/apps/chameleon]
      [--variant 'NAME=TUNER --tune-option ...' ...]
  scripts/bench_tuners.py --network networks/resnet18.json --tasks 4,7,10 [--seeds 5]
      [--trials 512] [--compile]     (the sim device: our own model's landscape, not a GPU's)

Writes OUT/report.md (also printed), OUT/results.json (every run's curve) and OUT/*.svg.
"""
import argparse
import concurrent.futures
import json
import math
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

TUNERS = "chameleon,ae,sa-as,autotvm,random"
TARGETS = (0.90, 0.95, 0.99, 1.0)
# Student's t, two-sided 95%, by degrees of freedom (beyond the table: 1.96).
T95 = {1: 12.706, 2: 4.303, 3: 3.182, 4: 2.776, 5: 2.571, 6: 2.447, 7: 2.365, 8: 2.306, 9: 2.262,
       10: 2.228, 12: 2.179, 14: 2.145, 16: 2.120, 19: 2.093, 24: 2.064, 29: 2.045, 39: 2.023,
       49: 2.010, 99: 1.984}


def t95(df):
    if df < 1:
        return float("nan")
    for d in sorted(T95):
        if df <= d:
            return T95[d]
    return 1.96


def run(cmd, **kw):
    return subprocess.run(cmd, check=True, capture_output=True, text=True, **kw)


def flops(w):
    oh = (w["H"] + w["padding"][0] + w["padding"][2] - w["dilation"][0] * (w["R"] - 1) - 1) // w["stride"][0] + 1
    ow = (w["W"] + w["padding"][1] + w["padding"][3] - w["dilation"][1] * (w["S"] - 1) - 1) // w["stride"][1] + 1
    return 2 * w["N"] * w["K"] * oh * ow * (w["C"] // w["groups"]) * w["R"] * w["S"]


def one_layer_network(name, w):
    """A network of the slice's one convolution (docs/network-format.md, a list of conv2d layers)."""
    return {"name": name, "layers": [{
        "name": "conv", "op": "conv2d", "input_shape": [w["N"], w["C"], w["H"], w["W"]],
        "out_channels": w["K"], "kernel": [w["R"], w["S"]], "stride": w["stride"],
        "padding": w["padding"], "dilation": w["dilation"], "groups": w["groups"]}]}


def read_run(log_path):
    """(time or None, elapsed_s) of every record of a tune's log, in log order."""
    out = []
    for line in Path(log_path).read_text().splitlines():
        if not line.startswith("{"):
            continue
        rec = json.loads(line)
        cham = rec["chameleon"]
        ok = rec["result"][1] == 0
        elapsed = cham.get("settings", {}).get("tune", {}).get("elapsed_s", float("nan"))
        out.append((cham["median"] if ok else None, elapsed))
    return out


def random_baseline(times, budget):
    """R(n) for n = 1..budget: the expected best time of n draws without replacement from `times`
    (None, a failed config, counts as the worst time)."""
    worst = max(t for t in times if t is not None)
    ts = sorted(worst if t is None else t for t in times)
    n_all = len(ts)
    out = []
    for n in range(1, min(budget, n_all) + 1):
        # S(k) = P(the best drawn has rank >= k) = C(n_all - k + 1, n) / C(n_all, n).
        s, e = 1.0, 0.0
        for k in range(1, n_all + 1):
            remaining = n_all - k + 1  # configs of rank >= k
            s_next = s * (remaining - n) / remaining if remaining > n else 0.0
            e += ts[k - 1] * (s - s_next)
            s = s_next
            if s == 0.0:
                break
        out.append(e)
    return out


def run_metrics(records, optimum, worst, baseline):
    """Per run: best-so-far (time) per measurement, measurements and modelled seconds to each target,
    methodology score over the budget, and the final fraction of the optimum."""
    best, curve, clock = math.inf, [], []
    for t, elapsed in records:
        if t is not None:
            best = min(best, t)
        curve.append(best)
        clock.append(elapsed)
    reached = {}
    for x in TARGETS:
        hit = next((i for i, b in enumerate(curve) if b < math.inf and optimum / b >= x - 1e-12), None)
        reached[x] = (None, None) if hit is None else (hit + 1, clock[hit])
    scores = []
    for n, r in enumerate(baseline, start=1):
        b = curve[min(n, len(curve)) - 1] if curve else math.inf
        b = min(b, worst)
        scores.append((r - b) / (r - optimum) if r > optimum else 1.0)
    return {"curve": curve, "clock": clock, "reached": reached,
            "score": statistics.mean(scores) if scores else 0.0,
            "final": optimum / curve[-1] if curve and curve[-1] < math.inf else 0.0,
            "modelled_s": clock[-1] if clock else 0.0}


def quartiles(values):
    """Median and IQR of values where None (never reached) counts as larger than any number."""
    key = sorted(values, key=lambda v: (v is None, v if v is not None else 0))
    def at(q):
        i = q * (len(key) - 1)
        lo, hi = key[int(math.floor(i))], key[int(math.ceil(i))]
        if lo is None or hi is None:
            return None
        return lo + (hi - lo) * (i - math.floor(i))
    return at(0.25), at(0.5), at(0.75)


def fmt(v, unit=""):
    if v is None:
        return "never"
    if unit == "s":
        return f"{v:.0f} s" if v >= 10 else f"{v:.1f} s"
    return f"{v:.0f}"


def median_curve(curves, optimum, length):
    pts = []
    for n in range(1, length + 1):
        vals = [optimum / c[min(n, len(c)) - 1] if c and c[min(n, len(c)) - 1] < math.inf else 0.0 for c in curves]
        pts.append([n, 100 * statistics.median(vals)])
    return pts


def median_time_curve(runs, optimum, t_max, steps=120):
    pts = []
    for i in range(steps + 1):
        t = t_max * i / steps
        vals = []
        for r in runs:
            best = math.inf
            for b, c in zip(r["curve"], r["clock"]):
                if c <= t:
                    best = b
            vals.append(optimum / best if best < math.inf else 0.0)
        pts.append([t, 100 * statistics.median(vals)])
    return pts


def parse_variants(specs):
    """'NAME=TUNER --option value ...' -> {NAME: ['--tuner', TUNER, '--option', 'value', ...]}."""
    out = {}
    for spec in specs or []:
        name, sep, rest = spec.partition("=")
        words = rest.split()
        if not sep or not name or not words or "," in name:
            sys.exit(f"bench_tuners: --variant wants 'NAME=TUNER [tune options]', got '{spec}'")
        out[name] = ["--tuner", words[0], *words[1:]]
    return out


def others_of(s, slices):
    """The files of the slices of s's template on other workloads (other tasks)."""
    key = json.dumps(s["workload"], sort_keys=True)
    return [o["file"] for o in slices
            if o["template"] == s["template"] and json.dumps(o["workload"], sort_keys=True) != key]


def bench_recorded(args):
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    info = json.loads(run([args.exe, "-q", "dataset", args.recorded, "--json", "--times"]).stdout)
    slices = complete = [s for s in info["slices"] if s["complete"]]
    if args.slices:
        wanted = args.slices.split(",")
        slices = [s for s in slices if s["slice"] in wanted]
        missing = set(wanted) - {s["slice"] for s in slices}
        if missing:
            sys.exit(f"bench_tuners: no complete slice named {', '.join(sorted(missing))} in {args.recorded}")
    if not slices:
        sys.exit(f"bench_tuners: {args.recorded} holds no complete slice")
    tuners = [t for t in args.tuners.split(",") if t]
    variants = parse_variants(args.variant)
    tuners += [v for v in variants if v not in tuners]
    seeds = list(range(args.seeds))
    jobs = []
    work = Path(tempfile.mkdtemp(prefix="bench-tuners-", dir=out))
    for s in slices:
        net = work / f"{s['slice']}.json"
        net.write_text(json.dumps(one_layer_network(s["slice"], s["workload"])))
        for tuner in tuners:
            for seed in seeds:
                log = work / f"{s['slice']}-{tuner}-{seed}.jsonl"
                words = variants.get(tuner, ["--tuner", tuner])
                # @history-others: the model starts trained on the other tasks' slices of the
                # template (leave-one-task-out); else nothing is transferred.
                transfer = ["--no-transfer"]
                if "@history-others" in words:
                    words = [w for w in words if w != "@history-others"]
                    transfer = [a for f in others_of(s, complete) for a in ("--history", f)]
                cmd = [args.exe, "-q", "tune", str(net), "--device", f"recorded:{s['file']}",
                       "--templates", s["template"], *words, "--seed", str(seed),
                       "--trials", str(args.trials), "--log", str(log), "--progress", "none",
                       "--json", "--xgb-threads", "1", *transfer,
                       "--goal-us", repr(s["optimum"]["seconds"] * 1e6)]
                jobs.append((s["slice"], tuner, seed, cmd, log))
    env = dict(os.environ, OMP_NUM_THREADS="1")
    results = {}
    started = time.monotonic()

    def one(job):
        name, tuner, seed, cmd, log = job
        t0 = time.monotonic()
        run(cmd, env=env)
        return name, tuner, seed, read_run(log), time.monotonic() - t0

    with concurrent.futures.ThreadPoolExecutor(max_workers=args.jobs) as pool:
        for i, (name, tuner, seed, records, wall) in enumerate(pool.map(one, jobs), start=1):
            results.setdefault((name, tuner), []).append({"seed": seed, "records": records, "wall_s": wall})
            if i % max(1, len(jobs) // 20) == 0 or i == len(jobs):
                print(f"bench_tuners: {i}/{len(jobs)} tunes, {time.monotonic() - started:.0f} s", file=sys.stderr)
    elapsed = time.monotonic() - started

    lines = [f"Tuners on recorded slices of `{args.recorded}`: {len(seeds)} seeds, a budget of {args.trials} "
             f"measurements (at most the slice's size), {len(jobs)} tunes in {elapsed:.0f} s "
             f"({args.jobs} at a time).", ""]
    charts, summary = [], {}
    for s in slices:
        name = s["slice"]
        optimum = s["optimum"]["seconds"]
        times = s["times"]
        worst = max(t for t in times if t is not None)
        budget = min(args.trials, len(times))
        baseline = random_baseline(times, budget)
        dev = s["device"]
        lines += [f"### {name}: {s['template']}, {len(times)} configs, optimum {optimum * 1e6:.3f} us "
                  f"({flops(s['workload']) / optimum / 1e9:.0f} GFLOPS), recorded on {dev}", "",
                  "| tuner | score (95% CI) | best at budget | " +
                  " | ".join(f"meas. to {int(x * 100)}%" for x in TARGETS) + " | " +
                  " | ".join(f"time to {int(x * 100)}%" for x in TARGETS) + " |",
                  "|---|---|---|" + "---|" * (2 * len(TARGETS))]
        series_n, series_t = [], []
        t_max = 0.0
        per_tuner = {}
        for tuner in tuners:
            runs = [run_metrics(r["records"], optimum, worst, baseline) for r in results[(name, tuner)]]
            per_tuner[tuner] = runs
            t_max = max([t_max] + [r["modelled_s"] for r in runs])
        for tuner in tuners:
            runs = per_tuner[tuner]
            scores = [r["score"] for r in runs]
            mean = statistics.mean(scores)
            half = t95(len(scores) - 1) * statistics.stdev(scores) / math.sqrt(len(scores)) if len(scores) > 1 else float("nan")
            cells_n, cells_t = [], []
            entry = {"score": mean, "score_ci95": half, "final": statistics.mean(r["final"] for r in runs)}
            for x in TARGETS:
                got = [r["reached"][x] for r in runs]
                n_reached = sum(1 for g in got if g[0] is not None)
                qn = quartiles([g[0] for g in got])
                qt = quartiles([g[1] for g in got])
                tail = "" if n_reached == len(got) else f"; {n_reached}/{len(got)} reach it"
                cells_n.append(f"{fmt(qn[1])} ({fmt(qn[0])} to {fmt(qn[2])}{tail})")
                cells_t.append(f"{fmt(qt[1], 's')} ({fmt(qt[0], 's')} to {fmt(qt[2], 's')})")
                entry[f"measurements_to_{int(x * 100)}"] = qn
                entry[f"seconds_to_{int(x * 100)}"] = qt
                entry[f"reached_{int(x * 100)}"] = n_reached
            lines.append(f"| {tuner} | {mean:.3f} (±{half:.3f}) | {100 * entry['final']:.1f}% | " +
                         " | ".join(cells_n) + " | " + " | ".join(cells_t) + " |")
            summary.setdefault(name, {})[tuner] = entry
            series_n.append({"name": tuner, "points": median_curve([r["curve"] for r in runs], optimum, budget)})
            series_t.append({"name": tuner, "points": median_time_curve(runs, optimum, t_max)})
        lines.append("")
        title = f"{name} ({dev}): median over {len(seeds)} seeds"
        charts.append({"file": f"{name}_measurements.svg", "title": title, "x_label": "measurements",
                       "y_label": "best so far, % of the slice's optimum", "series": series_n})
        charts.append({"file": f"{name}_time.svg", "title": title,
                       "x_label": "modelled wall time (s): recorded compiles and measurements + tuner work",
                       "y_label": "best so far, % of the slice's optimum", "series": series_t})
    # Across slices: each tuner's mean score.
    lines += ["### All slices", "", "| tuner | mean score | slices where it scores best |", "|---|---|---|"]
    for tuner in tuners:
        mean = statistics.mean(summary[n][tuner]["score"] for n in summary)
        wins = sum(1 for n in summary if max(summary[n], key=lambda t: summary[n][t]["score"]) == tuner)
        lines.append(f"| {tuner} | {mean:.3f} | {wins} of {len(summary)} |")
    report = "\n".join(lines) + "\n"
    (out / "report.md").write_text(report)
    (out / "charts.json").write_text(json.dumps({"charts": charts}))
    run([args.exe, "report", "--charts", str(out / "charts.json"), "--out", str(out)])
    raw = {f"{n}/{t}": [{"seed": r["seed"], "wall_s": r["wall_s"], "records": r["records"]} for r in v]
           for (n, t), v in results.items()}
    (out / "results.json").write_text(json.dumps({"recording": args.recorded, "trials": args.trials,
                                                  "summary": summary, "runs": raw}))
    for log in work.iterdir():
        log.unlink()
    work.rmdir()
    print(report)
    print(f"bench_tuners: {out}/report.md, results.json and {len(charts)} SVG charts", file=sys.stderr)


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


def bench_sim(args):
    """The sim device (no GPU data): best GFLOPS after N measurements, mean over seeds."""
    tasks = json.loads(run([args.exe, "tasks", args.network, "--json"]).stdout)["tasks"]
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
                    run(cmd)
                    seconds.setdefault(tuner, []).append(time.monotonic() - start)
                    results.setdefault((tuner, task), []).append(best_curve(log, flops_by_workload, args.trials))
                    print(f"done {tuner} task {task} seed {seed}", file=sys.stderr)

    print(f"Best GFLOPS after N measurements (sim device, target {args.target}, "
          f"{'compiled' if args.compile else 'estimated resources'}), mean over {args.seeds} seeds "
          f"(min..max)\n")
    print("| task | tuner | " + " | ".join(f"N={c}" for c in checkpoints) + " |")
    print("|" + "---|" * (2 + len(checkpoints)))
    for (tuner, task), curves in sorted(results.items(), key=lambda kv: (kv[0][1], kv[0][0])):
        cells = []
        for c in checkpoints:
            vals = [curve[min(c, len(curve)) - 1] for curve in curves]
            cells.append(f"{statistics.mean(vals):.0f} ({min(vals):.0f}..{max(vals):.0f})")
        print(f"| {task} | {tuner} | " + " | ".join(cells) + " |")
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


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--exe", default="build/apps/chameleon")
    ap.add_argument("--recorded", help="a recording: a slice's log or a folder of them (the measurement dataset)")
    ap.add_argument("--slices", default="", help="with --recorded: only these slices (comma-separated names)")
    ap.add_argument("--out", default="bench-tuners", help="with --recorded: the output folder")
    ap.add_argument("--jobs", type=int, default=os.cpu_count() or 1, help="with --recorded: tunes side by side")
    ap.add_argument("--network", default="networks/resnet18.json", help="without --recorded: the sim's network")
    ap.add_argument("--tasks", default="4,7,10", help="without --recorded: the sim's tasks")
    ap.add_argument("--tuners", default=None, help=f"default: {TUNERS}, none beside --variant (sim: autotvm,random)")
    ap.add_argument("--variant", action="append", help="with --recorded: a tuner with options, "
                    "'NAME=TUNER --tune-option value ...', benched as NAME (repeatable); the word "
                    "@history-others starts the model trained on the recording's other tasks of the "
                    "same template (--history, leave-one-task-out)")
    ap.add_argument("--seeds", type=int, default=None, help="default: 25 (sim: 5)")
    ap.add_argument("--trials", type=int, default=None, help="the budget per run (default: 256; sim: 512)")
    ap.add_argument("--target", default="h100", help="without --recorded: the sim's target")
    ap.add_argument("--compile", action="store_true", help="without --recorded: compile with NVRTC (slow)")
    args = ap.parse_args()
    if args.recorded:
        # With variants, --tuners names the plain tuners run beside them (default: none).
        args.tuners = args.tuners if args.tuners is not None else ("" if args.variant else TUNERS)
        args.seeds = args.seeds or 25
        args.trials = args.trials or 256
        if args.seeds < 2:
            sys.exit("bench_tuners: --seeds needs at least 2 for a confidence interval")
        bench_recorded(args)
    else:
        args.tuners = args.tuners or "autotvm,random"
        args.seeds = args.seeds or 5
        args.trials = args.trials or 512
        bench_sim(args)


if __name__ == "__main__":
    main()
