#!/bin/bash
#SBATCH --job-name=sfmed-sft
#SBATCH --nodes=4
#SBATCH --ntasks-per-node=1
#SBATCH --gpus-per-node=8
#SBATCH --time=48:00:00
#SBATCH --partition=gpu
#SBATCH --output=%x-%j.out

set -euo pipefail
source /opt/env.sh
export MASTER_ADDR=$(scontrol show hostnames "$SLURM_JOB_NODELIST" | head -n 1)
export MASTER_PORT=29500
export PYTHONUNBUFFERED=1

srun --kill-on-bad-exit=1 bash -c ''\''/opt/sfmed venv/bin/python'\'' -m torch.distributed.run --nnodes=$SLURM_NNODES --nproc_per_node=8 --rdzv_id=$SLURM_JOB_ID --rdzv_backend=c10d --rdzv_endpoint=$MASTER_ADDR:$MASTER_PORT -m sfmed_trainer run /runs/sft/job.json'
