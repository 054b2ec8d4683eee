#!/usr/bin/env bash
# Install, upgrade, roll back or remove the clinical extraction appliance as a systemd service.
# Offline by design: the Python packages come from a wheelhouse folder (e.g. on a USB stick), the
# models from bundle folders. See docs/install.md for the whole procedure.
#
#   sudo systemd/install.sh --wheelhouse /media/usb/wheels [--models /media/usb/models] [--enable]
#   sudo systemd/install.sh --rollback
#   sudo systemd/install.sh --uninstall [--purge]
#
# Options:
#   --wheelhouse DIR  install clinical-appliance and its dependencies from DIR (pip --no-index)
#   --source DIR      install this source checkout (its dependencies from --wheelhouse)
#   --allow-network   let pip download from the package index when there is no --wheelhouse (never
#                     needed on a clinic box; without it, an install without --wheelhouse stops at once)
#   --python PY       the interpreter for the virtual environment (default: python3)
#   --models DIR      copy every bundle folder in DIR into the models folder and verify it (sha256)
#   --enable          check the config and enable + start the service
#   --rollback        switch back to the release that was installed before the current one
#   --prefix DIR      program folder (default /opt/appliance): releases/, venv, models/, docs/
#   --root DIR        install into DIR instead of / (packaging and tests; no systemctl calls)
#   --no-venv         skip the program (with --root, for tests of the system files)
#   --uninstall       stop, disable and remove the program and unit files; keep data and config
#   --purge           with --uninstall: also delete /var/lib/appliance (results, failed inputs!) and
#                     /etc/appliance, and the service account
#
# An upgrade never touches the running version until the new one has proved itself: the new release is
# built beside it (releases/<id>/venv), checked (`appliance --version`; `config check` and
# `models verify --quick` must pass wherever they pass for the running version), then switched to by
# one atomic rename of the `venv` symlink, and the service restarted. If the restart fails, the previous
# release is switched back and restarted. Either way the script says which version runs.
# For tests only: SYSTEMCTL=CMD makes the service steps call CMD instead of systemctl, also with --root.
set -euo pipefail
umask 022  # the program and models must be readable by the service account whatever root's umask
# The new environment is built and checked on its own, not with the caller's Python settings.
unset PYTHONPATH PYTHONHOME PYTHONSTARTUP PYTHONUSERBASE VIRTUAL_ENV
export PYTHONNOUSERSITE=1

PREFIX=/opt/appliance
ROOT=
WHEELHOUSE=
SOURCE=
MODELS=
PY=python3
ENABLE=0
UNINSTALL=0
PURGE=0
ROLLBACK=0
NETWORK=0
VENV=1
HERE="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"

die() { echo "install.sh: $*" >&2; exit 1; }
say() { echo "==> $*"; }

while [ $# -gt 0 ]; do
    case "$1" in
        --wheelhouse) WHEELHOUSE="${2:?}"; shift 2 ;;
        --source) SOURCE="${2:?}"; shift 2 ;;
        --allow-network) NETWORK=1; shift ;;
        --python) PY="${2:?}"; shift 2 ;;
        --models) MODELS="${2:?}"; shift 2 ;;
        --enable) ENABLE=1; shift ;;
        --rollback) ROLLBACK=1; shift ;;
        --prefix) PREFIX="${2:?}"; shift 2 ;;
        --root) ROOT="${2:?}"; shift 2 ;;
        --no-venv) VENV=0; shift ;;
        --uninstall) UNINSTALL=1; shift ;;
        --purge) PURGE=1; shift ;;
        -h|--help) sed -n '2,31p' "$0"; exit 0 ;;
        *) die "unknown option: $1 (see --help)" ;;
    esac
done

[ -n "$ROOT" ] || [ "$(id -u)" -eq 0 ] || die "run as root (sudo)"
LIVE=0
if [ -z "$ROOT" ] && [ -d /run/systemd/system ]; then LIVE=1; fi
SYSTEMCTL=${SYSTEMCTL:-}
if [ -n "$SYSTEMCTL" ]; then LIVE=1; else SYSTEMCTL=systemctl; fi
sctl() { "$SYSTEMCTL" "$@"; }

UNIT_DIR="$ROOT/etc/systemd/system"
UNIT="$UNIT_DIR/appliance.service"
SYSUSERS="$ROOT/etc/sysusers.d/appliance.conf"
TMPFILES="$ROOT/etc/tmpfiles.d/appliance.conf"
ETC="$ROOT/etc/appliance"
DATA="$ROOT/var/lib/appliance"
P="$ROOT$PREFIX"
CURRENT="$P/venv"            # what the unit runs: a symlink to releases/<id>/venv
PREVIOUS="$P/venv.previous"  # the release before it (a symlink; a folder for an install made before releases/)

# Run the appliance command of a venv as the service would (as its account on a live box).
app_as_service() {
    local venv="$1"; shift
    if [ -z "$ROOT" ] && id appliance >/dev/null 2>&1; then
        runuser -u appliance -- "$venv/bin/appliance" "$@"
    else
        "$venv/bin/appliance" "$@"
    fi
}
# "appliance 1.2.3" from `appliance --version` ("appliance, version 1.2.3"); empty if it does not run.
short_version() { sed -e '1!d' -e 's/^appliance, version /appliance /'; }
version_of() { "$1/bin/appliance" --version 2>/dev/null | short_version || true; }

# The service steps: restart only what was running (or was asked for), and report.
service_active() { [ "$LIVE" -eq 1 ] && sctl is-active --quiet appliance.service; }
restart_checked() {
    sctl restart appliance.service || return 1
    sleep "${APPLIANCE_INSTALL_SETTLE:-5}"
    sctl is-active --quiet appliance.service
}

# Atomically point $CURRENT (or $PREVIOUS) at a venv: a new symlink renamed over the old one.
point() {
    local link="$1" target="$2"
    rm -f "$link.new"
    ln -s "$target" "$link.new"
    mv -T "$link.new" "$link"
}

# Swap current and previous (rollback): both stay runnable; a pre-releases/ folder goes back to its place.
swap_releases() {
    [ -e "$PREVIOUS" ] || [ -L "$PREVIOUS" ] || die "no previous release to roll back to (see $P/releases)"
    if [ -L "$PREVIOUS" ]; then
        local prev cur
        prev="$(readlink "$PREVIOUS")"
        cur="$(readlink "$CURRENT" 2>/dev/null || true)"
        point "$CURRENT" "$prev"
        if [ -n "$cur" ]; then point "$PREVIOUS" "$cur"; else rm -f "$PREVIOUS"; fi
    else  # a venv made before releases/: its scripts name $CURRENT, so it must be back at that path
        local cur
        cur="$(readlink "$CURRENT" 2>/dev/null || true)"
        rm -f "$CURRENT"
        mv -T "$PREVIOUS" "$CURRENT"
        if [ -n "$cur" ]; then ln -s "$cur" "$PREVIOUS"; fi
    fi
}

if [ "$UNINSTALL" -eq 1 ]; then
    if [ "$LIVE" -eq 1 ]; then
        say "stopping the service (the current input finishes or is recovered next time)"
        sctl disable --now appliance.service 2>/dev/null || true
    fi
    rm -f "$UNIT" "$SYSUSERS" "$TMPFILES" "$P/.appliance.service.previous"
    rm -rf "$CURRENT" "$PREVIOUS" "$P/releases" "$P/docs"
    if [ "$LIVE" -eq 1 ]; then sctl daemon-reload; fi
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

if [ "$ROLLBACK" -eq 1 ]; then
    from="$(version_of "$CURRENT")"
    swap_releases
    if [ -f "$P/.appliance.service.previous" ]; then
        cp -p "$UNIT" "$P/.appliance.service.rollback" 2>/dev/null || true
        install -m 0644 "$P/.appliance.service.previous" "$UNIT"
        if [ -f "$P/.appliance.service.rollback" ]; then mv -f "$P/.appliance.service.rollback" "$P/.appliance.service.previous"; fi
    fi
    to="$(version_of "$CURRENT")"
    if [ "$LIVE" -eq 1 ]; then
        sctl daemon-reload
        if sctl is-enabled --quiet appliance.service 2>/dev/null || service_active; then
            restart_checked || die "rolled back from ${from:-?} to ${to:-?}, but the service does not stay up: see journalctl -u appliance"
        fi
    fi
    say "rolled back from ${from:-?} to ${to:-?}"
    exit 0
fi

# ---------------------------------------------------------------------------------------- program
NEW=
NEW_VERSION=
OLD_VERSION=
if [ "$VENV" -eq 1 ]; then
    # Everything that can be checked before anything changes is checked first.
    if [ -n "$WHEELHOUSE" ]; then
        [ -d "$WHEELHOUSE" ] || die "wheelhouse not found: $WHEELHOUSE (nothing was changed)"
    elif [ "$NETWORK" -eq 0 ]; then
        die "no --wheelhouse given: this installer does not download anything (the box is offline). Give --wheelhouse DIR (docs/install.md, step 1), or --allow-network on a machine that may use the package index. Nothing was changed."
    fi
    [ -z "$SOURCE" ] || [ -d "$SOURCE" ] || die "source folder not found: $SOURCE (nothing was changed)"
    command -v "$PY" >/dev/null || die "$PY is required (3.10 or newer)"
    "$PY" -c 'import sys; sys.exit(sys.version_info < (3, 10))' || die "$PY is older than 3.10"
    "$PY" -c 'import venv, ensurepip' 2>/dev/null || die "python3-venv is required (apt-get install python3-venv)"

    if [ -x "$CURRENT/bin/appliance" ]; then OLD_VERSION="$(version_of "$CURRENT")"; fi
    id="$(date -u +%Y%m%dT%H%M%SZ)"
    n=0
    while [ -e "$P/releases/$id" ]; do n=$((n + 1)); id="$(date -u +%Y%m%dT%H%M%SZ)-$n"; done
    NEW="$P/releases/$id"
    keep_running="${OLD_VERSION:+ the installed version ($OLD_VERSION) is unchanged and still in use}"
    abandon() {
        rm -rf "$NEW"
        die "$1: the new release was not installed;${keep_running:- nothing was switched}"
    }

    say "building the new release beside the running one: $NEW/venv"
    mkdir -p "$NEW"
    "$PY" -m venv "$NEW/venv" || abandon "creating the virtual environment failed"
    PIP=("$NEW/venv/bin/python" -m pip --disable-pip-version-check --no-input)
    FROM=()
    if [ -n "$WHEELHOUSE" ]; then
        # Only the wheelhouse: no index, and no pip configuration of this machine (extra indexes,
        # find-links or constraints in pip.conf or PIP_* variables) mixed in.
        while IFS= read -r var; do unset "$var"; done < <(compgen -e | grep '^PIP_' || true)
        export PIP_CONFIG_FILE=/dev/null
        FROM=(--no-index --find-links "$WHEELHOUSE")
    fi
    "${PIP[@]}" install "${FROM[@]}" "${SOURCE:-clinical-appliance}" \
        || abandon "pip could not install from ${WHEELHOUSE:-the package index}"
    "${PIP[@]}" check || abandon "the installed packages are inconsistent (pip check)"
    NEW_VERSION="$("$NEW/venv/bin/appliance" --version 2>&1 | short_version)" || abandon "the new \`appliance --version\` fails"
    [ -n "$NEW_VERSION" ] || abandon "the new \`appliance --version\` prints nothing"
    echo "$NEW_VERSION" > "$NEW/VERSION"
    say "new release: $NEW_VERSION"

    # The new version must pass every check the running version passes (on a first install, a check of
    # an example config that has no recipients yet is only reported).
    if [ -f "$ETC/config.toml" ]; then
        if app_as_service "$NEW/venv" config check --config "$ETC/config.toml" >/dev/null 2>&1; then
            say "config check: OK"
        elif [ -n "$OLD_VERSION" ] && app_as_service "$CURRENT" config check --config "$ETC/config.toml" >/dev/null 2>&1; then
            app_as_service "$NEW/venv" config check --config "$ETC/config.toml" || true
            abandon "the new version rejects $ETC/config.toml, which the running version accepts"
        else
            echo "note: config check fails for $ETC/config.toml (fix it before enabling the service)"
        fi
    fi
    for bundle in "$P"/models/*/; do
        bundle="${bundle%/}"
        [ -f "$bundle/manifest.json" ] || continue
        if app_as_service "$NEW/venv" models verify --quick "$bundle" >/dev/null 2>&1; then
            say "models verify --quick $(basename "$bundle"): OK"
        elif [ -n "$OLD_VERSION" ] && app_as_service "$CURRENT" models verify --quick "$bundle" >/dev/null 2>&1; then
            abandon "the new version cannot verify the model bundle $(basename "$bundle"), which the running version can"
        else
            echo "note: model bundle $(basename "$bundle") does not verify"
        fi
    done
fi
mkdir -p "$P/models" "$P/docs"
for doc in install.md integration.md configuration.md result-schema.md; do
    if [ -f "$HERE/../docs/$doc" ]; then install -m 0644 "$HERE/../docs/$doc" "$P/docs/$doc"; fi
done
chmod 0755 "$P" "$P/models"

# ---------------------------------------------------------------------------------------- models
if [ -n "$MODELS" ]; then
    [ -d "$MODELS" ] || die "models folder not found: $MODELS"
    CHECKER="${NEW:+$NEW/venv}"
    CHECKER="${CHECKER:-$CURRENT}"
    for bundle in "$MODELS"/*/; do
        bundle="${bundle%/}"
        [ -f "$bundle/manifest.json" ] || continue
        name="$(basename "$bundle")"
        say "copying model bundle $name"
        rm -rf "$P/models/.$name.new"
        cp -r "$bundle" "$P/models/.$name.new"
        if [ -x "$CHECKER/bin/appliance" ]; then
            "$CHECKER/bin/appliance" models verify "$P/models/.$name.new" || {
                rm -rf "$P/models/.$name.new" "$NEW"
                die "bundle $name is damaged: not installed, and nothing was switched"
            }
        fi
        rm -rf "$P/models/$name.old"
        if [ -e "$P/models/$name" ]; then mv "$P/models/$name" "$P/models/$name.old"; fi
        mv "$P/models/.$name.new" "$P/models/$name"
        rm -rf "$P/models/$name.old"
        chmod -R u=rwX,go=rX "$P/models/$name"
    done
fi

# ---------------------------------------------------------------------------------------- switch over
if [ -n "$NEW" ]; then
    rm -f "$P/.appliance.service.previous"
    if [ -f "$UNIT" ]; then cp -p "$UNIT" "$P/.appliance.service.previous"; fi
    if [ -L "$CURRENT" ]; then
        point "$PREVIOUS" "$(readlink "$CURRENT")"
    elif [ -d "$CURRENT" ]; then        # an install made before releases/: keep it whole for a rollback
        rm -rf "$PREVIOUS"
        mv -T "$CURRENT" "$PREVIOUS"
    fi
    point "$CURRENT" "releases/$(basename "$NEW")/venv"
    say "switched $CURRENT to $NEW_VERSION${OLD_VERSION:+ (previous: $OLD_VERSION, kept for --rollback)}"
    # Keep the current and the previous release; older ones go.
    keep_cur="$(basename "$(dirname "$(readlink "$CURRENT")")")"
    keep_prev="$(basename "$(dirname "$(readlink "$PREVIOUS" 2>/dev/null || echo none/venv)")")"
    for rel in "$P"/releases/*/; do
        rel="$(basename "$rel")"
        if [ "$rel" != "$keep_cur" ] && [ "$rel" != "$keep_prev" ]; then rm -rf "${P:?}/releases/$rel"; fi
    done
fi

# ---------------------------------------------------------------------------------------- system files
say "installing unit, sysusers.d and tmpfiles.d files"
install -D -m 0644 "$HERE/appliance.service" "$UNIT"
install -D -m 0644 "$HERE/appliance.sysusers" "$SYSUSERS"
install -D -m 0644 "$HERE/appliance.tmpfiles" "$TMPFILES"
if [ -n "$ROOT" ]; then
    if command -v systemd-sysusers >/dev/null && command -v systemd-tmpfiles >/dev/null; then
        systemd-sysusers --root="$ROOT" "$SYSUSERS" || die "systemd-sysusers --root=$ROOT failed"
        systemd-tmpfiles --root="$ROOT" --create "$TMPFILES" || die "systemd-tmpfiles --root=$ROOT failed"
    else
        echo "note: systemd-sysusers/systemd-tmpfiles not found: accounts and folders not made under $ROOT"
    fi
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

# ---------------------------------------------------------------------------------------- service
if [ "$LIVE" -eq 1 ]; then
    sctl daemon-reload
    WANT_START=0
    if [ "$ENABLE" -eq 1 ]; then
        app_as_service "$CURRENT" config check --config "$ETC/config.toml" \
            || die "config check failed: fix $ETC/config.toml, then: systemctl enable --now appliance"
        sctl enable appliance.service
        WANT_START=1
    elif [ -n "$NEW" ] && { service_active || sctl is-enabled --quiet appliance.service 2>/dev/null; }; then
        WANT_START=1
    fi
    if [ "$WANT_START" -eq 1 ]; then
        say "restarting the service on ${NEW_VERSION:-the installed version} (the current input finishes first)"
        if restart_checked; then
            say "running ${NEW_VERSION:-}; check with: systemctl status appliance; sudo -u appliance $CURRENT/bin/appliance status"
        elif [ -n "$NEW" ] && { [ -L "$PREVIOUS" ] || [ -d "$PREVIOUS" ]; }; then
            echo "install.sh: the service does not start on $NEW_VERSION: rolling back" >&2
            swap_releases
            if [ -f "$P/.appliance.service.previous" ]; then install -m 0644 "$P/.appliance.service.previous" "$UNIT"; fi
            sctl daemon-reload
            back="$(version_of "$CURRENT")"
            if restart_checked; then
                die "upgrade to $NEW_VERSION FAILED at start; rolled back: ${back:-the previous version} is running again (the failed release stays in $NEW; see journalctl -u appliance)"
            fi
            die "upgrade to $NEW_VERSION FAILED at start, and the rolled-back ${back:-previous version} does not start either: see journalctl -u appliance"
        else
            die "the service does not start: see journalctl -u appliance"
        fi
    elif ! sctl is-enabled --quiet appliance.service 2>/dev/null; then
        cat <<EOF
Next steps:
  1. put the readers' public keys in $ETC/recipients.txt (appliance keygen, run on THEIR machine)
  2. set the extractor in $ETC/config.toml, then: sudo -u appliance $CURRENT/bin/appliance config check
  3. systemctl enable --now appliance
EOF
    fi
fi
say "done${NEW_VERSION:+: $NEW_VERSION installed}"
