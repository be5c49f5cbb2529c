#!/usr/bin/env bash
# Create .venv and install the pinned mmx3d stack. Idempotent: a second run
# only checks what is installed (seconds); the mmcv wheel built the first time
# is reused from pip's cache.
set -euo pipefail
cd "$(dirname "$0")/.."
PYTHON=${PYTHON:-python3}
VENV=${VENV:-.venv}
PIP_FLAGS=${PIP_FLAGS:--q --disable-pip-version-check}

if [ ! -x "$VENV/bin/python" ]; then
  echo "[setup] creating $VENV with $($PYTHON --version)"
  # VENV_ARGS=--system-site-packages lets a venv see an existing (CUDA) torch.
  $PYTHON -m venv ${VENV_ARGS:-} "$VENV"
fi
PY="$VENV/bin/python"
PIP="$PY -m pip"

$PIP install $PIP_FLAGS -r requirements/build.txt

# torch: keep whatever torch the environment already has (a user's CUDA build
# must not be replaced); otherwise install the pinned CPU wheel.
if $PY -c "import torch" >/dev/null 2>&1; then
  echo "[setup] keeping installed torch $($PY -c 'import torch;print(torch.__version__)')"
else
  $PIP install $PIP_FLAGS "$(grep -E '^torch==' requirements/runtime.txt)"
fi
TORCH_SPEC="torch==$($PY -c 'import torch;print(torch.__version__.split("+")[0])')"

# everything else in runtime.txt, with torch pinned to what is installed
grep -vE '^torch==' requirements/runtime.txt > "$VENV/.runtime-no-torch.txt"
$PIP install $PIP_FLAGS -r "$VENV/.runtime-no-torch.txt" "$TORCH_SPEC"

# mmcv: built from the sdist with its C++ ops, without build isolation so it
# compiles against the torch above. pip caches the wheel: later runs take
# seconds.
if ! $PY -c "import mmcv, mmcv.ops" >/dev/null 2>&1; then
  if command -v nvcc >/dev/null 2>&1 && $PY -c "import torch,sys;sys.exit(0 if torch.version.cuda else 1)"; then
    echo "[setup] nvcc and a CUDA torch found: building mmcv with CUDA kernels (long build)"
    export FORCE_CUDA=1
  else
    echo "[setup] no CUDA toolchain: building mmcv with CPU ops only (about 13 min on 2 cores, once per machine)"
    export FORCE_CUDA=0
  fi
  MMCV_WITH_OPS=1 MAX_JOBS=${MAX_JOBS:-2} $PIP install $PIP_FLAGS --no-build-isolation \
    "$(grep -E '^mmcv==' requirements/mminstall.txt)" "$TORCH_SPEC"
fi
$PIP install $PIP_FLAGS -r requirements/mminstall.txt "$TORCH_SPEC"
$PIP install $PIP_FLAGS -r requirements/tests.txt "$TORCH_SPEC"
$PIP install $PIP_FLAGS -r requirements/deploy.txt "$TORCH_SPEC" "numpy<2.3"
if [ "${WITH_DOCS:-1}" = 1 ]; then
  $PIP install $PIP_FLAGS -r requirements/docs.txt
fi
$PIP install $PIP_FLAGS --no-deps --no-build-isolation -e .
$PY -c "import mmx3d, mmcv.ops; print('[setup] mmx3d', mmx3d.__version__, 'ready')"
