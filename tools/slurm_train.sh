#!/usr/bin/env bash
# Usage: [GPUS=8] [GPUS_PER_NODE=8] [CPUS_PER_TASK=5] [SRUN_ARGS=...] \
#        tools/slurm_train.sh PARTITION JOB_NAME CONFIG [WORK_DIR] [train.py args]
#
# Preemption: srun asks Slurm for SIGUSR1 90 s before the time limit
# (PREEMPT_SIGNAL=USR1@90; empty for none); on it, or on the SIGTERM of a
# preemption, the ranks save iter_N.pth and exit 75. Inside a batch job
# (SLURM_JOB_ID set) this script then runs `scontrol requeue $SLURM_JOB_ID`
# (at most MAX_REQUEUES=20 times, counted by SLURM_RESTART_COUNT); the
# requeued job runs the same command, which resumes from that checkpoint.
# Submit it requeueable, e.g.
#   sbatch --requeue -p PARTITION --wrap \
#     "tools/slurm_train.sh PARTITION x3d_s configs/x3d/x3d_s_kinetics400.py"
# Without a batch job the script exits 75: run the same command again.
set -x
PARTITION=$1
JOB_NAME=$2
CONFIG=$3
WORK_DIR=${4:-}
GPUS=${GPUS:-8}
GPUS_PER_NODE=${GPUS_PER_NODE:-8}
CPUS_PER_TASK=${CPUS_PER_TASK:-5}
SRUN_ARGS=${SRUN_ARGS:-""}
PREEMPT_SIGNAL=${PREEMPT_SIGNAL-USR1@90}
MAX_REQUEUES=${MAX_REQUEUES:-20}
PREEMPTED=75  # mmx3d.engine.hooks.PREEMPTION_EXIT_CODE
shift 3; [ -n "$WORK_DIR" ] && shift 1
PY_ARGS=("$@")
[ -n "$WORK_DIR" ] && PY_ARGS=(--work-dir "$WORK_DIR" "${PY_ARGS[@]}")
SIGNAL_ARGS=()
[ -n "$PREEMPT_SIGNAL" ] && SIGNAL_ARGS=(--signal="$PREEMPT_SIGNAL")
DIR="$(cd "$(dirname "$0")" && pwd)"
# a preemption signals this batch shell too: note it, let srun finish (its
# ranks are checkpointing) and reach the requeue below instead of dying
for SIG in TERM USR1; do
  trap "echo 'slurm_train.sh: got SIG$SIG, waiting for the ranks' >&2" "$SIG"
done
PYTHONPATH="$DIR/..":$PYTHONPATH \
srun -p ${PARTITION} \
    --job-name=${JOB_NAME} \
    --gres=gpu:${GPUS_PER_NODE} \
    --ntasks=${GPUS} \
    --ntasks-per-node=${GPUS_PER_NODE} \
    --cpus-per-task=${CPUS_PER_TASK} \
    --kill-on-bad-exit=1 \
    "${SIGNAL_ARGS[@]}" \
    ${SRUN_ARGS} \
    python -u "$DIR/train.py" ${CONFIG} --launcher="slurm" "${PY_ARGS[@]}"
RC=$?
if [ "$RC" -eq "$PREEMPTED" ]; then
  if [ -z "${SLURM_JOB_ID:-}" ]; then
    echo "slurm_train.sh: preempted, checkpoint saved; not in a batch job:" \
         "run the same command again to continue" >&2
  elif [ "${SLURM_RESTART_COUNT:-0}" -ge "$MAX_REQUEUES" ]; then
    echo "slurm_train.sh: preempted, checkpoint saved; job $SLURM_JOB_ID" \
         "already requeued ${SLURM_RESTART_COUNT} times (MAX_REQUEUES=" \
         "$MAX_REQUEUES): not requeued" >&2
  else
    echo "slurm_train.sh: preempted, checkpoint saved; requeueing job" \
         "$SLURM_JOB_ID" >&2
    scontrol requeue "$SLURM_JOB_ID"
  fi
fi
exit $RC
