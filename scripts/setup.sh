#!/usr/bin/env bash
# Creates .venv with the runtime, the export tooling and the test/evaluation/review/table extras.
# Idempotent: a second run only checks. Needs Python >= 3.10 and access to PyPI (and Debian's
# archive for the optional system tools installed at the end, when run as root: age, systemd's tools,
# rsync, acl, and chromium with its driver for the review station's browser test).
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
# Optional system tools, installed when running as root with apt (their tests are skipped without them):
# `age` proves results decrypt outside this project; systemd's sysusers/tmpfiles/analyze apply and score
# the unit files; rsync and acl (getfacl) are integrator writers and ACL checks of tests/runtime/test_permissions.py.
if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then
  want=()
  command -v age >/dev/null 2>&1 || want+=(age)
  command -v systemd-sysusers >/dev/null 2>&1 && command -v systemd-tmpfiles >/dev/null 2>&1 || want+=(systemd)
  command -v rsync >/dev/null 2>&1 || want+=(rsync)
  command -v getfacl >/dev/null 2>&1 || want+=(acl)
  if [ "${#want[@]}" -gt 0 ]; then
    (apt-get install -y -q "${want[@]}" >/dev/null 2>&1 \
      || { apt-get update -q >/dev/null 2>&1 && apt-get install -y -q "${want[@]}" >/dev/null 2>&1; }) \
      || echo "note: could not install ${want[*]}; the tests that need them will be skipped" >&2
  fi
fi
# Debian's chromium and chromedriver drive the review station's browser test (tests/runtime/test_review_browser.py);
# never a browser download. Without them that test is skipped with the reason.
if { ! command -v chromium >/dev/null 2>&1 || ! command -v chromedriver >/dev/null 2>&1; } \
    && [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then
  (apt-get install -y -q chromium chromium-driver >/dev/null 2>&1 \
    || { apt-get update -q >/dev/null 2>&1 && apt-get install -y -q chromium chromium-driver >/dev/null 2>&1; }) \
    || echo "note: could not install chromium and chromium-driver; the review browser test will be skipped" >&2
fi
