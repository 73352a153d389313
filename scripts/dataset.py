#!/usr/bin/env python3
"""The measurement dataset (tests/data/measurements/, docs/measurement.md): adds what a GPU run
measured, with its provenance, and says what the dataset holds.

  scripts/dataset.py add RESULTS...   logs (.jsonl, .jsonl.gz), folders of them, or a GPU run's
                                      results.tar.gz (scripts/gpu-run.sh)
  scripts/dataset.py summary          folders, files, records and sizes
  scripts/dataset.py folder NAME      the folder a device's records go to ("NVIDIA H100 80GB HBM3"
                                      -> nvidia-h100-80gb-hbm3)

`add` files each record by the device that measured it: a slice collection's records (its log's
run line names the slice) into DEVICE/SLICE.jsonl.gz, merged with what is there; every other
record (a tune's: whole spaces, biased toward good configs) into DEVICE/tunes/NAME.jsonl.gz. Each
run line, with its provenance (commit, date, host, compile jobs, driver, NVRTC, target), goes with
the records of that run. Records a recorded device answered are replays, never measurements, and
are refused; sim records only with --sim. Lines already in a file are not added twice.
"""
import argparse
import gzip
import io
import json
import re
import sys
import tarfile
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent / "tests" / "data" / "measurements"
RUN_TAG = "# chameleon-run "


def folder_of(device):
    """The dataset folder of a device name: lowercase, runs of other characters as one '-'."""
    return re.sub(r"[^a-z0-9]+", "-", device.lower()).strip("-")


def read_lines(path):
    data = Path(path).read_bytes()
    if data[:2] == b"\x1f\x8b":
        data = gzip.decompress(data)
    return data.decode().splitlines()


def sources(paths):
    """(name, lines) of every log among the paths: files, folders, tar.gz archives."""
    for p in map(Path, paths):
        if p.is_dir():
            for f in sorted(p.rglob("*.jsonl*")):
                if f.name.endswith((".jsonl", ".jsonl.gz")):
                    yield f.name, read_lines(f)
        elif p.name.endswith((".tar.gz", ".tgz")):
            with tarfile.open(p) as tar:
                for m in tar.getmembers():
                    if m.isfile() and m.name.endswith(".jsonl"):
                        yield Path(m.name).name, tar.extractfile(m).read().decode().splitlines()
        elif p.exists():
            yield p.name, read_lines(p)
        else:
            sys.exit(f"dataset: {p}: no such file or folder")


def stem(name):
    for suffix in (".jsonl.gz", ".jsonl"):
        if name.endswith(suffix):
            return name[: -len(suffix)]
    return name


def split_log(name, lines, allow_sim):
    """{(device folder, file in it): [lines]}: each run line before the records of its run."""
    runs = {}  # run id -> (header line, slice name or None)
    out = {}
    refused = {"recorded": 0, "sim": 0, "damaged": 0, "no provenance": 0}
    for line in lines:
        if line.startswith(RUN_TAG):
            try:
                h = json.loads(line[len(RUN_TAG):])
            except json.JSONDecodeError:
                continue
            runs[h.get("run")] = (line, h.get("collect", {}).get("name"), "provenance" in h)
    placed_headers = set()
    for line in lines:
        if not line.startswith("{"):
            continue
        try:
            rec = json.loads(line)
            cham = rec["chameleon"]
            device = cham["device"]
        except (json.JSONDecodeError, KeyError, TypeError):
            refused["damaged"] += 1
            continue
        if device.startswith("recorded:"):
            refused["recorded"] += 1
            continue
        if cham.get("simulated") and not allow_sim:
            refused["sim"] += 1
            continue
        run = cham.get("settings", {}).get("tune", {}).get("run")
        header, slice_name, has_provenance = runs.get(run, (None, None, False))
        if not has_provenance:
            refused["no provenance"] += 1
            continue
        key = (folder_of(device), f"{slice_name}.jsonl.gz" if slice_name else f"tunes/{stem(name)}.jsonl.gz")
        dest = out.setdefault(key, [])
        if (key, run) not in placed_headers:
            placed_headers.add((key, run))
            dest.append(header)
        dest.append(line)
    return out, refused


def merge_into(path, new_lines):
    """Appends the lines `path` lacks, keeping its own; rewrites it compressed. Returns how many."""
    old = read_lines(path) if path.exists() else []
    have = set(old)
    added = [l for l in new_lines if l not in have]
    if not added:
        return 0
    path.parent.mkdir(parents=True, exist_ok=True)
    data = ("\n".join(old + added) + "\n").encode()
    buf = io.BytesIO()
    with gzip.GzipFile(fileobj=buf, mode="wb", compresslevel=9, mtime=0) as gz:
        gz.write(data)
    path.write_bytes(buf.getvalue())
    return sum(1 for l in added if l.startswith("{"))


def add(args):
    root = Path(args.to)
    total = 0
    for name, lines in sources(args.results):
        parts, refused = split_log(name, lines, args.sim)
        for (folder, file), new in sorted(parts.items()):
            n = merge_into(root / folder / file, new)
            total += n
            print(f"{name}: {n} new records -> {root / folder / file}")
        notes = [f"{v} {k}" for k, v in refused.items() if v]
        if notes:
            print(f"{name}: left out {', '.join(notes)} records" +
                  (" (recorded: replays of a recording; sim: pass --sim; no provenance: written before logs "
                   "carried it)" if refused["recorded"] or refused["sim"] or refused["no provenance"] else ""))
    print(f"dataset: {total} records added under {root}")


def summary(args):
    root = Path(args.to)
    grand = 0
    for folder in sorted(p for p in root.iterdir() if p.is_dir() and p.name != "slices"):
        files = sorted(folder.rglob("*.jsonl.gz"))
        size = sum(f.stat().st_size for f in files)
        grand += size
        records = sum(sum(1 for l in read_lines(f) if l.startswith("{")) for f in files)
        print(f"{folder.name}: {len(files)} files, {records} records, {size / 1024:.0f} KiB compressed")
        for f in files:
            n = sum(1 for l in read_lines(f) if l.startswith("{"))
            print(f"  {f.relative_to(folder)}: {n} records, {f.stat().st_size / 1024:.0f} KiB")
    print(f"total: {grand / 1024 / 1024:.2f} MiB")


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--to", default=str(ROOT), help="the dataset folder (default: %(default)s)")
    sub = ap.add_subparsers(dest="cmd", required=True)
    a = sub.add_parser("add", help="file a run's records into the dataset")
    a.add_argument("results", nargs="+")
    a.add_argument("--sim", action="store_true", help="also the sim device's records (for CI data)")
    sub.add_parser("summary", help="what the dataset holds")
    f = sub.add_parser("folder", help="the folder of a device name")
    f.add_argument("device")
    args = ap.parse_args()
    if args.cmd == "add":
        add(args)
    elif args.cmd == "summary":
        summary(args)
    else:
        print(folder_of(args.device))


if __name__ == "__main__":
    main()
