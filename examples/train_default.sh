#!/usr/bin/env bash
# The ONE command that produces the bundled default models:
#     examples/train_default.sh
# -> examples/models/teacher   dense Mamba2 teacher (mamba_ssm checkpoint folder, safetensors)
#    examples/models/student   SpikingMamba student: SI-LIF, D=4, SGC on, distilled from it
# Each folder also holds train_summary.json (options, loss curve, wall time, validation bpb on
# the first 32 KiB of the validation split, firing rates) and evaluate.json (the whole
# validation split, written by `snncompile evaluate --save`).
# Budget: 2 CPU threads (torch.set_num_threads(2)), run at low priority (nice) because the
# machine is shared; measured wall time is in examples/models/README.md.
# Interrupted? Rerun the same command: it resumes from out/train_default (every 50 steps).
set -euo pipefail
cd "$(dirname "$0")/.."
SNN=${SNNCOMPILE:-.venv/bin/snncompile}
start=$(date +%s)
nice -n 10 "$SNN" distill --stage both -o examples/models --ckpt-dir out/train_default \
    --d-model 128 --n-layer 3 --d-state 32 --headdim 32 --expand 2 --chunk-size 32 \
    --steps 900 --lr 3e-3 --student-steps 250 --student-lr 1e-3 --warmup 50 \
    --batch 16 --seq-len 256 --seed 0 --ckpt-every 50 \
    --neuron silif --D 4 --sgc --sgc-mode gradient --sgc-weight 0.1 \
    --kl-weight 1.0 --hidden-weight 1 --hidden-target mixer --calibration mse \
    --eval-bytes 32768 --threads 2 --format safetensors "$@"
for m in teacher student; do
    nice -n 10 "$SNN" evaluate "examples/models/$m" --threads 2 --tokens 200 \
        --save "examples/models/$m/evaluate.json"
done
echo "train_default: total wall time $(( $(date +%s) - start )) s"
