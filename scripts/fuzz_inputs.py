#!/usr/bin/env python3
"""Feeds chameleon's commands mutated inputs and reports every case that crashes, hangs or ends in
an internal error instead of a message (docs/benchmark-history.md, "Damaged and odd inputs, fuzzed").

  scripts/fuzz_inputs.py KIND [--cases N] [--seed S] [--exe build/apps/chameleon] [--keep DIR]

KIND: network (any field of any layer), conv (conv2d fields, batch and plane sizes; some cases
also compile), log (a sim tune's log: cut, garbled, duplicated lines, fields of records and of
the run, iteration and task-end lines replaced; every 4th case also resumes a tune on it and
checks that nothing already in it is lost), autotvm (AutoTVM
records: arguments and config; every 3rd also `tune --history`), manifest (a replay folder's
manifest, through `bench --device sim`), recording (the CI slice's recorded log and its slice
file: lines cut, garbled, duplicated, records, run lines, the slice and its provenance changed,
the gzip data cut or garbled; through `dataset --fidelity`, `tune` and `measure` on the recorded
device, and `collect`, which must keep every line it resumes from). Base logs are made by short sim tunes in a temporary
folder. Failing inputs are copied to --keep. Exit status 1 when a case failed.
Under a sanitizer build, set ASAN_OPTIONS=exitcode=99 and UBSAN_OPTIONS=halt_on_error=1:exitcode=98.
"""
import argparse
import copy
import json
import pathlib
import random
import shutil
import subprocess
import sys
import tempfile

ROOT = pathlib.Path(__file__).resolve().parent.parent
NETS = ROOT / "networks"
ODD = [None, True, -1, 0, 1, 2, 3, 7, 1.5, 2**31, 2**63 - 1, -2**31, 1e300, "", "x", "3", [], [0], [1, 2],
       [1, 2, 3], [1, 2, 3, 4], [1, 2, 3, 4, 5], [-1, 1], [[1]], {}, 65536]
CONV = {"out_channels": [1, 2, 3, 13, 4097, 2**20, 2**31 - 1, 0, -3, 1.0, 2.5, "8"],
        "kernel": [1, 2, 5, 11, [1, 9], [9, 1], [300, 300], [0, 3], [2**31 - 1, 1], 64, 2.0],
        "stride": [1, 2, 3, 5, [1, 3], [7, 2], 100, 0, [2, 2, 2]],
        "padding": [0, 1, 5, [0, 1], [1, 0, 2, 3], [3, 0, 0, 0], 200, -1, [1, 2, 3], 2**31 - 1],
        "dilation": [1, 2, 3, [2, 1], [1, 5], 50, 0, 2**30],
        "groups": [1, 2, 3, 4, 7, 64, 128, 0, -1, 1.5, 1024]}


def paths(o, pre=()):
    if isinstance(o, dict):
        for k, v in o.items():
            yield pre + (k,)
            yield from paths(v, pre + (k,))
    elif isinstance(o, list):
        for i, v in enumerate(o):
            yield pre + (i,)
            yield from paths(v, pre + (i,))


def poke(doc, rng, where=None):
    """Replaces (7 in 10) or removes one value somewhere in doc (under `where` if given)."""
    choices = [p for p in paths(doc) if where is None or p[0] in where]
    if not choices:
        return
    p = rng.choice(choices)
    parent = doc
    for k in p[:-1]:
        parent = parent[k]
    if rng.random() < 0.3:
        del parent[p[-1]]
    else:
        parent[p[-1]] = rng.choice(ODD)


class Runner:
    def __init__(self, exe, keep, timeout):
        self.exe, self.keep, self.timeout = exe, keep, timeout
        self.failures = 0

    def run(self, args, case, saved):
        """Runs one command; a signal, a sanitizer's exit code, an uncaught exception or an
        internal error is a failure (a clear 'chameleon: error:' with status 1 or 2 is not)."""
        try:
            r = subprocess.run([self.exe] + args, capture_output=True, text=True, timeout=self.timeout)
        except subprocess.TimeoutExpired:
            return self.fail(case, args, "hung", saved)
        err = r.stderr
        internal = any(s in err for s in ("terminate called", "what():", "_M_range_check", "Sanitizer",
                                          "runtime error:", "internal:"))
        quiet_exit = r.returncode and "error" not in err and args[0] != "status"  # status: 1 = not up to date
        if r.returncode not in (0, 1, 2) or internal or quiet_exit:
            return self.fail(case, args, "status %d: %s" % (r.returncode, err.strip()[-300:]), saved)
        return r

    def fail(self, case, args, why, saved):
        self.failures += 1
        print("case %d: %s: %s" % (case, " ".join(args[:1]), why), flush=True)
        if self.keep:
            self.keep.mkdir(parents=True, exist_ok=True)
            for f in saved:
                shutil.copy(f, self.keep / ("case%d_%s" % (case, pathlib.Path(f).name)))
        return None


def sim_tune(exe, net, log, extra=()):
    subprocess.run([exe, "-q", "tune", str(net), "--device", "sim", "--sim-estimate", "--trials", "16",
                    "--plan-size", "8", "--progress", "none", "--log", str(log), *extra],
                   check=True, capture_output=True)


def fuzz_networks(run, rng, cases, tmp, conv_only):
    nets = [json.loads((NETS / n).read_text()) for n in
            ("resnet18.json", "inception_v3.json", "mobilenet_v2.json", "alexnet.json")]
    path = tmp / "net.json"
    for case in range(cases):
        net = copy.deepcopy(rng.choice(nets))
        layers = net["layers"]
        if conv_only:
            convs = [l for l in layers if l.get("op") == "conv2d"]
            for _ in range(rng.randint(1, 2)):
                field = rng.choice(list(CONV))
                rng.choice(convs)[field] = rng.choice(CONV[field])
            if rng.random() < 0.3:
                net["input"]["shape"][0] = rng.choice([2, 3, 7])
            if rng.random() < 0.3:
                net["input"]["shape"][2:] = [rng.choice([1, 17, 97, 299]), rng.choice([1, 31, 224, 300])]
        else:
            for _ in range(rng.randint(1, 3)):
                if not layers:
                    break
                i = rng.randrange(len(layers))
                r = rng.random()
                if r < 0.6:
                    poke(layers[i], rng)
                elif r < 0.75:
                    layers.insert(rng.randrange(len(layers) + 1), copy.deepcopy(rng.choice(layers)))
                elif r < 0.9:
                    del layers[i]
                else:
                    net["input"] = {"name": "data", "shape": rng.choice(ODD)}
        path.write_text(json.dumps(net))
        r = run.run(["tasks", str(path), "--json"], case, [path])
        if conv_only and r is not None and r.returncode == 0 and rng.random() < 0.3:
            task = rng.choice(json.loads(r.stdout)["tasks"])
            for t in task["templates"]:
                name = t["name"] if isinstance(t, dict) else t
                run.run(["compile", str(path), "--task", str(task["index"]), "--template", name,
                         "--config", "random", "--seed", str(case)], case, [path])


def fuzz_log(run, rng, cases, tmp, autotvm):
    net = NETS / "alexnet.json"
    base = tmp / "base.jsonl"
    if autotvm:  # AutoTVM's own records: a conv2d_direct tune without chameleon's section
        sim_tune(run.exe, net, tmp / "direct.jsonl", ("--templates", "conv2d_direct"))
        recs = [json.loads(l) for l in (tmp / "direct.jsonl").read_text().splitlines() if l.startswith("{")]
        for r in recs:
            r.pop("chameleon")
        base.write_text("".join(json.dumps(r) + "\n" for r in recs))
    else:
        sim_tune(run.exe, net, base)
    lines = base.read_text().splitlines()
    log = tmp / "log.jsonl"
    for case in range(cases):
        ls = list(lines)
        for _ in range(rng.randint(1, 4 if not autotvm else 3)):
            i = rng.randrange(len(ls))
            r = rng.random()
            if not autotvm and r < 0.1:
                ls[i] = ls[i][:rng.randrange(len(ls[i]) + 1)]
            elif not autotvm and r < 0.15:
                k = rng.randrange(max(1, len(ls[i])))
                ls[i] = ls[i][:k] + chr(rng.randrange(32, 127)) + ls[i][k + 1:]
            elif not autotvm and r < 0.2:
                ls.insert(i, rng.choice(ls))
            elif not autotvm and r < 0.25:
                ls[i] = ""
            elif ls[i].startswith("{"):
                try:  # not when an earlier mutation of this case garbled the line
                    doc = json.loads(ls[i])
                except ValueError:
                    continue
                poke(doc, rng, ("input", "config") if autotvm else None)
                ls[i] = json.dumps(doc)
            elif ls[i].startswith("# chameleon-") and " {" in ls[i]:  # run, iteration, task-end lines
                tag, body = ls[i].split(" {", 1)
                try:
                    doc = json.loads("{" + body)
                except ValueError:
                    continue
                poke(doc, rng)
                ls[i] = tag + " " + json.dumps(doc)
        log.write_text("\n".join(ls) + "\n")
        before = log.read_text()
        kernels = tmp / "kernels"
        shutil.rmtree(kernels, ignore_errors=True)
        run.run(["replay", str(log), "--out", str(kernels)], case, [log])
        run.run(["report", str(log), "--out", str(tmp / "report")], case, [log])
        run.run(["status", str(net), "--log", str(log)], case, [log])
        run.run(["merge", str(log), str(log), "--out", str(tmp / "merged.jsonl")], case, [log])
        if (kernels / "manifest.json").exists():
            run.run(["bench", str(kernels), "--device", "sim"], case, [log])
        common = ["--device", "sim", "--sim-estimate", "--trials", "18", "--plan-size", "8", "-q", "--tasks", "1-2"]
        if autotvm and case % 3 == 0:
            run.run(["tune", str(net), "--history", str(log), "--log", str(tmp / "h.jsonl"), "--force",
                     "--templates", "conv2d_direct"] + common, case, [log])
        elif not autotvm and case % 4 == 0:
            run.run(["tune", str(net), "--log", str(log)] + common, case, [log])
            if not log.read_text().startswith(before.rstrip("\n")):
                run.fail(case, ["tune"], "the resumed tune lost lines of the log", [log])


def fuzz_manifest(run, rng, cases, tmp):
    sim_tune(run.exe, NETS / "alexnet.json", tmp / "base.jsonl")
    good = tmp / "good"
    subprocess.run([run.exe, "replay", str(tmp / "base.jsonl"), "--out", str(good)], check=True,
                   capture_output=True)
    manifest = json.loads((good / "manifest.json").read_text())
    folder = tmp / "folder"
    for case in range(cases):
        m = copy.deepcopy(manifest)
        for _ in range(rng.randint(1, 3)):
            poke(m, rng)
        shutil.rmtree(folder, ignore_errors=True)
        shutil.copytree(good, folder)
        (folder / "manifest.json").write_text(json.dumps(m))
        run.run(["bench", str(folder), "--device", "sim"], case, [folder / "manifest.json"])


def is_json(line):
    try:
        json.loads(line)
        return True
    except ValueError:
        return line.startswith("#") or not line.strip()


def fuzz_recording(run, rng, cases, tmp):
    """The CI slice's recording (and slice file) damaged in every way fuzz_log damages logs, plus
    the gzip data itself."""
    import gzip
    data = ROOT / "tests" / "data" / "measurements"
    lines = gzip.decompress((data / "sim-h100" / "ci-resnet18-t4-gemm.jsonl.gz").read_bytes()).decode().splitlines()
    slice_doc = json.loads((data / "slices" / "ci-resnet18-t4-gemm.json").read_text())
    net = NETS / "resnet18.json"
    for case in range(cases):
        ls = list(lines)
        for _ in range(rng.randint(1, 4)):
            i = rng.randrange(len(ls))
            r = rng.random()
            if r < 0.15:
                ls[i] = ls[i][:rng.randrange(len(ls[i]) + 1)]
            elif r < 0.25:
                ls.insert(i, rng.choice(ls))
            elif r < 0.3:
                del ls[i]
            elif ls[i].startswith("{") or ls[i].startswith("# chameleon-run "):
                run_line = ls[i].startswith("#")
                try:
                    doc = json.loads(ls[i][len("# chameleon-run "):] if run_line else ls[i])
                except ValueError:
                    continue
                poke(doc, rng, ("collect", "provenance") if run_line else ("config", "result", "chameleon"))
                ls[i] = ("# chameleon-run " if run_line else "") + json.dumps(doc)
        text = ("\n".join(ls) + "\n").encode()
        compress = case % 2 == 0
        path = tmp / ("rec.jsonl.gz" if compress else "rec.jsonl")
        for old in ("rec.jsonl.gz", "rec.jsonl"):
            (tmp / old).unlink(missing_ok=True)
        blob = gzip.compress(text) if compress else text
        if compress and rng.random() < 0.3:  # the gzip data itself: cut or a byte changed
            k = rng.randrange(len(blob))
            blob = blob[:k] if rng.random() < 0.5 else blob[:k] + bytes([rng.randrange(256)]) + blob[k + 1:]
        path.write_bytes(blob)
        device = "recorded:" + str(path)
        run.run(["dataset", str(path), "--fidelity"], case, [path])
        run.run(["tune", str(net), "--tasks", "4", "--device", device, "--trials", "16", "--plan-size", "8",
                 "-q", "--log", str(tmp / ("t%d.jsonl" % case))], case, [path])
        run.run(["measure", str(net), "--task", "4", "--template", "conv2d_implicit_gemm", "--device", device,
                 "--config", "random", "--seed", str(case)], case, [path])
        doc = copy.deepcopy(slice_doc)
        if rng.random() < 0.5:
            poke(doc, rng)
        slice_file = tmp / "slice.json"
        slice_file.write_text(json.dumps(doc))
        run.run(["collect", str(slice_file), "--dry-run", "--device", "sim", "--target", "h100"], case, [slice_file])
        if not compress and case % 4 == 1:
            before = path.read_text().splitlines()
            run.run(["collect", str(slice_file), "--device", "sim", "--target", "h100", "--sim-estimate",
                     "--limit", "4", "-q", "--log", str(path)], case, [path, slice_file])
            after = set(path.read_text().splitlines())
            # Only a cut-off last line may go (a resume removes it); every other line stays.
            if any(l not in after for l in before[:-1]) or (before and before[-1] not in after and is_json(before[-1])):
                run.fail(case, ["collect"], "the resumed collection lost lines of the log", [path])


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("kind", choices=["network", "conv", "log", "autotvm", "manifest", "recording"])
    ap.add_argument("--cases", type=int, default=100)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--exe", default=str(ROOT / "build" / "apps" / "chameleon"))
    ap.add_argument("--keep", type=pathlib.Path, help="copy failing inputs here")
    ap.add_argument("--timeout", type=int, default=300, help="seconds before a command counts as hung")
    a = ap.parse_args()
    rng = random.Random(a.seed)
    run = Runner(a.exe, a.keep, a.timeout)
    with tempfile.TemporaryDirectory(prefix="chameleon-fuzz-") as d:
        tmp = pathlib.Path(d)
        if a.kind in ("network", "conv"):
            fuzz_networks(run, rng, a.cases, tmp, a.kind == "conv")
        elif a.kind in ("log", "autotvm"):
            fuzz_log(run, rng, a.cases, tmp, a.kind == "autotvm")
        elif a.kind == "recording":
            fuzz_recording(run, rng, a.cases, tmp)
        else:
            fuzz_manifest(run, rng, a.cases, tmp)
    print("%s: %d cases, %d failures" % (a.kind, a.cases, run.failures))
    sys.exit(1 if run.failures else 0)


if __name__ == "__main__":
    main()
