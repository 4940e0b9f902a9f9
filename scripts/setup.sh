#!/usr/bin/env bash
# Set up a virtual environment in .venv with the pinned dependency set (constraints.txt).
# Safe to run again: it reinstalls only when pyproject.toml or constraints.txt changed.
set -euo pipefail
cd "$(dirname "$0")/.."

PYTHON=${PYTHON:-python3}
if [ ! -x .venv/bin/python ]; then
  echo "setup: creating .venv with $($PYTHON --version)"
  "$PYTHON" -m venv .venv
fi

stamp=.venv/.provmon-installed
want=$(cat pyproject.toml constraints.txt | sha256sum | cut -d' ' -f1)
if [ "$(cat "$stamp" 2>/dev/null)" != "$want" ]; then
  echo "setup: installing dependencies (pinned by constraints.txt)"
  .venv/bin/python -m pip install --quiet --upgrade pip
  .venv/bin/python -m pip install --quiet -c constraints.txt -e ".[dev]"
  echo "$want" > "$stamp"
fi
# JupyterLab for the analysts (README, "Notebooks"): a kernel named `provmon` that runs this
# .venv (so the notebooks import the project), and notebooks/*.py opening as notebooks
# (jupytext's viewer as the default for Python files; "Open With > Editor" still edits as text).
if [ ! -f .venv/share/jupyter/kernels/provmon/kernel.json ]; then
  .venv/bin/python -m ipykernel install --sys-prefix --name provmon --display-name "Python (provmon)" >/dev/null
fi
mkdir -p .venv/share/jupyter/lab/settings
cp scripts/jupyterlab-overrides.json .venv/share/jupyter/lab/settings/overrides.json
# No telemetry from a municipality's machine.
export GX_ANALYTICS_ENABLED=false
