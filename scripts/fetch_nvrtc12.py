#!/usr/bin/env python3
"""Fetches a CUDA 12 NVRTC (the nvidia-cuda-nvrtc-cu12 wheel from PyPI) into a folder, without pip
and without installing anything: the Pascal and Volta targets (sm_61, sm_70) need it, since CUDA 13
dropped them. chameleon finds it with `--nvrtc FOLDER` or CHAMELEON_NVRTC=FOLDER (and finds the
wheel by itself where pip installed it).

Usage: scripts/fetch_nvrtc12.py DEST [--version 12.9.86]
"""
import argparse
import hashlib
import io
import re
import os
import platform
import sys
import urllib.request
import zipfile

PACKAGE = "nvidia-cuda-nvrtc-cu12"


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("dest")
    ap.add_argument("--version", default="12.9.86")
    args = ap.parse_args()
    if os.path.exists(os.path.join(args.dest, "libnvrtc.so.12")):
        print(f"fetch_nvrtc12: {args.dest} has it already")
        return 0
    arch = {"x86_64": "x86_64", "aarch64": "aarch64"}.get(platform.machine())
    if arch is None:
        sys.exit(f"fetch_nvrtc12: no {PACKAGE} wheel for {platform.machine()}")
    # PyPI's simple index (PEP 503): one link per file, its SHA-256 in the fragment.
    index = urllib.request.urlopen(f"https://pypi.org/simple/{PACKAGE}/", timeout=60).read().decode()
    wheels = [(url, sha) for url, sha in re.findall(r'href="([^"#]+\.whl)#sha256=([0-9a-f]+)"', index)
              if f"-{args.version}-" in url and "manylinux" in url and arch in url]
    if not wheels:
        sys.exit(f"fetch_nvrtc12: {PACKAGE} {args.version} has no manylinux {arch} wheel on PyPI")
    url, sha = wheels[0]
    print(f"fetch_nvrtc12: {url.rsplit('/', 1)[-1]}")
    data = urllib.request.urlopen(url, timeout=600).read()
    if hashlib.sha256(data).hexdigest() != sha:
        sys.exit("fetch_nvrtc12: the download's SHA-256 differs from PyPI's")
    os.makedirs(args.dest, exist_ok=True)
    with zipfile.ZipFile(io.BytesIO(data)) as z:
        for name in z.namelist():
            base = os.path.basename(name)
            # libnvrtc.so.12 and the builtins it loads from its own folder.
            if name.startswith("nvidia/cuda_nvrtc/lib/") and base.startswith("libnvrtc") and ".alt." not in base:
                with open(os.path.join(args.dest, base), "wb") as out:
                    out.write(z.read(name))
    if not os.path.exists(os.path.join(args.dest, "libnvrtc.so.12")):
        sys.exit("fetch_nvrtc12: the wheel holds no libnvrtc.so.12")
    print(f"fetch_nvrtc12: NVRTC {args.version} in {args.dest}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
