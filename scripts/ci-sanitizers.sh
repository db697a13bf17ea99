#!/usr/bin/env bash
# CI's sanitizer and fuzz jobs (docs/reliability.md says what each covers and how long it takes),
# run by .ci/run after the main test command. Build dirs are build-ci-{asan,tsan,fuzz}, apart from
# the normal build/.
# Usage: bash scripts/ci-sanitizers.sh [asan] [fuzz] [tsan] [asan-full]   (no argument: asan fuzz tsan)
#   asan       g++ -O1, ASan + UBSan (-fno-sanitize-recover=all), Debug (assertions on): the CLI
#              tests with the CLI itself instrumented (every bad argument and the whole bad-input
#              corpus through the real program), the fuzz corpus replays (each loader directly),
#              the core and kernels tests
#   asan-full  the same plus the io, autodiff and reliability tests (about twice the build time;
#              not in CI's default set, run it before touching io/ or autodiff/)
#   fuzz       clang++-14 libFuzzer + ASan + UBSan: each loader's harness (safetensors, NPY, images,
#              ONNX) for GRADATTR_FUZZ_SECONDS (default 20) from its seed corpus
#   tsan       clang++-14 -O1, TSan with libomp and its Archer tool: the kernels and reliability
#              tests (threads sharing a const model) at 2 and 3 OpenMP threads
# Time budget: when GRADATTR_CI_START (epoch seconds, set by .ci/run) is given, a job whose
# conservative estimate would end past GRADATTR_CI_BUDGET seconds (default 3600: CI's own limit is
# 90 min, a whole run takes about 35) after it is skipped with a loud message. At the default
# every job runs: a skipped sanitizer job protects nothing.
set -euo pipefail
cd "$(dirname "$0")/.."
jobs=("$@")
((${#jobs[@]})) || jobs=(asan fuzz tsan)
J=$(nproc)
common=(-DGRADATTR_BUILD_BENCHMARKS=OFF -DGRADATTR_INSTALL=OFF -DCMAKE_BUILD_TYPE=Debug)
timings=()

# asan_run <ctest labels regex> <targets...>
asan_run() {
  local labels=$1
  shift
  local f="-O1 -g -fno-omit-frame-pointer -fsanitize=address,undefined -fno-sanitize-recover=all"
  cmake -S . -B build-ci-asan "${common[@]}" -DCMAKE_CXX_COMPILER=g++ -DCMAKE_CXX_FLAGS_DEBUG="$f" \
    -DCMAKE_EXE_LINKER_FLAGS="-fsanitize=address,undefined" >/dev/null
  cmake --build build-ci-asan -j"$J" --target "$@"
  ASAN_OPTIONS=detect_leaks=1:detect_stack_use_after_return=1:strict_string_checks=1:exitcode=86 \
  UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1:exitcode=87 \
    ctest --test-dir build-ci-asan --output-on-failure -j"$J" -L "$labels"
}
asan() {
  asan_run '^(core|kernels|cli|fuzz)$' test_core test_kernels gradattr_cli cli_test_drivers fuzz_safetensors fuzz_npy fuzz_image \
    fuzz_onnx
}
asan-full() {
  asan_run '^(io|core|kernels|autodiff|reliability|cli|fuzz)$' test_io test_core test_kernels test_autodiff test_reliability \
    gradattr_cli cli_test_drivers fuzz_safetensors fuzz_npy fuzz_image fuzz_onnx
}

tsan() {
  local archer=/usr/lib/llvm-14/lib/libarcher.so
  cmake -S . -B build-ci-tsan "${common[@]}" -DCMAKE_CXX_COMPILER=clang++-14 -DCMAKE_CXX_FLAGS_DEBUG="-O1 -g -fsanitize=thread" \
    -DCMAKE_EXE_LINKER_FLAGS="-fsanitize=thread" >/dev/null
  local targets=(test_kernels)
  [[ -f tests/reliability/CMakeLists.txt ]] && targets+=(test_reliability)
  # the sweep's image prefetcher (a thread of its own; tests/sweep [prefetch]) when SQLite is there
  local help
  help=$(cmake --build build-ci-tsan --target help)
  [[ $help == *" test_sweep"* ]] && targets+=(test_sweep)
  cmake --build build-ci-tsan -j"$J" --target "${targets[@]}"
  # Archer tells TSan about OpenMP's synchronisation (libomp itself is not instrumented).
  for t in 2 3; do
    echo "ci-sanitizers: TSan at OMP_NUM_THREADS=$t"
    OMP_NUM_THREADS=$t OMP_TOOL_LIBRARIES=$archer \
    TSAN_OPTIONS="ignore_noninstrumented_modules=1:halt_on_error=1:exitcode=66:second_deadlock_stack=1" \
      ctest --test-dir build-ci-tsan --output-on-failure -j1 -L '^(kernels|reliability|sweep)$'
  done
}

fuzz() {
  cmake -S . -B build-ci-fuzz "${common[@]}" -DCMAKE_CXX_COMPILER=clang++-14 -DCMAKE_CXX_FLAGS_DEBUG="-O1 -g" \
    -DGRADATTR_FUZZ=ON -DGRADATTR_FUZZ_SECONDS="${GRADATTR_FUZZ_SECONDS:-20}" >/dev/null
  cmake --build build-ci-fuzz -j"$J" --target fuzz_safetensors fuzz_npy fuzz_image fuzz_onnx
  # Replays first, then the four fuzz runs, two at a time.
  ctest --test-dir build-ci-fuzz --output-on-failure -j"$J" -L '^fuzz$'
  ctest --test-dir build-ci-fuzz --output-on-failure -j"$J" -L '^fuzz-run$'
}

# Conservative wall-time estimates (seconds, 2 idle cores; docs/reliability.md has the measurements).
declare -A estimate=([asan]=600 [asan-full]=1200 [fuzz]=150 [tsan]=300)
budget=${GRADATTR_CI_BUDGET:-3600}
for job in "${jobs[@]}"; do
  case "$job" in
    asan | asan-full | tsan | fuzz) ;;
    *) echo "ci-sanitizers: unknown job '$job' (asan, asan-full, fuzz, tsan)" >&2; exit 2 ;;
  esac
  if [[ -n "${GRADATTR_CI_START:-}" ]]; then
    elapsed=$(($(date +%s) - GRADATTR_CI_START))
    if ((elapsed + estimate[$job] > budget)); then
      echo "ci-sanitizers: SKIPPED $job: CI has run ${elapsed} s, the job needs about ${estimate[$job]} s, the budget is ${budget} s"
      timings+=("$job skipped (time budget)")
      continue
    fi
  fi
  t0=$SECONDS
  [[ -n "${deps_done:-}" ]] || { bash scripts/install-deps.sh --sanitizers; deps_done=1; }
  "$job"
  timings+=("$job $((SECONDS - t0)) s")
  echo "ci-sanitizers: $job done in $((SECONDS - t0)) s"
done
printf 'ci-sanitizers: %s\n' "${timings[@]}"
