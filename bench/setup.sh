#!/usr/bin/env bash
# Install what the speed benchmark (bench/speed.py) needs, idempotently, into the project venv.
#
#   * llama-cpp-python 0.3.36: PyPI has only the sdist; it is compiled here, CPU only (no CUDA/Metal/
#     Vulkan, no multimodal library), for the instruction sets this CPU reports in /proc/cpuinfo
#     (AVX2/FMA/F16C/BMI2/AVX-VNNI/AVX-512 family), but never AMX: on this VM the CPU advertises AMX and
#     the kernel grants the permission, yet the first AMX instruction (tilezero) dies with SIGILL, which
#     is what GGML_NATIVE=ON produced. The wheel is built once into .cache/bench/wheels (~20 min on
#     2 busy cores) and reinstalled from there afterwards; a one-token test run checks it.
#   * psutil; torch/transformers (the 'hf' engine) come from the 'export' extra.
#
# The same packages are the optional extra `bench` in pyproject.toml.
# Usage: bench/setup.sh            (VENV=/path/to/venv to use another environment; REBUILD=1 to rebuild)
set -euo pipefail
cd "$(dirname "$0")/.."
VENV="${VENV:-.venv}"
PY="$VENV/bin/python"
LLAMA_VERSION="0.3.36"
WHEELS=".cache/bench/wheels"
GGUF_TEST="${GGUF_TEST:-}"
export ORT_DISABLE_TELEMETRY=1 HF_HUB_OFFLINE=1

if [ ! -x "$PY" ]; then
  echo "no virtual environment at $VENV (make one and 'pip install -e .[export,test]' first)" >&2
  exit 1
fi

cmake_args() {
  local flags args="-DGGML_NATIVE=OFF -DGGML_CUDA=OFF -DGGML_METAL=OFF -DGGML_VULKAN=OFF -DGGML_HIP=OFF"
  args="$args -DGGML_BLAS=OFF -DLLAVA_BUILD=OFF -DLLAMA_BUILD_TESTS=OFF -DLLAMA_BUILD_EXAMPLES=OFF"
  args="$args -DLLAMA_BUILD_TOOLS=OFF -DLLAMA_BUILD_SERVER=OFF"
  args="$args -DGGML_AMX_TILE=OFF -DGGML_AMX_INT8=OFF -DGGML_AMX_BF16=OFF"
  flags=" $(grep -m1 '^flags' /proc/cpuinfo | cut -d: -f2) "
  on() { case "$flags" in *" $1 "*) echo ON ;; *) echo OFF ;; esac; }
  args="$args -DGGML_SSE42=$(on sse4_2) -DGGML_AVX=$(on avx) -DGGML_AVX2=$(on avx2) -DGGML_FMA=$(on fma)"
  args="$args -DGGML_F16C=$(on f16c) -DGGML_BMI2=$(on bmi2) -DGGML_AVX_VNNI=$(on avx_vnni)"
  args="$args -DGGML_AVX512=$(on avx512f) -DGGML_AVX512_VBMI=$(on avx512vbmi)"
  args="$args -DGGML_AVX512_VNNI=$(on avx512_vnni) -DGGML_AVX512_BF16=$(on avx512_bf16)"
  echo "$args"
}

works() {  # llama_cpp imports at the right version and (given a GGUF) evaluates a short prompt without crashing
  "$PY" - "$LLAMA_VERSION" "$GGUF_TEST" <<'PYEOF' >/dev/null 2>&1
import sys
import llama_cpp
assert llama_cpp.__version__ == sys.argv[1]
if sys.argv[2]:
    # a batch of several tokens: the matrix-matrix kernels (where AMX crashed) only run for batches
    llm = llama_cpp.Llama(model_path=sys.argv[2], n_ctx=128, n_threads=2, verbose=False)
    llm.eval(llm.tokenize(b"The patient reports mild chest pain and shortness of breath since Monday.", add_bos=False))
PYEOF
}

if [ -z "$GGUF_TEST" ]; then
  for g in .cache/export/smollm2/*.gguf "${APPLIANCE_EXPORT_CACHE:-$HOME/.cache/appliance-export}"/smollm2/*.gguf; do
    if [ -f "$g" ]; then GGUF_TEST="$g"; break; fi
  done
fi

if [ "${REBUILD:-0}" != 1 ] && works; then
  echo "llama-cpp-python $LLAMA_VERSION: installed and working"
else
  wheel=$(ls "$WHEELS"/llama_cpp_python-"$LLAMA_VERSION"-*.whl 2>/dev/null | head -1 || true)
  if [ -z "$wheel" ] || [ "${REBUILD:-0}" = 1 ]; then
    rm -f "$WHEELS"/llama_cpp_python-*.whl
    mkdir -p "$WHEELS"
    args="$(cmake_args)"
    echo "building llama-cpp-python $LLAMA_VERSION from source: CMAKE_ARGS=$args"
    CMAKE_ARGS="$args" FORCE_CMAKE=1 CMAKE_BUILD_PARALLEL_LEVEL="${CMAKE_BUILD_PARALLEL_LEVEL:-$(nproc)}" \
      "$VENV/bin/pip" wheel --disable-pip-version-check --no-deps --no-cache-dir --no-binary llama-cpp-python \
        -w "$WHEELS" "llama-cpp-python==$LLAMA_VERSION"
    wheel=$(ls "$WHEELS"/llama_cpp_python-"$LLAMA_VERSION"-*.whl | head -1)
  fi
  "$VENV/bin/pip" install --disable-pip-version-check --force-reinstall --no-deps "$wheel"
  "$VENV/bin/pip" install --disable-pip-version-check "typing-extensions>=4.5" "numpy>=1.20" "diskcache>=5.6.1" "jinja2>=2.11.3"
  if ! works; then
    echo "llama-cpp-python was installed but does not run here (see: $PY -c 'import llama_cpp'); REBUILD=1 to rebuild" >&2
    exit 1
  fi
fi

if "$PY" -c "import psutil" 2>/dev/null; then echo "psutil: installed"; else "$VENV/bin/pip" install --disable-pip-version-check "psutil>=5.9"; fi

if "$PY" -c "import torch, transformers" 2>/dev/null; then
  echo "torch + transformers: installed (the 'hf' engine can run)"
else
  echo "note: torch/transformers missing: the 'hf' engine will fail (pip install -e '.[export]')" >&2
fi
"$PY" -c "import llama_cpp; print('llama_cpp', llama_cpp.__version__, '|', llama_cpp.llama_print_system_info().decode().strip())"
