#!/usr/bin/env bash
# The README's test command: install deps, build the library's tests, examples and CLI in Release,
# run the whole suite.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/install-deps.sh --tests
# Benchmarks are not tests: left out here to keep CI inside its time budget (build them with
# -DGRADATTR_BUILD_BENCHMARKS=ON, the default for a top-level configure; docs/benchmarks.md).
# MPI (docs/sweep.md, "MPI") when its compiler wrapper is installed: the 'cli: sweep mpi' test exists
# only in such a build.
mpi=OFF
if command -v mpicxx >/dev/null && command -v mpirun >/dev/null; then mpi=ON; fi
cmake -S . -B build -DCMAKE_BUILD_TYPE=Release -DGRADATTR_BUILD_BENCHMARKS=OFF -DGRADATTR_MPI=$mpi
cmake --build build -j"$(nproc)"
ctest --test-dir build --output-on-failure -j"$(nproc)"
