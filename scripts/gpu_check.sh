#!/usr/bin/env bash
# GPU check for a machine with an NVIDIA GPU: swaps in the CUDA build of onnxruntime (into .venv, or
# the active Python), then compares the CUDA (and, where TensorRT is installed, TensorRT) backend
# with the CPU backend on the same frames and prints per-stage latency:
#     scripts/gpu_check.sh [MODEL_DIR ...]        (default: models/evodrive-tiny)
# Without an NVIDIA GPU it says so and exits 0 without installing anything. Unverified on a GPU by
# us (no GPU machine was available): see README "Known gaps".
set -euo pipefail
cd "$(dirname "$0")/.."
PYTHON=${PYTHON:-$( [ -x .venv/bin/python ] && echo .venv/bin/python || echo python3 )}
if ! command -v nvidia-smi >/dev/null 2>&1 || ! nvidia-smi >/dev/null 2>&1; then
    echo "gpu_check: skipped: no NVIDIA GPU (nvidia-smi absent or failing)"
    exit 0
fi
if ! "$PYTHON" -c "import onnxruntime as o, sys; sys.exit('CUDAExecutionProvider' not in o.get_available_providers())" 2>/dev/null; then
    "$PYTHON" -m pip uninstall -y -q onnxruntime
    "$PYTHON" -m pip install -q -r requirements/gpu.txt
fi
[ $# -gt 0 ] || set -- models/evodrive-tiny
exec "$PYTHON" -m evodrive_ros.runtime.gpu_check "$@"
