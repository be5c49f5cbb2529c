#!/usr/bin/env bash
# Usage: tools/dist_train.sh CONFIG GPUS [train.py args]
# Several machines: NNODES=2 NODE_RANK=0|1 MASTER_ADDR=host PORT=29500 on each
# (node 0 hosts the rendezvous at MASTER_ADDR:PORT).
# On a host without CUDA the same command runs GPUS CPU processes (gloo, DDP).
#
# Reliability (docs/reliability.md):
#   MAX_RESTARTS=3          a dead rank restarts the whole group (torchrun
#                           --max-restarts), which resumes from the newest
#                           complete checkpoint of the work dir
#   MMX3D_DIST_TIMEOUT=N    seconds a collective may wait for a frozen rank
#                           (env_cfg.dist_cfg.timeout; torch's default 1800)
#   MMX3D_SHUTDOWN_TIMEOUT=60  seconds ranks get after SIGTERM (to finish the
#                           iteration and checkpoint) before SIGKILL
#   RDZV_ID=mmx3d           rendezvous id, the same on every node
# SIGTERM/SIGUSR1 to this script (or to any rank) -> the ranks save
# iter_N.pth and this script exits 75; the same command then continues.
set -e
CONFIG=$1
GPUS=$2
shift 2 || { echo "usage: $0 CONFIG GPUS [args]" >&2; exit 2; }
NNODES=${NNODES:-1}
NODE_RANK=${NODE_RANK:-0}
PORT=${PORT:-29500}
MASTER_ADDR=${MASTER_ADDR:-"127.0.0.1"}
MAX_RESTARTS=${MAX_RESTARTS:-3}
SHUTDOWN_TIMEOUT=${MMX3D_SHUTDOWN_TIMEOUT:-60}
PREEMPTED=75  # mmx3d.engine.hooks.PREEMPTION_EXIT_CODE
DIR="$(cd "$(dirname "$0")" && pwd)"
PYTHON=${PYTHON:-$( [ -x "$DIR/../.venv/bin/python" ] && echo "$DIR/../.venv/bin/python" || echo python )}
# one thread per CPU process unless the caller says otherwise
if ! $PYTHON -c "import torch,sys;sys.exit(0 if torch.cuda.is_available() else 1)" 2>/dev/null; then
  export OMP_NUM_THREADS=${OMP_NUM_THREADS:-$(( $(nproc) / GPUS > 0 ? $(nproc) / GPUS : 1 ))}
fi
TIMEOUT_ARGS=()
if [ -n "${MMX3D_DIST_TIMEOUT:-}" ]; then
  TIMEOUT_ARGS=(--cfg-options "env_cfg.dist_cfg.timeout=$MMX3D_DIST_TIMEOUT")
fi
# local rank 0 writes the checkpoint path here when the job was preempted
MMX3D_PREEMPT_FILE=$(mktemp "${TMPDIR:-/tmp}/mmx3d_preempt.XXXXXX")
export MMX3D_PREEMPT_FILE
trap 'rm -f "$MMX3D_PREEMPT_FILE"' EXIT
export PYTHONPATH="$DIR/..":$PYTHONPATH
# torch 2.13: with the agent's store shared across restarts, a restarted
# rank can read its peers' stale gloo addresses from the previous attempt
# ("Gloo connectFullMesh failed ... Connection refused") when the ranks
# start seconds apart; a fresh store per attempt avoids it
export TORCH_DISABLE_SHARE_RDZV_TCP_STORE=${TORCH_DISABLE_SHARE_RDZV_TCP_STORE:-1}
# c10d rendezvous (restarts need it); node 0 hosts its store
$PYTHON -m torch.distributed.run \
    --nnodes="$NNODES" \
    --nproc_per_node="$GPUS" \
    --rdzv-backend=c10d \
    --rdzv-endpoint="$MASTER_ADDR:$PORT" \
    --rdzv-id="${RDZV_ID:-mmx3d}" \
    --rdzv-conf="is_host=$([ "$NODE_RANK" = 0 ] && echo 1 || echo 0)" \
    --max-restarts="$MAX_RESTARTS" \
    --signals-to-handle=SIGTERM,SIGINT,SIGHUP,SIGQUIT,SIGUSR1 \
    --shutdown-timeout="$SHUTDOWN_TIMEOUT" \
    "$DIR/train.py" \
    "$CONFIG" \
    --launcher pytorch "${TIMEOUT_ARGS[@]}" "$@" &
PID=$!
# pass the cluster's signals on to torchrun, which passes them to the ranks
for SIG in TERM INT HUP USR1; do
  trap "kill -s $SIG $PID 2>/dev/null || true" "$SIG"
done
# a trapped signal interrupts `wait`: wait again until torchrun is gone
while :; do
  set +e; wait "$PID"; RC=$?; set -e
  kill -0 "$PID" 2>/dev/null || break
done
if [ -s "$MMX3D_PREEMPT_FILE" ]; then
  echo "dist_train.sh: preempted; checkpoint $(cat "$MMX3D_PREEMPT_FILE")" \
       "saved; exit $PREEMPTED: run the same command to continue" >&2
  exit $PREEMPTED
fi
exit $RC
