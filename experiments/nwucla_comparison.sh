#!/bin/bash
# NW-UCLA cross-view comparison of the four methods under one budget (docs/benchmarks.md).
#
#   bash experiments/nwucla_comparison.sh [OUT_DIR] [EPOCHS]
#
# Every method runs its `demo`-size model (h = 8, D = 64, T = 32, batch 64, small-preset MoCo
# settings, the demo's lr 0.02) on NW-UCLA for EPOCHS pretraining epochs (default 30, lr x0.1
# 5 epochs before the end; at the reference's lr 0.1 this small model's runs are unstable and
# the results swing by 20 points from seed to seed, docs/benchmarks.md), then linear, KNN,
# 10% semi-supervised (30 epochs) and fine-tuning (10 epochs), both with the reference's
# eval-mode BN; fine-tuning and semi-supervised again with train-mode BN; then the random-init
# encoder as a baseline and the three-stream fusion of the methods in $THREE_STREAM_METHODS
# (default SkeletonCLR and SkeleMixCLR+).
# NW-UCLA is read from $SKEL_JAX_NWUCLA_DIR or ../shared/data. Wall times go to summary.txt.
set -u
OUT=${1:-workdirs/nwucla_comparison}
EPOCHS=${2:-30}
PY=${PYTHON:-python}
mkdir -p "$OUT"
COMMON=(--config.data.dataset=nwucla --config.data.layout=kinect_v1_20
        --config.data.num_classes=10 --config.data.num_train=0 --config.data.num_test=0
        "--config.optim.epochs=$EPOCHS" "--config.optim.lr_steps=($((EPOCHS - 5)),)"
        --config.eval.finetune.epochs=10 "--config.eval.finetune.lr_steps=(8,)"
        "--config.eval.semi.fractions=(0.1,)" --config.eval.semi.epochs=30
        "--config.eval.semi.lr=(0.1,)" "--config.eval.semi.lr_steps=((25,),)"
        "--config.eval.semi.weight_decay=(0.0001,)" --config.eval.tsne.enabled=False)

timed() {  # timed NAME COMMAND...: runs COMMAND, appends its exit code and wall time
  local name=$1 start
  shift
  start=$(date +%s)
  "$@" >> "$OUT/$name.log" 2>&1
  echo "$name rc=$? wall=$(( $(date +%s) - start ))s" | tee -a "$OUT/summary.txt"
}

for method in skeletonclr aimclr skelemixclr skeattnclr; do
  timed "$method" $PY -m skel_jax.main --config="configs/$method.py:demo" \
      --workdir="$OUT/$method" --mode=pretrain "${COMMON[@]}"
  timed "$method" $PY -m skel_jax.main --config="configs/$method.py:demo" \
      --workdir="$OUT/$method" --mode=eval_all "${COMMON[@]}"
  # The same fine-tuning and semi-supervised runs with normal train-mode BN (results named
  # finetune_bntrain / semi_10pct_bntrain, beside the reference's eval-mode BN ones).
  for mode in finetune semi; do
    timed "${method}_${mode}_bntrain" $PY -m skel_jax.main --config="configs/$method.py:demo" \
        --workdir="$OUT/$method" --mode=$mode --config.eval.finetune.bn_mode=train "${COMMON[@]}"
  done
done
timed random_init $PY -m skel_jax.main --config=configs/skeletonclr.py:demo \
    --workdir="$OUT/random_init" --mode=eval --config.eval.random_init=True "${COMMON[@]}"
# Three streams for each method in $THREE_STREAM_METHODS; the joint run above is copied in
# and reused (three_stream skips streams whose results are complete and up to date).
for method in ${THREE_STREAM_METHODS:-skeletonclr skelemixclr}; do
  mkdir -p "$OUT/${method}_3s"
  [ -d "$OUT/${method}_3s/joint" ] || cp -r "$OUT/$method" "$OUT/${method}_3s/joint"
  timed "${method}_3s" $PY -m skel_jax.main --config="configs/$method.py:demo" \
      --workdir="$OUT/${method}_3s" --mode=three_stream "${COMMON[@]}"
done
