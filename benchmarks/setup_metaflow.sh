#!/usr/bin/env bash
# Create benchmarks/.mfvenv: a separate virtualenv with Metaflow + numpy, used by
# benchmarks/run.py as the "metaflow" side (auto-detected when --against-metaflow is not given).
set -euo pipefail
HERE="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
VENV="$HERE/.mfvenv"
PY="${PYTHON:-python3}"
if [ ! -x "$VENV/bin/python" ]; then
    "$PY" -m venv "$VENV"
fi
"$VENV/bin/python" -m pip install --quiet --upgrade pip
"$VENV/bin/python" -m pip install --quiet metaflow numpy
"$VENV/bin/python" -c "import metaflow, numpy; print('metaflow', metaflow.__version__ if hasattr(metaflow, '__version__') else '?', 'numpy', numpy.__version__)"
echo "ok: $VENV/bin/python"
