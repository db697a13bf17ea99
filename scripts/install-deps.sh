#!/usr/bin/env bash
# Installs what gradattr needs to build and test, from Debian 12's packages only. Idempotent:
# does nothing (not even apt-get update) when everything is already installed.
# Usage (as root): bash scripts/install-deps.sh [--tests] [--tools] [--sanitizers]
#   --tests       also installs Open MPI and Chromium, for the MPI sweep and the gallery tests
#   --tools       also installs what tools/ and benchmarks/compare_pytorch.py need (python3-torch...)
#   --sanitizers  also installs what scripts/ci-sanitizers.sh needs (clang 14, its sanitizer and
#                 libFuzzer runtimes, libomp with the Archer TSan tool)
set -euo pipefail

packages=(
  g++ cmake make pkg-config ccache
  libeigen3-dev libxsimd-dev            # dense algebra, SIMD
  catch2                                 # tests (v2.13: catch2/catch.hpp, Catch.cmake)
  libstb-dev                             # stb_image, stb_image_write
  zlib1g-dev                             # gzip-compressed IDX (io/idx.hpp)
  nlohmann-json3-dev libcli11-dev        # safetensors headers, the CLI
  libbenchmark-dev                       # benchmarks/
  libonnx-dev libprotobuf-dev            # gradattr::onnx, the ONNX importer (GRADATTR_WITH_ONNX)
  libsqlite3-dev                         # gradattr::sweep, the sweep results database (GRADATTR_WITH_SQLITE)
  dataset-fashion-mnist                  # the training data of the shipped model
)
for opt in "$@"; do
  case "$opt" in
    # What the whole test suite exercises beyond the build (scripts/test.sh): gradattr::mpi and
    # 'cli: sweep mpi' (GRADATTR_MPI; docs/sweep.md), headless Chromium for 'cli: view browser'
    # (~7 s; reported skipped without it). Not needed to build and run the CLI.
    --tests) packages+=(libopenmpi-dev openmpi-bin chromium) ;;
    --tools) packages+=(python3 python3-numpy python3-torch python3-torchvision python3-onnx libopenblas0-pthread) ;;
    --sanitizers) packages+=(clang-14 libclang-rt-14-dev libomp-14-dev) ;;
    *) echo "install-deps: unknown option $opt" >&2; exit 2 ;;
  esac
done

missing=()
for p in "${packages[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if ((${#missing[@]} == 0)); then
  echo "install-deps: all ${#packages[@]} packages present"
  exit 0
fi
echo "install-deps: installing ${missing[*]}"
SUDO=""
if [[ $(id -u) -ne 0 ]]; then SUDO="sudo"; fi
export DEBIAN_FRONTEND=noninteractive
$SUDO apt-get update -q
$SUDO apt-get install -y -q --no-install-recommends "${missing[@]}"
