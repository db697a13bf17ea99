#!/bin/sh
# Regenerates every table and figure of docs/report.md from the shipped model and fixed seeds.
#
#   scripts/run-paper-experiments.sh [--limit N] [--out DIR] [--only e1,e2,...]
#
# --limit N caps the number of test images of every experiment (a reduced run; the report's
# numbers come from the defaults below). Environment: BUILD (build directory, default
# build-paper), JOBS (make -j, default 2). The seed models for E4 (examples/data/seeds/) are
# trained when missing: 5 × `train_fashion --epochs 4 --seed S` (~1 min per epoch on 2 cores).
set -eu
ROOT=$(cd "$(dirname "$0")/.." && pwd)
BUILD=${BUILD:-$ROOT/build-paper}
JOBS=${JOBS:-2}
OUT=$ROOT/docs/report
LIMIT=""
ONLY="e1,e2,e3,e4,e5,e6"
while [ $# -gt 0 ]; do
  case "$1" in
    --limit) LIMIT=$2; shift 2 ;;
    --out) OUT=$2; shift 2 ;;
    --only) ONLY=$2; shift 2 ;;
    *) echo "run-paper-experiments.sh: unknown argument $1" >&2; exit 2 ;;
  esac
done
want() { case ",$ONLY," in *",$1,"*) return 0 ;; *) return 1 ;; esac; }
lim() { if [ -n "$LIMIT" ]; then echo "--limit $LIMIT"; else echo "--limit $1"; fi; }

if [ ! -d "$BUILD" ]; then cmake -S "$ROOT" -B "$BUILD" -DCMAKE_BUILD_TYPE=Release; fi
cmake --build "$BUILD" --target paper_experiments train_fashion -j "$JOBS"
P=$BUILD/examples/paper/paper_experiments
W=$ROOT/examples/data/fashion_vgg.safetensors
export OMP_WAIT_POLICY=${OMP_WAIT_POLICY:-passive}
mkdir -p "$OUT"
cd "$ROOT"

# E1: shifted twin at the Grad-CAM layer, K over six decades; VGG19 (random weights, seed 0) on one image, 4 methods.
want e1 && $P e1 --weights "$W" --out "$OUT" $(lim 16) --steps 16 --ks 0.01,1,100,10000 --figure-k 100 \
  --vgg19-limit 1 --vgg19-ks 0.01,100,10000 --vgg19-methods gradcam,gradcam++,hirescam,saliency
# E2: the information-gain identity, float and double.
want e2 && $P e2 --weights "$W" --out "$OUT" $(lim 1000)
# E3: 1 - y_c on the whole test set; degenerate maps on 8 saturated + 8 unsaturated images.
want e3 && $P e3 --weights "$W" --out "$OUT" $(lim 10000) --per-group 8 --steps 16
# E4: five models trained from seeds 1..5 (4 epochs each), true-class maps.
if want e4; then
  SEEDS=$ROOT/examples/data/seeds
  mkdir -p "$SEEDS"
  MODELS=""
  for s in 1 2 3 4 5; do
    f=$SEEDS/fashion_vgg_seed$s.safetensors
    if [ ! -f "$f" ]; then
      (cd "$SEEDS" && "$BUILD/examples/train_fashion/train_fashion" --epochs 4 --batch 64 --optimizer adam --lr 0.002 \
        --seed $s --threads 2 --out "fashion_vgg_seed$s.safetensors")
    fi
    MODELS=${MODELS:+$MODELS,}examples/data/seeds/fashion_vgg_seed$s.safetensors
  done
  $P e4 --models "$MODELS" --out "$OUT" $(lim 100) --steps 50
fi
# E5: deletion / insertion, 3 x 3 (explanation x evaluation policy) per method.
want e5 && $P e5 --weights "$W" --out "$OUT" $(lim 200) --steps 50 --curve-steps 28
# E6: Grad-CAM++ vs Grad-CAM+.
want e6 && $P e6 --weights "$W" --out "$OUT" $(lim 200)
echo "run-paper-experiments.sh: tables and figures in $OUT"
