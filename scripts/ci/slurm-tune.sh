#!/bin/bash
# Tune a network with a Slurm job array: every array task tunes its share of the network's tasks
# on one GPU into its own log; a dependent job merges the shards.
#
#   sbatch --array=0-3 scripts/ci/slurm-tune.sh networks/resnet50.json
#   (when all are done)  build/apps/chameleon merge tuning/shard-*.jsonl --out tuning/resnet50.jsonl
#
# or let Slurm chain the merge:
#   jid=$(sbatch --parsable --array=0-3 scripts/ci/slurm-tune.sh networks/resnet50.json)
#   sbatch --dependency=afterok:$jid --wrap "build/apps/chameleon merge tuning/shard-*.jsonl --out tuning/resnet50.jsonl"
#SBATCH --job-name=chameleon-tune
#SBATCH --gres=gpu:1
#SBATCH --cpus-per-task=16
#SBATCH --time=06:00:00
#SBATCH --output=tuning/slurm-%A_%a.out
set -euo pipefail
network=${1:?usage: slurm-tune.sh NETWORK_JSON [TRIALS]}
trials=${2:-1000}
index=${SLURM_ARRAY_TASK_ID:?run as a job array (sbatch --array=0-N)}
count=${SLURM_ARRAY_TASK_COUNT:?run as a job array (sbatch --array=0-N)}
mkdir -p tuning
exec build/apps/chameleon tune "$network" --target auto --device cuda --trials "$trials" \
  --shard "$index/$count" --log "tuning/shard-$index.jsonl" --progress json
