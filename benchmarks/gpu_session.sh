#!/usr/bin/env bash
# One GPU session of benchmarks/gpu_runs.py: qm9-dng trained further from the bundled weights and
# the gap-conditioned qm9-gap-cond trained from scratch, both at once on one GPU (batch 512: one
# process's step is bound by the CPU's kernel launches, not the GPU, so a larger batch is nearly
# free), then sampled there (qm9-gap-cond for (size, gap) pairs drawn from its training split).
#
#   python benchmarks/gpu_runs.py pack qm9                 # first, on a machine with the QM9 wheel
#   bash benchmarks/gpu_session.sh OUT MINUTES [SAMPLE_S]   # on the GPU machine (its own python3)
#
# Run it with carry [".whl", ".gpu"] (both ignored by git). Needs .whl/ with the wheels the GPU image
# lacks (pydantic and its parts, ase), fetched with
#   python3 -m pip download --no-deps --only-binary=:all: --python-version 3.12 --implementation cp \
#     --platform manylinux2014_x86_64 -d .whl pydantic pydantic_core annotated_types typing_inspection ase
# (the versions `pip show` gives in .venv); writes
# OUT/{qm9-dng,qm9-gap-cond}.{ckpt,log.jsonl,samples.pt} and OUT/session.log.
# PYTHON=.venv/bin/python bash benchmarks/gpu_session.sh OUT 0.2 30 rehearses it on a CPU.
set -u
OUT=${1:?OUT folder}
MINUTES=${2:?training minutes}
SAMPLE_BUDGET=${3:-100}
NUM=${NUM:-1000}
STEPS=${STEPS:-500}
BATCH=${BATCH:-512}
PY=${PYTHON:-python3}
mkdir -p "$OUT"
INIT=plugins/graphdiff-molecules/graphdiff_molecules/checkpoints/qm9-dng.ckpt
exec > >(tee -a "$OUT/session.log") 2>&1
export PYTHONUNBUFFERED=1
if [ -z "${PYTHON:-}" ]; then
    if [ -d .whl ]; then
        $PY -m pip install -q --no-index --no-deps --no-compile --no-cache-dir --upgrade --target /tmp/site .whl/*.whl || exit 1
        export PYTHONPATH=/tmp/site
    fi
    $PY -m pip install -q --no-index --no-deps --no-build-isolation -e . -e plugins/graphdiff-molecules || exit 1
fi
date
nvidia-smi --query-gpu=name,memory.total --format=csv,noheader
$PY -c "import torch, graphdiff; from graphdiff.plugins import get_manager; m = get_manager(); print('torch', torch.__version__, 'cuda', torch.cuda.is_available(), m.get('domains', 'molecules'))" || exit 1

$PY benchmarks/gpu_runs.py train qm9-dng --minutes "$MINUTES" --out "$OUT" --init "$INIT" \
    --batch-size "$BATCH" --tf32 --snapshot-minutes 2 > "$OUT/qm9-train.txt" 2>&1 &
DNG=$!
$PY benchmarks/gpu_runs.py train qm9-gap-cond --minutes "$MINUTES" --out "$OUT" --lr "${LR_COND:-7e-4}" \
    --batch-size "$BATCH" --tf32 --snapshot-minutes 2 > "$OUT/cond-train.txt" 2>&1 &
COND=$!
wait $DNG; echo "qm9-dng train exit $?"; tail -3 "$OUT/qm9-train.txt"
wait $COND; echo "qm9-gap-cond train exit $?"; tail -3 "$OUT/cond-train.txt"
date
nvidia-smi --query-gpu=memory.used --format=csv,noheader

$PY benchmarks/gpu_runs.py sample qm9-dng --out "$OUT" --num "$NUM" --steps "$STEPS" --seeds 1 \
    --snapshot-num 500 --budget-s "$SAMPLE_BUDGET" &
S1=$!
$PY benchmarks/gpu_runs.py sample qm9-gap-cond --out "$OUT" --num "$NUM" --steps "$STEPS" --seeds 1 \
    --snapshot-num 500 --budget-s "$SAMPLE_BUDGET" &
S2=$!
wait $S1; echo "qm9-dng sample exit $?"
wait $S2; echo "qm9-gap-cond sample exit $?"
grep -h "graphs_per_s" "$OUT/qm9-dng.log.jsonl" "$OUT/qm9-gap-cond.log.jsonl" 2>/dev/null | tail -2
cat "$OUT/qm9-train.txt" "$OUT/cond-train.txt" >> "$OUT/session.log"
rm -f "$OUT/qm9-train.txt" "$OUT/cond-train.txt"
date
ls -la "$OUT"
