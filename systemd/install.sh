#!/usr/bin/env bash
# Install, upgrade or remove the clinical extraction appliance as a systemd service.
# Offline by design: the Python packages come from a wheelhouse folder (e.g. on a USB stick), the
# models from bundle folders. See docs/install.md for the whole procedure.
#
#   sudo systemd/install.sh --wheelhouse /media/usb/wheels [--models /media/usb/models] [--enable]
#   sudo systemd/install.sh --uninstall [--purge]
#
# Options:
#   --wheelhouse DIR  install clinical-appliance and its dependencies from DIR (pip --no-index)
#   --source DIR      install from a source checkout instead (needs the dependencies in --wheelhouse,
#                     or network access); default when no --wheelhouse is given: this script's repository
#   --models DIR      copy every bundle folder in DIR into the models folder and verify it (sha256)
#   --enable          check the config and enable + start the service
#   --prefix DIR      program folder (default /opt/appliance): venv/, models/, docs/
#   --root DIR        install into DIR instead of / (packaging and tests; no systemctl calls)
#   --no-venv         skip creating the virtual environment (with --root, for tests)
#   --uninstall       stop, disable and remove the program and unit files; keep data and config
#   --purge           with --uninstall: also delete /var/lib/appliance (results, failed inputs!) and
#                     /etc/appliance, and the service account
set -euo pipefail

PREFIX=/opt/appliance
ROOT=
WHEELHOUSE=
SOURCE=
MODELS=
ENABLE=0
UNINSTALL=0
PURGE=0
VENV=1
HERE="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
REPO="$(cd "$HERE/.." && pwd)"

die() { echo "install.sh: $*" >&2; exit 1; }
say() { echo "==> $*"; }

while [ $# -gt 0 ]; do
    case "$1" in
        --wheelhouse) WHEELHOUSE="${2:?}"; shift 2 ;;
        --source) SOURCE="${2:?}"; shift 2 ;;
        --models) MODELS="${2:?}"; shift 2 ;;
        --enable) ENABLE=1; shift ;;
        --prefix) PREFIX="${2:?}"; shift 2 ;;
        --root) ROOT="${2:?}"; shift 2 ;;
        --no-venv) VENV=0; shift ;;
        --uninstall) UNINSTALL=1; shift ;;
        --purge) PURGE=1; shift ;;
        -h|--help) sed -n '2,27p' "$0"; exit 0 ;;
        *) die "unknown option: $1 (see --help)" ;;
    esac
done

[ -n "$ROOT" ] || [ "$(id -u)" -eq 0 ] || die "run as root (sudo)"
LIVE=0
if [ -z "$ROOT" ] && [ -d /run/systemd/system ]; then LIVE=1; fi

UNIT_DIR="$ROOT/etc/systemd/system"
SYSUSERS="$ROOT/etc/sysusers.d/appliance.conf"
TMPFILES="$ROOT/etc/tmpfiles.d/appliance.conf"
ETC="$ROOT/etc/appliance"
DATA="$ROOT/var/lib/appliance"
P="$ROOT$PREFIX"

if [ "$UNINSTALL" -eq 1 ]; then
    if [ "$LIVE" -eq 1 ]; then
        say "stopping the service (the current input finishes or is recovered next time)"
        systemctl disable --now appliance.service 2>/dev/null || true
    fi
    rm -f "$UNIT_DIR/appliance.service" "$SYSUSERS" "$TMPFILES"
    rm -rf "$P/venv" "$P/docs"
    [ "$LIVE" -eq 1 ] && systemctl daemon-reload
    if [ "$PURGE" -eq 1 ]; then
        say "purging data, config and models"
        rm -rf "$DATA" "$ETC" "$P"
        if [ -z "$ROOT" ] && id appliance >/dev/null 2>&1; then
            userdel appliance || true
            groupdel appliance-io 2>/dev/null || true
        fi
    else
        echo "kept: $DATA (data), $ETC (config), $P/models (models); --purge removes them"
    fi
    exit 0
fi

# ---------------------------------------------------------------------------------------- program
WAS_ACTIVE=0
if [ "$LIVE" -eq 1 ] && systemctl is-active --quiet appliance.service; then
    WAS_ACTIVE=1
    say "upgrade: stopping the service (the current input finishes first)"
    systemctl stop appliance.service
fi
if [ "$VENV" -eq 1 ]; then
    command -v python3 >/dev/null || die "python3 is required (3.10 or newer)"
    python3 -c 'import sys; sys.exit(sys.version_info < (3, 10))' || die "python3 is older than 3.10"
    python3 -c 'import venv, ensurepip' 2>/dev/null || die "python3-venv is required (apt-get install python3-venv)"
    say "creating $P/venv"
    mkdir -p "$P"
    python3 -m venv --clear "$P/venv"
    PIP=("$P/venv/bin/pip" --disable-pip-version-check --no-input)
    if [ -n "$WHEELHOUSE" ]; then
        [ -d "$WHEELHOUSE" ] || die "wheelhouse not found: $WHEELHOUSE"
        if [ -n "$SOURCE" ]; then
            "${PIP[@]}" install --no-index --find-links "$WHEELHOUSE" "$SOURCE"
        else
            "${PIP[@]}" install --no-index --find-links "$WHEELHOUSE" clinical-appliance
        fi
    else
        "${PIP[@]}" install "${SOURCE:-$REPO}"
    fi
    "$P/venv/bin/appliance" --version
fi
mkdir -p "$P/models" "$P/docs"
for doc in install.md integration.md configuration.md result-schema.md; do
    [ -f "$REPO/docs/$doc" ] && install -m 0644 "$REPO/docs/$doc" "$P/docs/$doc"
done
chmod 0755 "$P" "$P/models"

# ---------------------------------------------------------------------------------------- system files
say "installing unit, sysusers.d and tmpfiles.d files"
install -D -m 0644 "$HERE/appliance.service" "$UNIT_DIR/appliance.service"
install -D -m 0644 "$HERE/appliance.sysusers" "$SYSUSERS"
install -D -m 0644 "$HERE/appliance.tmpfiles" "$TMPFILES"
if [ -n "$ROOT" ]; then
    systemd-sysusers --root="$ROOT" >/dev/null 2>&1 || echo "note: systemd-sysusers --root failed (no matter in tests)"
    systemd-tmpfiles --root="$ROOT" --create >/dev/null 2>&1 || true
else
    systemd-sysusers "$SYSUSERS"
    systemd-tmpfiles --create "$TMPFILES"
fi
mkdir -p "$ETC"
if [ ! -e "$ETC/config.toml" ]; then
    install -m 0640 "$HERE/config.toml" "$ETC/config.toml"
    say "wrote $ETC/config.toml (edit it; it is never overwritten by an upgrade)"
else
    echo "kept existing $ETC/config.toml"
fi
if [ ! -e "$ETC/recipients.txt" ]; then
    printf '# age public keys (age1...), one per line, of whoever reads the results.\n# Create them OFF this box: appliance keygen --out key.txt (keep key.txt there).\n' > "$ETC/recipients.txt"
    chmod 0640 "$ETC/recipients.txt"
fi
if [ -z "$ROOT" ]; then
    chown root:appliance "$ETC" "$ETC/config.toml" "$ETC/recipients.txt"
fi

# ---------------------------------------------------------------------------------------- models
if [ -n "$MODELS" ]; then
    [ -d "$MODELS" ] || die "models folder not found: $MODELS"
    for bundle in "$MODELS"/*/; do
        bundle="${bundle%/}"
        [ -f "$bundle/manifest.json" ] || continue
        name="$(basename "$bundle")"
        say "copying model bundle $name"
        rm -rf "$P/models/.$name.new"
        cp -r "$bundle" "$P/models/.$name.new"
        if [ "$VENV" -eq 1 ]; then
            "$P/venv/bin/appliance" models verify "$P/models/.$name.new" || die "bundle $name is damaged: not installed"
        fi
        rm -rf "$P/models/$name.old"
        [ -e "$P/models/$name" ] && mv "$P/models/$name" "$P/models/$name.old"
        mv "$P/models/.$name.new" "$P/models/$name"
        rm -rf "$P/models/$name.old"
        chmod -R u=rwX,go=rX "$P/models/$name"
    done
fi

# ---------------------------------------------------------------------------------------- service
if [ "$LIVE" -eq 1 ]; then
    systemctl daemon-reload
    if [ "$ENABLE" -eq 1 ]; then
        runuser -u appliance -- "$P/venv/bin/appliance" config check --config "$ETC/config.toml" \
            || die "config check failed: fix $ETC/config.toml, then: systemctl enable --now appliance"
        systemctl enable appliance.service
        systemctl restart appliance.service
        say "started; check with: systemctl status appliance; sudo -u appliance $P/venv/bin/appliance status"
    elif [ "$WAS_ACTIVE" -eq 1 ]; then
        systemctl start appliance.service
        say "upgraded and restarted; check with: systemctl status appliance"
    else
        cat <<EOF
Next steps:
  1. put the readers' public keys in $ETC/recipients.txt (appliance keygen, run on THEIR machine)
  2. set the extractor in $ETC/config.toml, then: sudo -u appliance $P/venv/bin/appliance config check
  3. systemctl enable --now appliance
EOF
    fi
fi
say "done"
