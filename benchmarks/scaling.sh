#!/usr/bin/env bash
# Batch and input-size scaling of gradattr's workloads (docs/benchmarks.md, "Batches and input
# sizes"): per-image time and peak memory at batch 1, 8, 32 (224 px) and at 224, 448, 896 px
# (batch 1), each (workload, batch, size) in its own process so its max RSS is its own.
# Usage: benchmarks/scaling.sh [gradattr binary] [threads] [workloads, comma-separated]
set -euo pipefail
bin=${1:-build/examples/cli/gradattr}
threads=${2:-2}
IFS=, read -r -a workloads <<<"${3:-forward,input-grad}"
run() {  # workload batch size repeat
  local out rss
  out=$( { /usr/bin/time -f "maxrss_kb=%M" "$bin" bench --arch vgg19 --workload "$1" --batch "$2" --size "$3" \
           --repeat "$4" --threads "$threads" 2>&1 1>&3 | grep maxrss_kb; } 3>&1 )
  local line median rss
  line=$(grep "^$1 " <<<"$out")
  median=$(sed -E 's/.*median_s=([0-9.e+-]+).*/\1/' <<<"$line")
  rss=$(sed -E 's/.*maxrss_kb=([0-9]+).*/\1/' <<<"$(grep maxrss_kb <<<"$out")")
  awk -v w="$1" -v b="$2" -v s="$3" -v m="$median" -v r="$rss" -v f="$(sed -E 's/.*minflt_per_call=([0-9]+).*/\1/' <<<"$line")" \
    'BEGIN { printf "%-10s batch=%-3d size=%-4d median_s=%.4f per_image_s=%.4f per_megapixel_s=%.4f maxrss_mb=%d minflt_per_call=%s\n",
             w, b, s, m, m / b, m / b / (s * s / 1e6), r / 1024, f }'
}
echo "# $(git describe --always --dirty 2>/dev/null || echo unknown) $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | sed 's/^ //'), $threads thread(s)"
for w in "${workloads[@]}"; do
  for b in 1 8 32; do run "$w" "$b" 224 3; done
  for s in 448 896; do run "$w" 1 "$s" 3; done
done
