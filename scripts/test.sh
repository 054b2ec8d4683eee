#!/usr/bin/env bash
# Sets up (scripts/setup.sh) and runs the whole test suite, including the real SmolLM2 export.
set -euo pipefail
cd "$(dirname "$0")/.."
./scripts/setup.sh
export ORT_DISABLE_TELEMETRY=1 HF_HUB_OFFLINE=1
# Bundles built by the tests are cached here (git-ignored) so a second run is quicker.
export APPLIANCE_MODELS_DIR="${APPLIANCE_MODELS_DIR:-$PWD/.cache/models}"
exec .venv/bin/python -m pytest -q "$@"
