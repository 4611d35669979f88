#!/usr/bin/env bash
# One GPU session of benchmarks/gpu_runs.py: QM9 trained further from the bundled qm9-dng and a
# planar model trained from scratch, both at once on one GPU, then sampled there.
#
#   python benchmarks/gpu_runs.py pack qm9 planar      # first, on a machine with the QM9 wheel
#   bash benchmarks/gpu_session.sh OUT MINUTES         # on the GPU machine (its own python3)
#
# Needs .whl/ with the wheels the GPU image lacks (pydantic and its parts, ase), fetched with
#   python3 -m pip download --no-deps --only-binary=:all: --python-version 3.12 --implementation cp \
#     --platform manylinux2014_x86_64 -d .whl pydantic pydantic_core annotated_types typing_inspection ase
# (the versions `pip show` gives in .venv); writes
# OUT/{qm9-dng,planar-dng}.{ckpt,log.jsonl,samples.pt} and OUT/session.log.
set -u
OUT=${1:?OUT folder}
MINUTES=${2:?training minutes}
SAMPLE_BUDGET=${3:-75}
mkdir -p "$OUT"
INIT=plugins/graphdiff-molecules/graphdiff_molecules/checkpoints/qm9-dng.ckpt
exec > >(tee -a "$OUT/session.log") 2>&1
export PYTHONUNBUFFERED=1
if [ -d .whl ]; then
    python3 -m pip install -q --no-index --no-deps --no-compile --no-cache-dir --upgrade --target /tmp/site .whl/*.whl || exit 1
    export PYTHONPATH=/tmp/site
fi
python3 -m pip install -q --no-index --no-deps --no-build-isolation -e . -e plugins/graphdiff-molecules -e plugins/graphdiff-social || exit 1
date
nvidia-smi --query-gpu=name,memory.total --format=csv,noheader
python3 -c "import torch, graphdiff; from graphdiff.plugins import get_manager; m = get_manager(); print('torch', torch.__version__, 'cuda', torch.cuda.is_available(), [d for d in ('molecules', 'social') if m.get('domains', d)])" || exit 1

python3 benchmarks/gpu_runs.py train qm9-dng --minutes "$MINUTES" --out "$OUT" --init "$INIT" \
    --snapshot-minutes 1.5 > "$OUT/qm9-train.txt" 2>&1 &
QM9=$!
python3 benchmarks/gpu_runs.py train planar-dng --minutes "$MINUTES" --out "$OUT" \
    --snapshot-minutes 2 > "$OUT/planar-train.txt" 2>&1 &
PLANAR=$!
wait $QM9; echo "qm9 train exit $?"; tail -3 "$OUT/qm9-train.txt"
wait $PLANAR; echo "planar train exit $?"; tail -3 "$OUT/planar-train.txt"
date

python3 benchmarks/gpu_runs.py sample qm9-dng --out "$OUT" --num 1000 --seeds 1 --init "$INIT" \
    --snapshot-num 500 --budget-s "$SAMPLE_BUDGET" &
S1=$!
python3 benchmarks/gpu_runs.py sample planar-dng --out "$OUT" --num 40 --seeds 3 --snapshot-num 40 \
    --budget-s "$SAMPLE_BUDGET" &
S2=$!
wait $S1; echo "qm9 sample exit $?"
wait $S2; echo "planar sample exit $?"
cat "$OUT/qm9-train.txt" "$OUT/planar-train.txt" >> "$OUT/session.log"
rm -f "$OUT/qm9-train.txt" "$OUT/planar-train.txt"
date
ls -la "$OUT"
