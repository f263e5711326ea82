#!/usr/bin/env bash
# Create (or refresh) the project's virtualenv .venv from the pinned lock; idempotent and offline
# apart from the package registry. torch 2.14.1 / torchvision 0.29.1 come from the local wheels.
set -euo pipefail
cd "$(dirname "$0")/.."
PY=${PYTHON:-python3.11}
command -v "$PY" >/dev/null || PY=python3
if [ ! -x .venv/bin/python ]; then
  "$PY" -m venv .venv
fi
stamp=.venv/.lock-sha256
want=$(sha256sum envs/requirements.lock pyproject.toml | sha256sum | cut -d' ' -f1)
if [ "$(cat "$stamp" 2>/dev/null)" != "$want" ]; then
  .venv/bin/python -m pip install --quiet --upgrade pip
  .venv/bin/python -m pip install --quiet -r envs/requirements.lock
  .venv/bin/python -m pip install --quiet --no-deps -e .
  echo "$want" > "$stamp"
fi
.venv/bin/python -W ignore -c "import numpy, torch, compressai; assert numpy.__version__ < '2', numpy.__version__"
