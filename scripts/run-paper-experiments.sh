#!/bin/sh
# Regenerates every table, figure and value of docs/report.md from the current build and commit,
# then docs/report.md itself (paper_experiments report, from docs/report/report.template.md).
#
#   scripts/run-paper-experiments.sh [--limit N] [--out DIR] [--only e1,e2,...] [--no-report] [--allow-dirty]
#
# --out DIR is relative to the repository root. --limit N caps the number of test images of every experiment (a reduced run; the report's
# numbers come from the defaults below). Environment: BUILD (build directory, default
# build-paper), JOBS (make -j, default 2). The seed models for E4 (examples/data/seeds/, seeds
# 1..10) are trained when missing: `train_fashion --epochs 4 --seed S --threads 2` (~40-60 s each
# on 2 cores; seeds 1-5 are committed, 6-10 are not, to keep the repository small).
# E7 and E10 train their models when missing (not committed; training is deterministic for a seed and
# thread count) into $TRAINED (default build-paper/models, relative to the repository root), each
# written as .part then renamed: E7 one model on 56x56 canvases (--canvas 56, 3 epochs, ~2.5 min),
# E10 label smoothing 0.1 and 0.2 with seeds 1 and 2 (4 epochs, as the E4 seeds; smoothing 0 reuses
# the E4 seed models 1 and 2, which are trained with the same settings).
# E5 and E11's faithfulness part run on the sweep engine: `gradattr sweep` into $SWEEPS/e5.sqlite
# and e11.sqlite (default build-paper/sweeps; not committed), then paper_experiments reads them. Set
# SWEEP_LAUNCH (e.g. "mpirun -np 4", or "srun") to run those sweeps distributed (docs/sweep.md).
# Every <exp>_run.md records the commit (`git describe --dirty --always`, taken once at the start),
# the command and the wall time; run from a clean tree so that the commit names the source (the
# sweeps record the CLI build's commit, and E5/E11 refuse a sweep of another).
set -eu
ROOT=$(cd "$(dirname "$0")/.." && pwd)
BUILD=${BUILD:-$ROOT/build-paper}
JOBS=${JOBS:-2}
OUT=docs/report
LIMIT=""
ONLY="e1,e2,e3,e4,e5,e6,e7,e8,e9,e10,e11"
REPORT=1
ALLOW_DIRTY=0
while [ $# -gt 0 ]; do
  case "$1" in
    --limit) LIMIT=$2; shift 2 ;;
    --out) OUT=$2; shift 2 ;;
    --only) ONLY=$2; shift 2 ;;
    --no-report) REPORT=0; shift ;;
    --allow-dirty) ALLOW_DIRTY=1; shift ;;
    *) echo "run-paper-experiments.sh: unknown argument $1" >&2; exit 2 ;;
  esac
done
want() { case ",$ONLY," in *",$1,"*) return 0 ;; *) return 1 ;; esac; }
lim() { if [ -n "$LIMIT" ]; then echo "--limit $LIMIT"; else echo "--limit $1"; fi; }

cd "$ROOT"
# The commit is taken before anything else (a later edit of the tree must not change it); a dirty
# tree is refused unless --allow-dirty (then the *_run.md say "-dirty" and the ctest check fails).
COMMIT=$(git describe --dirty --always)
case "$COMMIT" in
  *-dirty) if [ "$ALLOW_DIRTY" = 1 ]; then echo "run-paper-experiments.sh: warning: dirty tree ($COMMIT)" >&2
           else echo "run-paper-experiments.sh: the tree is dirty ($COMMIT): commit first, or pass --allow-dirty" >&2; exit 2; fi ;;
esac
# The ONNX importer (libonnx-dev) is needed by E11 only (--only without e11 builds without it).
case ",$ONLY," in *",e11,"*) ONNX=ON ;; *) ONNX=OFF ;; esac
if [ ! -f "$BUILD/CMakeCache.txt" ] || ! grep -q "^GRADATTR_WITH_ONNX:BOOL=$ONNX" "$BUILD/CMakeCache.txt"; then
  cmake -S "$ROOT" -B "$BUILD" -DCMAKE_BUILD_TYPE=Release -DGRADATTR_WITH_ONNX=$ONNX
fi
cmake --build "$BUILD" --target paper_experiments train_fashion gradattr_cli -j "$JOBS"
P=$BUILD/examples/paper/paper_experiments
G=$BUILD/examples/cli/gradattr
FASHION=/usr/share/datasets/fashion-mnist
SWEEPS=${SWEEPS:-build-paper/sweeps}  # E5's and E11's sweep databases (not committed; relative, as W)
W=examples/data/fashion_vgg.safetensors  # relative: the *_run.md commands do not name this machine's paths
export OMP_WAIT_POLICY=${OMP_WAIT_POLICY:-passive}
mkdir -p "$OUT"
T0=$(date +%s)

# train_into DIR FILE ARGS...: trains into DIR/FILE when missing (atomically: .part, then mv), with
# the settings every model of the report shares (batch 64, Adam at 0.002, 2 threads) plus ARGS.
train_into() {
  d=$1; f=$2; shift 2
  mkdir -p "$d"
  [ -f "$d/$f" ] || (cd "$d" && "$BUILD/examples/train_fashion/train_fashion" --batch 64 --optimizer adam --lr 0.002 --threads 2 "$@" \
    --out "$f.part" && mv "$f.part" "$f")
}
# train_model FILE ARGS...: a model of E7, E8 or E10 into $TRAINED (not committed).
TRAINED=${TRAINED:-build-paper/models}
train_model() { train_into "$TRAINED" "$@"; }
# train_seed S: the E4 seed model S (4 epochs) into examples/data/seeds (1-5 committed).
SEEDS=examples/data/seeds
train_seed() { train_into "$SEEDS" "fashion_vgg_seed$1.safetensors" --epochs 4 --seed "$1"; }

# E4: ten models trained from seeds 1..10 (4 epochs each), true-class maps.
e4() {
  MODELS=""
  for s in 1 2 3 4 5 6 7 8 9 10; do
    train_seed $s
    MODELS=${MODELS:+$MODELS,}$SEEDS/fashion_vgg_seed$s.safetensors
  done
  $P e4 --commit "$COMMIT" --models "$MODELS" --out "$OUT" $(lim 1000) --steps 50
}
# E3: 1 - y_c on the whole test set; float vs double maps on 100 saturated + 100 unsaturated images.
e3() { $P e3 --commit "$COMMIT" --weights "$W" --out "$OUT" $(lim 10000) --per-group 100 --steps 16; }
# E6: Grad-CAM++ vs Grad-CAM+, the whole t10k.
e6() { $P e6 --commit "$COMMIT" --weights "$W" --out "$OUT" $(lim 10000); }
# E2: the information-gain identity, float and double; IG / RSI Grad-CAM completeness at M = 16, 64.
e2() { $P e2 --commit "$COMMIT" --weights "$W" --out "$OUT" $(lim 1000) --completeness-steps 16,64; }
# E1: shifted twin at the Grad-CAM layer, K over six decades; VGG19 (random weights, seed 0) on one image, 4 methods.
e1() {
  $P e1 --commit "$COMMIT" --weights "$W" --out "$OUT" $(lim 1000) --steps 16 --ks 0.01,1,100,10000 --figure-k 100 \
    --vgg19-limit 1 --vgg19-ks 0.01,100,10000 --vgg19-methods gradcam,gradcam++,hirescam,saliency
}
# sweep NAME ARGS...: `gradattr sweep ARGS --out $SWEEPS/NAME.sqlite` from a fresh database (a
# half-done one from an interrupted run is resumed by hand: rerun the same command). Prefixed by
# $SWEEP_LAUNCH when set, e.g. SWEEP_LAUNCH="mpirun -np 4" (docs/sweep.md, "MPI"): the report's
# sweeps then scale out as any sweep does.
sweep() {
  name=$1; shift
  mkdir -p "$SWEEPS"
  rm -f "$SWEEPS/$name.sqlite" "$SWEEPS/$name.sqlite-wal" "$SWEEPS/$name.sqlite-shm"
  ${SWEEP_LAUNCH:-} "$G" sweep --idx "$FASHION/t10k-images-idx3-ubyte.gz" --class top --seed 0 \
    --metrics deletion,insertion --metric-steps 28 --metric-batch 32 --random-baseline "$@" --out "$SWEEPS/$name.sqlite"
}
# The general methods (every method but the attention ones), in the library's order.
GENERAL=gradcam,gradcam+,gradcam++,hirescam,xgradcam,layercam,scorecam,rsi-gradcam,integrated-gradcam,saliency,inputxgrad,ig,smoothgrad
# E5: deletion / insertion, explanation x evaluation score space per method: a sweep, then its tables.
e5() {
  sweep e5 $(lim 1000) --weights "$W" --methods "$GENERAL" --scores pre,post,log,centered --steps 50 --samples 50 \
    --metric-score pre,post,log,centered
  $P e5 --commit "$COMMIT" --sweep "$SWEEPS/e5.sqlite" --weights "$W" --out "$OUT"
}
# E8: sanity checks (Adebayo et al. 2018): cascading randomisation of the shipped model from the top
# (classifier, conv3, conv2, conv1), and a model trained on shuffled labels (trained when missing:
# 60 epochs on the first 2000 training images (small enough to be partly memorised), seed 1,
# deterministic; ~20-60 s on 2 cores; into $TRAINED, not committed). Path methods at M = 16.
e8() {
  train_model fashion_vgg_shuffled_labels.safetensors --shuffle-labels --epochs 60 --limit 2000 --seed 1
  $P e8 --commit "$COMMIT" --weights "$W" --out "$OUT" $(lim 1000) --steps 16 \
    --shuffled-weights "$TRAINED/fashion_vgg_shuffled_labels.safetensors" --randomise-seed 2
}
# E9: ROAD (noisy linear imputation, sigma 0.01, MoRF/LeRF at 10..90 %) beside deletion/insertion
# (black baseline), with random / centred Gaussian / Sobel / intensity baselines. Path methods at M = 16.
e9() { $P e9 --commit "$COMMIT" --weights "$W" --out "$OUT" $(lim 1000) --steps 16 --curve-steps 14 --noise 0.01; }
# E7: composites of two items (different classes, known boxes) on 56x56, both classes explained.
e7() {
  train_model fashion_vgg_canvas56.safetensors --epochs 3 --seed 1 --canvas 56
  $P e7 --commit "$COMMIT" --weights "$TRAINED/fashion_vgg_canvas56.safetensors" --out "$OUT" $(lim 1000) --steps 16 --composite-seed 7
}
# E10: label smoothing 0, 0.1, 0.2, seeds 1 and 2 each (0: the E4 seed models).
e10() {
  for e in 0.1 0.2; do
    for s in 1 2; do train_model "fashion_vgg_ls${e}_seed$s.safetensors" --epochs 4 --seed $s --label-smoothing $e; done
  done
  for s in 1 2; do train_seed $s; done
  $P e10 --commit "$COMMIT" --smoothing 0,0.1,0.2 --out "$OUT" $(lim 1000) --steps 16 --curve-steps 28 \
    --models "$SEEDS/fashion_vgg_seed1.safetensors,$SEEDS/fashion_vgg_seed2.safetensors,$TRAINED/fashion_vgg_ls0.1_seed1.safetensors,$TRAINED/fashion_vgg_ls0.1_seed2.safetensors,$TRAINED/fashion_vgg_ls0.2_seed1.safetensors,$TRAINED/fashion_vgg_ls0.2_seed2.safetensors"
}

# E11: the shifted twin (patch-token and class-token twins) and faithfulness on two ViTs of one
# layout loaded from ONNX: trained on Fashion-MNIST and random (tools/train_vit_fashion.py wrote
# both; committed). Path methods at M = 16; the random ViT on the first 100 images.
e11() {
  V=examples/data/vit_fashion.onnx
  L=vit.encoder.layers.encoder_layer_1
  # faithfulness at the model's default CAM layer (as before the sweep: the twin's layer is E11's own)
  sweep e11 $(lim 1000) --weights "$V" --methods "$GENERAL,rollout,attention-relevance" --scores pre,post,log,centered \
    --steps 16 --samples 16 --metric-score post
  $P e11 --commit "$COMMIT" --vit "$V" --vit-random examples/data/vit_fashion_random.onnx --layer "$L" \
    --out "$OUT" $(lim 1000) --steps 16 --random-limit 100 --faithfulness-sweep "$SWEEPS/e11.sqlite"
}

# run_lane E...: the wanted experiments of the list, one after another; under set -e the first
# failure ends the lane (the lanes run in subshells, so it ends only that lane, with its status).
run_lane() {
  for e in "$@"; do
    if want "$e"; then echo "run-paper-experiments.sh: $e ($(date +%T))"; "$e"; fi
  done
}
# Two lanes, each one process on one OpenMP thread, run side by side (LANES=1: one lane on
# OpenMP's default threads). The Fashion model's layers are too small for two threads to pay:
# on this project's 2-core machine one E5 run took 44 s on 2 threads and 21.5 s on 1, and two
# 1-thread runs side by side 22 s each. Training keeps --threads 2 (the committed seeds' setting).
# The lanes are balanced by the experiments' earlier wall times; they share no file but the
# seed models 1 and 2 (committed; E10 only reads them).
LANE_A="e4 e3 e6 e2 e1"
LANE_B="e10 e9 e5 e7 e8 e11"
if [ "${LANES:-2}" = 1 ]; then
  run_lane $LANE_A $LANE_B
else
  (export OMP_NUM_THREADS=1; run_lane $LANE_A) > "$OUT/lane_a.log" 2>&1 &
  PID_A=$!
  (export OMP_NUM_THREADS=1; run_lane $LANE_B) > "$OUT/lane_b.log" 2>&1 &
  PID_B=$!
  FAIL=0
  wait $PID_A || FAIL=1
  wait $PID_B || FAIL=1
  if [ "$FAIL" = 1 ]; then
    echo "run-paper-experiments.sh: a lane failed; its log: $OUT/lane_a.log, $OUT/lane_b.log" >&2
    tail -5 "$OUT/lane_a.log" "$OUT/lane_b.log" >&2
    exit 1
  fi
  rm -f "$OUT/lane_a.log" "$OUT/lane_b.log"
fi
T1=$(date +%s)
printf 'commit: %s\n\ncommand: `scripts/run-paper-experiments.sh%s`\n\nwall time: %s s (all experiments, %s)\n' \
  "$COMMIT" "${LIMIT:+ --limit $LIMIT}" "$((T1 - T0))" \
  "$([ "${LANES:-2}" = 1 ] && echo "one lane" || echo "two lanes side by side, one OpenMP thread each")" > "$OUT/all_run.md"
printf 'key,value\nall.commit,%s\nall.seconds,%s\nall.minutes,%s\n' "$COMMIT" "$((T1 - T0))" "$(( (T1 - T0 + 30) / 60 ))" > "$OUT/all_values.csv"
if [ "$REPORT" = 1 ] && [ -f "$ROOT/docs/report/report.template.md" ]; then
  # a run into another --out directory renders its own report there, never over docs/report.md
  if [ "$OUT" = docs/report ]; then REP=docs/report.md; else REP=$OUT/report.md; fi
  $P report --dir "$OUT" --template docs/report/report.template.md --out "$REP"
fi
echo "run-paper-experiments.sh: tables and figures in $OUT ($((T1 - T0)) s)"
