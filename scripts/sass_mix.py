#!/usr/bin/env python3
"""Instruction mix of the main loop of emitted kernels: a static look at a template's overhead.

    scripts/sass_mix.py KERNELS_DIR [--rebuild BIN] [--set KNOB=VALUE ...]

KERNELS_DIR is what `chameleon replay` wrote (manifest.json and the cubins). For every kernel it
disassembles the cubin (nvdisasm) and reports, for the loop that holds the most FFMA (or HMMA)
instructions, its length, the share of those math instructions and the commonest other opcodes.
With --rebuild, each config is compiled again by that chameleon binary (`chameleon compile
--cubin`, NVRTC on this machine, no GPU needed) and reported beside the original: the same config
under the current templates. --set [TEMPLATE.]KNOB=VALUE adds or overrides a knob of the rebuilt
configs (of that template's only, when named): a knob the logged config predates, for instance.
With --whole-tile, the rebuilt source has every copy loop unrolled whole before it is compiled
(NVRTC through ctypes, the options chameleon uses), so that the main loop's length is what one
reduction tile executes, copies included (a copy loop kept rolled counts once otherwise).

nvdisasm comes with the CUDA toolkit's full install, or from PyPI (`pip install
nvidia-cuda-nvdisasm`); the script looks in $NVDISASM, on PATH, under $CUDA_HOME/bin and in the
pip packages' nvidia/*/bin.
"""
import argparse
import ctypes
import ctypes.util
import collections
import glob
import json
import os
import re
import shutil
import subprocess
import sys
import tempfile

MATH = ("FFMA", "HMMA")


def find_nvdisasm():
    cands = [os.environ.get("NVDISASM", ""), shutil.which("nvdisasm") or "",
             os.path.join(os.environ.get("CUDA_HOME", "/usr/local/cuda"), "bin", "nvdisasm")]
    for site in sys.path:
        cands += glob.glob(os.path.join(site, "nvidia", "*", "bin", "nvdisasm"))
    for c in cands:
        if c and os.access(c, os.X_OK):
            return c
    sys.exit("sass_mix.py: no nvdisasm found (set NVDISASM, or pip install nvidia-cuda-nvdisasm)")


def instructions(nvdisasm, cubin):
    """(address, opcode, branch target or None) per instruction of the cubin's text; addresses
    are made unique across the cubin's functions (each of which starts at 0)."""
    text = subprocess.run([nvdisasm, "-c", cubin], capture_output=True, text=True, check=True).stdout
    labels, pending, out = {}, [], []
    section = -1
    for line in text.splitlines():
        if re.match(r"\s*\.section\s+\.text\.", line):
            section += 1
            continue
        m = re.match(r"\.(L_x_\d+):", line)
        if m:
            pending.append(m.group(1))
            continue
        m = re.match(r"\s+/\*([0-9a-f]{4,})\*/\s+(.*?);", line)
        if not m:
            continue
        addr = (max(section, 0) << 32) + int(m.group(1), 16)
        for name in pending:
            labels[name] = addr
        pending = []
        toks = m.group(2).split()
        if toks and toks[0].startswith("@"):
            toks = toks[1:]
        op = toks[0].split(".")[0] if toks else "?"
        target = re.search(r"`\(\.?(L_x_\d+)\)", m.group(2)) if op == "BRA" else None
        out.append((addr, op, target.group(1) if target else None))
    return [(a, op, labels.get(t) if t else None) for a, op, t in out]


def loop_mix(nvdisasm, cubin):
    ins = instructions(nvdisasm, cubin)
    best = None
    for addr, op, target in ins:
        if op == "BRA" and target is not None and target < addr:
            body = [i for i in ins if target <= i[0] <= addr]
            math = sum(1 for i in body if i[1] in MATH)
            if best is None or (math, -len(body)) > (best[0], -len(best[1])):
                best = (math, body)
    if best is None or best[0] == 0:
        return None
    math, body = best
    counts = collections.Counter(i[1] for i in body if i[1] not in MATH)
    return {"length": len(body), "math": math, "share": math / len(body),
            "others": ", ".join(f"{k} {v}" for k, v in counts.most_common(6))}


def nvrtc_cubin(source, arch, path):
    """Compiles with NVRTC as chameleon does; returns ptxas's register count."""
    lib = None
    for cand in [os.path.join(os.environ.get("CUDA_HOME", "/usr/local/cuda"), "lib64", "libnvrtc.so"),
                 ctypes.util.find_library("nvrtc") or ""]:
        if cand and os.path.exists(cand) or cand.startswith("libnvrtc"):
            try:
                lib = ctypes.CDLL(cand)
                break
            except OSError:
                pass
    if lib is None:
        sys.exit("sass_mix.py: no libnvrtc found (set CUDA_HOME)")
    prog = ctypes.c_void_p()
    lib.nvrtcCreateProgram(ctypes.byref(prog), source.encode(), b"whole_tile.cu", 0, None, None)
    opts = [f"--gpu-architecture={arch}", "-std=c++17", "-default-device", "-diag-suppress=177",
            "--ptxas-options=-v"]
    argv = (ctypes.c_char_p * len(opts))(*[o.encode() for o in opts])
    rc = lib.nvrtcCompileProgram(prog, len(opts), argv)
    size = ctypes.c_size_t()
    lib.nvrtcGetProgramLogSize(prog, ctypes.byref(size))
    log = ctypes.create_string_buffer(size.value)
    lib.nvrtcGetProgramLog(prog, log)
    if rc != 0:
        return None, log.value.decode(errors="replace").strip().splitlines()[-1]
    lib.nvrtcGetCUBINSize(prog, ctypes.byref(size))
    cubin = ctypes.create_string_buffer(size.value)
    lib.nvrtcGetCUBIN(prog, cubin)
    lib.nvrtcDestroyProgram(ctypes.byref(prog))
    with open(path, "wb") as f:
        f.write(cubin.raw)
    m = re.search(r"Used (\d+) registers", log.value.decode(errors="replace"))
    return {"ok": True, "resources": {"registers": int(m.group(1)) if m else 0}}, ""


def rebuild(binary, network, kernel, overrides, path, whole_tile=False, arch="sm_90"):
    entity = [list(e) for e in kernel["config"]["entity"]]
    for knob, value in overrides.items():
        for e in entity:
            if e[0] == knob:
                e[2] = value
                break
        else:
            entity.append([knob, "ot", value])
    cmd = [binary, "compile", network, "--task", str(kernel["task"]), "--template", kernel["template"],
           "--config", json.dumps(entity)]
    cmd += ["--source"] if whole_tile else ["--cubin", path, "--json"]
    r = subprocess.run(cmd, capture_output=True, text=True)
    if r.returncode != 0:
        return None, (r.stderr.strip() or r.stdout.strip()).splitlines()[-1]
    if whole_tile:
        source = re.sub(r"#pragma unroll( 4|\(A_UNROLL\))\n", "#pragma unroll\n", r.stdout)
        return nvrtc_cubin(source, arch, path)
    return json.loads(r.stdout), ""


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("kernels")
    ap.add_argument("--rebuild", metavar="BIN", help="a chameleon binary to recompile each config with")
    ap.add_argument("--network", help="the network file (default: networks/<manifest network>.json)")
    ap.add_argument("--set", action="append", default=[], metavar="[TEMPLATE.]KNOB=VALUE")
    ap.add_argument("--whole-tile", action="store_true",
                    help="with --rebuild: unroll every copy loop, so the loop is one reduction tile")
    args = ap.parse_args()
    nvdisasm = find_nvdisasm()
    manifest = json.load(open(os.path.join(args.kernels, "manifest.json")))
    overrides = []  # (template or "", knob, value)
    for s in args.set:
        name, _, value = s.partition("=")
        tmpl, _, knob = name.rpartition(".")
        overrides.append((tmpl, knob, int(value)))
    network = args.network or os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "networks",
                                           manifest["network"] + ".json")
    print(f"{args.kernels}: {manifest.get('device', '?')}, {manifest.get('arch', '?')}")
    head = "task  template                   regs  loop  math%  other opcodes"
    print(head)
    tmp = tempfile.mkdtemp()
    for k in manifest["kernels"]:
        mix = loop_mix(nvdisasm, os.path.join(args.kernels, k["files"]["cubin"]))
        regs = k.get("resources", {}).get("registers", "?")
        def row(tag, regs, mix):
            if mix is None:
                return f"{k['task']:>4}  {k['template'][:26]:<26} {regs:>4}  (no math loop){tag}"
            return (f"{k['task']:>4}  {k['template'][:26]:<26} {regs:>4} {mix['length']:>5} "
                    f"{100 * mix['share']:5.1f}  {mix['others']}{tag}")
        print(row("", regs, mix))
        if args.rebuild:
            path = os.path.join(tmp, k["name"] + ".cubin")
            mine = {knob: v for t, knob, v in overrides if t in ("", k["template"])}
            out, err = rebuild(args.rebuild, network, k, mine, path, args.whole_tile,
                               manifest.get("arch", "sm_90"))
            if out is None:
                print(f"{'':>4}  rebuild failed: {err}")
            elif not out["ok"]:
                print(f"{'':>4}  rebuild failed: {out['message']}")
            else:
                tag = "  (rebuilt, whole tile)" if args.whole_tile else "  (rebuilt)"
                print(row(tag, out["resources"]["registers"], loop_mix(nvdisasm, path)))
    shutil.rmtree(tmp)


if __name__ == "__main__":
    main()
