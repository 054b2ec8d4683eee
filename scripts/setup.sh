#!/usr/bin/env bash
# Creates .venv with the runtime, the export tooling and the test/evaluation/review/table extras.
# Idempotent: a second run only checks. Needs Python >= 3.10 and access to PyPI (and Debian's
# archive for the optional `age` CLI, used by one interoperability test, and for chromium and its driver,
# used by the review station's browser test).
set -euo pipefail
cd "$(dirname "$0")/.."
export ORT_DISABLE_TELEMETRY=1 HF_HUB_OFFLINE=1 PIP_DISABLE_PIP_VERSION_CHECK=1
PY=${PYTHON:-python3}
if [ ! -x .venv/bin/python ]; then
  "$PY" -m venv .venv
fi
stamp=.venv/.setup-stamp
want=$(sha256sum pyproject.toml | cut -c1-16)
if [ "$(cat "$stamp" 2>/dev/null)" != "$want" ]; then
  .venv/bin/python -m pip install -q --upgrade pip
  # torch is pinned to the CPU build (2.13.0) in the export extra: never let it float to a CUDA build.
  .venv/bin/python -m pip install -q -e ".[export,evaluate,review,table,test]"
  echo "$want" > "$stamp"
fi
# The standard `age` tool proves results decrypt outside this project (optional).
if ! command -v age >/dev/null 2>&1 && [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then
  (apt-get install -y -q age >/dev/null 2>&1 || { apt-get update -q >/dev/null 2>&1 && apt-get install -y -q age >/dev/null 2>&1; }) || echo "note: could not install the age CLI; its test will be skipped" >&2
fi
# Debian's chromium and chromedriver drive the review station's browser test (tests/test_review_browser.py);
# never a browser download. Without them that test is skipped with the reason.
if { ! command -v chromium >/dev/null 2>&1 || ! command -v chromedriver >/dev/null 2>&1; } \
    && [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then
  (apt-get install -y -q chromium chromium-driver >/dev/null 2>&1 \
    || { apt-get update -q >/dev/null 2>&1 && apt-get install -y -q chromium chromium-driver >/dev/null 2>&1; }) \
    || echo "note: could not install chromium and chromium-driver; the review browser test will be skipped" >&2
fi
