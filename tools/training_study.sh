#!/usr/bin/env bash
# Accuracy per CPU-hour on 2 cores (issue 10, part 3): what the shipped model's training
# should spend its CPU on. Five short runs on the same data (data/v3_ap2 unless stated), two at
# a time with one thread each, so each run's wall time is its CPU time:
#   finetune     fine-tune the v2 deploy model, MTG-CNN (depth auxiliary task), 300 px
#   scratch      the same network from random weights (lr 1e-3)
#   finetune224  fine-tune at 224 px input
#   noaux        fine-tune without the auxiliary task (GG-CNN: the grasp branch alone)
#   lessdata     fine-tune on data/v3_ap2/single only (429 of 1,122 views)
# Every run trains EPOCHS epochs of BATCHES batches of 8, validating on VAL views of its own
# split each epoch; then every best.pt is scored on the held-out set (data/v3_eval/heldout).
# Summarise with: python -m training study-report runs/study --plot docs/training_study.png
# (docs/training_study.md: the measured results)
# Usage: tools/training_study.sh [OUT=runs/study]  (env: EPOCHS=5 BATCHES=50 VAL=54)
set -euo pipefail
cd "$(dirname "$0")/.."
OUT=${1:-runs/study}
EPOCHS=${EPOCHS:-5}
BATCHES=${BATCHES:-50}
VAL=${VAL:-54}
PY=${PYTHON:-.venv/bin/python}
V2=models/candidates/mtgcnn_depth_p_v2
mkdir -p "$OUT"
export OMP_NUM_THREADS=1 MKL_NUM_THREADS=1

# Init checkpoints from the v2 deploy model: with a fresh auxiliary branch, and without one.
for net in mtgcnn ggcnn; do
  [ -f "$OUT/init_v2_$net.pt" ] || "$PY" - "$V2" "$net" "$OUT" <<'PYEOF'
import sys
from dataclasses import replace
from pathlib import Path
from training.recipe import init_checkpoint, PRESETS
source, net, out = Path(sys.argv[1]), sys.argv[2], Path(sys.argv[3])
settings = replace(PRESETS['tiny'], network=net, aux='depth' if net == 'mtgcnn' else 'none')
made = init_checkpoint(source, settings, out)
made.rename(out / f'init_v2_{net}.pt')
PYEOF
done

run() {  # name data network size lr init
  local name=$1 data=$2 net=$3 size=$4 lr=$5 init=$6
  local dir="$OUT/$name"
  [ -f "$dir/done" ] && return 0
  mkdir -p "$dir"
  local extra=()
  [ "$init" != none ] && extra=(--init "$OUT/init_v2_$net.pt")
  /usr/bin/time -f '%U %S %e' -o "$dir/time.txt" \
    "$PY" -m training train --data "$data" --network "$net" --loss positional \
      --input-size "$size" --epochs "$EPOCHS" --batches-per-epoch "$BATCHES" --lr "$lr" \
      --val-limit "$VAL" --workers 0 --cache-mb 3000 --device cpu --out "$dir" \
      "${extra[@]}" > "$dir/train.log" 2>&1
  "$PY" -m training evaluate --checkpoint "$dir/best.pt" --data data/v3_eval/heldout \
    --split all --out "$dir/heldout.json" > "$dir/heldout.log" 2>&1
  touch "$dir/done"
}

run finetune data/v3_ap2 mtgcnn 300 2e-4 v2 & run scratch data/v3_ap2 mtgcnn 300 1e-3 none & wait
run finetune224 data/v3_ap2 mtgcnn 224 2e-4 v2 & run noaux data/v3_ap2 ggcnn 300 2e-4 v2 & wait
run lessdata data/v3_ap2/single mtgcnn 300 2e-4 v2
echo "done: $OUT"
