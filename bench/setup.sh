#!/usr/bin/env bash
# Install what the speed benchmark (bench/speed.py) needs, idempotently, into the project venv.
#
#   * llama-cpp-python 0.3.36: PyPI has only the sdist; it is compiled here for this CPU
#     (GGML_NATIVE=ON, no CUDA/Metal/Vulkan, no multimodal library). ~7-15 min on 2 cores the first
#     time; pip keeps the built wheel in its cache, so a re-run is seconds.
#   * psutil (RSS sampling), already in the 'test' extra.
#   * torch/transformers (the HF engine) come from the 'export' extra: `pip install -e '.[export]'`.
#
# The same packages are declared as the optional extra `bench` in pyproject.toml.
# Usage: bench/setup.sh            (VENV=/path/to/venv to use another environment)
set -euo pipefail
cd "$(dirname "$0")/.."
VENV="${VENV:-.venv}"
PY="$VENV/bin/python"
LLAMA_VERSION="0.3.36"
export ORT_DISABLE_TELEMETRY=1 HF_HUB_OFFLINE=1

if [ ! -x "$PY" ]; then
  echo "no virtual environment at $VENV (make one and 'pip install -e .[export,test]' first)" >&2
  exit 1
fi

have() { "$PY" - "$@" <<'PYEOF'
import importlib, sys
name, want = sys.argv[1], (sys.argv[2] if len(sys.argv) > 2 else None)
try:
    m = importlib.import_module(name)
except Exception:
    sys.exit(1)
sys.exit(0 if want is None or getattr(m, "__version__", None) == want else 1)
PYEOF
}

if have llama_cpp "$LLAMA_VERSION"; then
  echo "llama-cpp-python $LLAMA_VERSION: installed"
else
  echo "building llama-cpp-python $LLAMA_VERSION from source (CPU only, native)..."
  CMAKE_ARGS="-DGGML_NATIVE=ON -DGGML_CUDA=OFF -DGGML_METAL=OFF -DGGML_VULKAN=OFF -DGGML_HIP=OFF \
-DGGML_BLAS=OFF -DLLAVA_BUILD=OFF -DLLAMA_BUILD_TESTS=OFF -DLLAMA_BUILD_EXAMPLES=OFF \
-DLLAMA_BUILD_TOOLS=OFF -DLLAMA_BUILD_SERVER=OFF" \
  CMAKE_BUILD_PARALLEL_LEVEL="${CMAKE_BUILD_PARALLEL_LEVEL:-$(nproc)}" \
  FORCE_CMAKE=1 \
    "$VENV/bin/pip" install --disable-pip-version-check "llama-cpp-python==$LLAMA_VERSION"
fi

if have psutil; then echo "psutil: installed"; else "$VENV/bin/pip" install --disable-pip-version-check "psutil>=5.9"; fi

if have torch && have transformers; then
  echo "torch + transformers: installed (HF engine available)"
else
  echo "note: torch/transformers missing: the 'hf' engine will be skipped (pip install -e '.[export]')" >&2
fi
"$PY" -c "import llama_cpp; print('llama_cpp', llama_cpp.__version__, 'system info:', llama_cpp.llama_print_system_info().decode())"
