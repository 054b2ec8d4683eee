#!/usr/bin/env bash
# The speed benchmark in one command: installs what it needs (idempotent), exports the default bundle
# if it is missing, then runs every engine over the 50 documents. Extra arguments go to bench/speed.py
# (e.g. --limit 1 for a smoke run, --engines appliance-json,llamacpp).
set -euo pipefail
cd "$(dirname "$0")/.."
export ORT_DISABLE_TELEMETRY=1 HF_HUB_OFFLINE=1 TRANSFORMERS_OFFLINE=1
export APPLIANCE_MODELS_DIR="${APPLIANCE_MODELS_DIR:-$PWD/.cache/models}"
bench/setup.sh
if [ ! -f "$APPLIANCE_MODELS_DIR/smollm2-135m-instruct/manifest.json" ]; then
  APPLIANCE_EXPORT_CACHE="${APPLIANCE_EXPORT_CACHE:-$PWD/.cache/export}" \
    .venv/bin/appliance-export default --models-dir "$APPLIANCE_MODELS_DIR"
fi
exec .venv/bin/python bench/speed.py --models-dir "$APPLIANCE_MODELS_DIR" "$@"
