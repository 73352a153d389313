#!/usr/bin/env bash
# Installs chameleon's build dependencies from Debian's packages (idempotent) and checks for the
# CUDA toolkit. Usage: scripts/setup.sh
set -euo pipefail

# The C++ dependencies, an optimized BLAS for LibTorch (Debian's libtorch uses whichever
# libblas.so.3 is installed; the reference one made the PPO explorer's matrix products a third
# of a tune's CPU time, docs/benchmark-history.md; the serial build keeps its threads off the
# compile workers' cores), then the tools the tests use (python3 for the CLI checks, python3-onnx for
# scripts/onnx_to_network.py's, yamllint for the CI workflow, clang-format for the format check).
packages=(cmake g++ make libtorch-dev libopenblas0-serial libxgboost-dev xgboost libeigen3-dev
          libcli11-dev nlohmann-json3-dev libspdlog-dev zlib1g-dev catch2 python3 python3-onnx yamllint
          clang-format)

missing=()
for p in "${packages[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if ((${#missing[@]})); then
  echo "setup: installing ${missing[*]}"
  sudo_cmd=()
  if [ "$(id -u)" -ne 0 ]; then sudo_cmd=(sudo); fi
  export DEBIAN_FRONTEND=noninteractive
  "${sudo_cmd[@]}" apt-get update -qq
  "${sudo_cmd[@]}" apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
else
  echo "setup: Debian packages present"
fi

cuda_home=${CUDA_HOME:-/usr/local/cuda}
if [ ! -f "$cuda_home/include/nvrtc.h" ] || ! ls "$cuda_home"/lib64/libnvrtc.so* >/dev/null 2>&1; then
  cat >&2 <<MSG
setup: the CUDA toolkit was not found at '$cuda_home' (need include/nvrtc.h, include/cuda.h and
lib64/libnvrtc.so). Install NVIDIA's CUDA toolkit (12.x or 13.x; Pascal/Volta targets need 12.x)
and set CUDA_HOME to its folder. No GPU or driver is needed to build and test.
MSG
  exit 1
fi
echo "setup: CUDA toolkit at $cuda_home ($("$cuda_home"/bin/nvcc --version 2>/dev/null | grep -o 'release [0-9.]*' || echo 'nvcc absent'))"
