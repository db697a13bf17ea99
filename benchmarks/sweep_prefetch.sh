#!/usr/bin/env bash
# What reading ahead buys a sweep (docs/benchmarks.md, "The prefetch"): the same sweep with
# --prefetch 0 (each image read and decoded only when the previous one is done) and the default
# --prefetch 2 (read on a second thread while the current one is explained), rounds alternating,
# wall time from the sweep's summary line, rows_s the time inside the method calls (the rows'
# results.seconds), other_s the rest (reading and decoding when not overlapped, the database). Images: N JPEG photographs' stand-ins (smooth random
# fields with noise, 640x480, quality 90: decoding and resizing cost what a real photo's would),
# written once by Python's PIL into a temporary directory; the model: an ONNX classifier
# (tools/export_torchvision.py writes one) at its own input size.
# Usage: benchmarks/sweep_prefetch.sh gradattr model.onnx [images] [rounds] [threads] [methods]
set -euo pipefail
bin=${1:?gradattr binary}
model=${2:?an ONNX model (tools/export_torchvision.py --model resnet50 --out F)}
n=${3:-40}
rounds=${4:-3}
threads=${5:-2}
methods=${6:-gradcam}
dir=$(mktemp -d)
trap 'rm -rf "$dir"' EXIT
mkdir "$dir/imgs"
/usr/bin/python3 - "$dir/imgs" "$n" <<'PY'
import sys
import numpy as np
from PIL import Image
out, n = sys.argv[1], int(sys.argv[2])
rng = np.random.default_rng(0)
for i in range(n):
    coarse = rng.uniform(0, 255, size=(12, 16, 3)).astype(np.uint8)
    base = np.asarray(Image.fromarray(coarse).resize((640, 480), Image.BICUBIC), dtype=np.float32)
    img = np.clip(base + rng.normal(0, 12, size=base.shape), 0, 255).astype(np.uint8)
    Image.fromarray(img).save(f"{out}/img{i:04d}.jpg", quality=90)
PY
args=(sweep --weights "$model" --images "$dir/imgs" --methods "$methods" --scores post)
echo "# $(git describe --always --dirty 2>/dev/null || echo unknown), $n images 640x480 JPEG, $threads thread(s), ${args[*]} (model $(basename "$model"))"
command -v sqlite3 >/dev/null || { echo "sweep_prefetch: needs the sqlite3 command (Debian: sqlite3)" >&2; exit 2; }
printf '%-5s %-9s %8s %10s %8s %8s\n' round prefetch wall_s s_per_img rows_s other_s
for r in $(seq 1 "$rounds"); do
  modes=(0 2)
  ((r % 2 == 0)) && modes=(2 0)
  for p in "${modes[@]}"; do
    out=$(OMP_NUM_THREADS=$threads OMP_WAIT_POLICY=passive "$bin" "${args[@]}" --prefetch "$p" --out "$dir/p$p-$r.sqlite" 2>&1)
    wall=$(sed -nE 's/.* in ([0-9.]+)s \(.*/\1/p' <<<"$out" | head -1)
    [[ -n $wall ]] || { echo "sweep_prefetch: no summary line in: $out" >&2; exit 1; }
    rows=$(sqlite3 "$dir/p$p-$r.sqlite" "select sum(seconds) from results")
    awk -v r="$r" -v p="$p" -v w="$wall" -v n="$n" -v s="$rows" \
      'BEGIN { printf "%-5d %-9s %8.2f %10.4f %8.2f %8.2f\n", r, p, w, w / n, s, w - s }'
  done
done
