#!/usr/bin/env bash
# Sets up, configures, builds (warnings are errors) and runs the whole test suite.
# Usage: scripts/test.sh [BUILD_DIR]   (default: build)
set -euo pipefail
cd "$(dirname "$0")/.."
build=${1:-build}
scripts/setup.sh
cmake -S . -B "$build" -DCMAKE_BUILD_TYPE=RelWithDebInfo -DCHAMELEON_WERROR=ON \
  -DCUDAToolkit_ROOT="${CUDA_HOME:-/usr/local/cuda}" >/dev/null
cmake --build "$build" -j"$(nproc)"
# A CUDA 12 NVRTC beside the toolkit's, for the Pascal and Volta checks (cli_nvrtc12): the
# nvidia-cuda-nvrtc-cu12 wheel unpacked into the build, not installed (the test is skipped without it).
python3 scripts/fetch_nvrtc12.py "$build/nvrtc12" ||
  echo "test: no CUDA 12 NVRTC could be fetched: cli_nvrtc12 will be skipped" >&2
ctest --test-dir "$build" --output-on-failure -j"$(nproc)"
