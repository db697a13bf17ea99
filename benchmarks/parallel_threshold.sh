#!/usr/bin/env bash
# When a loop goes parallel (core/parallel.hpp; docs/benchmarks.md, "Small models: when a loop
# goes parallel"): the same work with the library's threshold and with every loop parallel
# (GRADATTR_PARALLEL_WORK=0, what the library did before the threshold), rounds alternating.
#
#   A. A Fashion-MNIST sweep (the shipped 28x28 model: 300 test images, Grad-CAM and IG at 16
#      steps in three score spaces with the deletion AUC), images/s from its summary line:
#      1 thread; 2 threads with OMP_WAIT_POLICY=passive at thresholds 0, 2^15, 2^18 (the passive
#      default), 2^20 and 2^30 (no loop of this model splits); 2 threads with the policy unset
#      (libgomp spins, then sleeps) at 0, 2^15 (the default) and 2^18; active at 0 and 2^15.
#   B. VGG19 at 224x224, batch 1, 2 threads (gradattr bench: forward, input-grad, gradcam), the
#      median of --repeat runs, OMP_WAIT_POLICY=passive, threshold 0 against 2^18 (its default):
#      big layers must not slow down;
#      the same for each ONNX file in $ONNX (space-separated; e.g. tools/export_torchvision.py's
#      ResNet-50 and MobileNetV2), whose small late layers are where the threshold may bite.
#
# Usage: [ONNX="a.onnx b.onnx"] benchmarks/parallel_threshold.sh [gradattr binary] [rounds] [images] [repeat]
set -euo pipefail
bin=${1:-build/examples/cli/gradattr}
rounds=${2:-3}
limit=${3:-300}
repeat=${4:-5}
FM=${FM:-/usr/share/datasets/fashion-mnist}
[[ -x $bin ]] || { echo "parallel_threshold: no gradattr binary at $bin" >&2; exit 2; }
[[ -f $FM/t10k-images-idx3-ubyte.gz ]] || { echo "parallel_threshold: no Fashion-MNIST under $FM (Debian: dataset-fashion-mnist)" >&2; exit 2; }
dir=$(mktemp -d)
trap 'rm -rf "$dir"' EXIT
args=(sweep --idx "$FM/t10k-images-idx3-ubyte.gz" --labels "$FM/t10k-labels-idx1-ubyte.gz" --class label
      --methods gradcam,ig --scores pre,post,log --steps 16 --metrics deletion --limit "$limit")
echo "# $(git describe --always --dirty 2>/dev/null || echo unknown), $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | sed 's/^ *//')"
echo "# A: ${args[*]}"
# threads, OMP_WAIT_POLICY (unset: libgomp's default, which spins before it sleeps), threshold.
# The library's defaults: 32768 (2^15), and 262144 (2^18) under OMP_WAIT_POLICY=passive.
configs=("1 passive 262144" "2 passive 0" "2 passive 32768" "2 passive 262144" "2 passive 1048576" "2 passive 1073741824"
         "2 unset 0" "2 unset 32768" "2 unset 262144" "2 active 0" "2 active 32768")
printf '%-5s %-7s %-8s %-9s %9s\n' round threads policy threshold images_s
for r in $(seq 1 "$rounds"); do
  order=("${configs[@]}")
  if ((r % 2 == 0)); then  # alternate the order between rounds
    order=()
    for ((i = ${#configs[@]} - 1; i >= 0; i--)); do order+=("${configs[$i]}"); done
  fi
  for c in "${order[@]}"; do
    read -r t pol th <<<"$c"
    db=$dir/a.sqlite
    rm -f "$db"*
    if [[ $pol == unset ]]; then
      out=$(env -u OMP_WAIT_POLICY OMP_NUM_THREADS=$t GRADATTR_PARALLEL_WORK=$th "$bin" "${args[@]}" --out "$db" 2>&1)
    else
      out=$(OMP_NUM_THREADS=$t OMP_WAIT_POLICY=$pol GRADATTR_PARALLEL_WORK=$th "$bin" "${args[@]}" --out "$db" 2>&1)
    fi
    rate=$(sed -nE 's/.* \(([0-9.]+) images\/s\).*/\1/p' <<<"$out" | head -1)
    [[ -n $rate ]] || { echo "parallel_threshold: no rate in: $out" >&2; exit 1; }
    printf '%-5d %-7d %-8s %-9d %9s\n' "$r" "$t" "$pol" "$th" "$rate"
  done
done

models=(vgg19)
for m in ${ONNX:-}; do models+=("$m"); done
echo "# B: gradattr bench --threads 2 --repeat $repeat (OMP_WAIT_POLICY=passive)"
printf '%-5s %-28s %-11s %-9s %10s\n' round model workload threshold median_s
for r in $(seq 1 "$rounds"); do
  for m in "${models[@]}"; do
    model=(--arch vgg19)
    [[ $m == vgg19 ]] || model=(--weights "$m")
    for w in forward input-grad gradcam; do
      ths=(0 262144)
      ((r % 2 == 0)) && ths=(262144 0)
      for th in "${ths[@]}"; do
        out=$(OMP_WAIT_POLICY=passive GRADATTR_PARALLEL_WORK=$th "$bin" bench "${model[@]}" --threads 2 --repeat "$repeat" --workload "$w" 2>&1)
        med=$(sed -nE 's/.*median_s=([0-9.e+-]+).*/\1/p' <<<"$out" | head -1)
        [[ -n $med ]] || { echo "parallel_threshold: no median in: $out" >&2; exit 1; }
        printf '%-5d %-28s %-11s %-9d %10s\n' "$r" "$(basename "$m")" "$w" "$th" "$med"
      done
    done
  done
done
