#!/usr/bin/env bash
# What a sweep costs beyond the methods themselves (docs/benchmarks.md, "The database's
# overhead"): the same sweep with and without --save-maps, rounds alternating; per run the wall
# time of the sweep (its summary line: model loaded, images read and decoded on the prefetch
# thread, rows computed and committed) against the sum of the rows' own `seconds` (the time
# inside each method call, metrics included; results.seconds in the database).
# Usage: benchmarks/sweep_overhead.sh [gradattr binary] [images] [rounds] [threads]
set -euo pipefail
bin=${1:-build/examples/cli/gradattr}
limit=${2:-300}
rounds=${3:-3}
threads=${4:-1}
FM=${FM:-/usr/share/datasets/fashion-mnist}
command -v sqlite3 >/dev/null || { echo "sweep_overhead: needs the sqlite3 command (Debian: sqlite3)" >&2; exit 2; }
dir=$(mktemp -d)
trap 'rm -rf "$dir"' EXIT
args=(sweep --idx "$FM/t10k-images-idx3-ubyte.gz" --labels "$FM/t10k-labels-idx1-ubyte.gz" --class label
      --methods gradcam,ig --scores pre,post,log --steps 16 --limit "$limit")
echo "# $(git describe --always --dirty 2>/dev/null || echo unknown), $limit images, $threads thread(s), ${args[*]}"
printf '%-5s %-10s %8s %8s %8s %9s %10s\n' round maps wall_s rows_s other_s other_pct db_mb
for r in $(seq 1 "$rounds"); do
  modes=(none save-maps)
  ((r % 2 == 0)) && modes=(save-maps none)
  for m in "${modes[@]}"; do
    db=$dir/$m-$r.sqlite
    extra=()
    [[ $m == save-maps ]] && extra=(--save-maps)
    out=$(OMP_NUM_THREADS=$threads OMP_WAIT_POLICY=passive "$bin" "${args[@]}" "${extra[@]}" --out "$db" 2>&1)
    wall=$(sed -nE 's/.* in ([0-9.]+)s \(.*/\1/p' <<<"$out" | head -1)
    rows=$(sqlite3 "$db" "select sum(seconds) from results")
    mb=$(du -m "$db" | cut -f1)
    awk -v r="$r" -v m="$m" -v w="$wall" -v s="$rows" -v mb="$mb" \
      'BEGIN { printf "%-5d %-10s %8.2f %8.2f %8.2f %8.1f%% %10d\n", r, m, w, s, w - s, 100 * (w - s) / w, mb }'
  done
done
