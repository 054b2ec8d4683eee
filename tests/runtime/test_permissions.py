"""Who can read what: every common way an integrator drops a file, against the real installed system files.

A scratch root gets the host's account files, then ``systemd/install.sh --root`` installs the unit, the
sysusers.d and tmpfiles.d files and applies them with the real ``systemd-sysusers`` and
``systemd-tmpfiles``. An integration account (non-root, in ``appliance-io``) is added with ``useradd``.
Each writer of ``WRITERS`` runs as that account; the real daemon (``appliance run``, rules strategy)
runs as the service account with exactly the user, groups, capabilities, ``NoNewPrivileges`` and
``UMask`` that the installed unit and the applied sysusers file give it (``setpriv``, since systemd
cannot be booted here). Every writer's file must give a result, and the integrator must be able to
read and remove the results. Needs root (accounts, ``setpriv``); skipped with the reason otherwise.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

import pytest

from tests.support.paths import REPO
from tests.support.reliability import Box, wait_for

INSTALL = REPO / "systemd" / "install.sh"
TEXT = "The patient reports pain and fever since yesterday."
TOOLS = ("setpriv", "unshare", "useradd", "usermod", "systemd-sysusers", "systemd-tmpfiles", "rsync")

# name → (umask, shell command). $INBOX is the inbox, $STAGE the integrator's own folder on the same file
# system, $PY a Python interpreter; `w FILE` writes the transcript to FILE with a plain `>` redirect.
# Each command leaves one file, <name>.txt, in the inbox.
MKSTEMP = ('"$PY" -c "import os, sys, tempfile; fd, p = tempfile.mkstemp(dir=sys.argv[1], prefix=\'.\'); '
           'os.write(fd, os.environ[\'TEXT\'].encode()); os.close(fd); os.rename(p, sys.argv[2])"')
WRITERS: dict[str, tuple[str, str]] = {
    # a plain redirect under the final name, under a usual and a strict umask
    "redirect": ("022", 'w "$INBOX/redirect.txt"'),
    "redirect-umask077": ("077", 'w "$INBOX/redirect-umask077.txt"'),
    # the recommended way: temporary name in the inbox, then mv
    "redirect-tmp-mv": ("077", 'w "$INBOX/.r.tmp" && mv "$INBOX/.r.tmp" "$INBOX/redirect-tmp-mv.txt"'),
    # tempfile.mkstemp (always 0600) in the inbox, or in the integrator's own folder, then os.rename
    "mkstemp-rename": ("022", MKSTEMP + ' "$INBOX" "$INBOX/mkstemp-rename.txt"'),
    "mkstemp-stage-rename": ("022", MKSTEMP + ' "$STAGE" "$INBOX/mkstemp-stage-rename.txt"'),
    # a 0600 file copied with its mode, copied plainly, moved
    "cp-p-0600": ("022", 'w s1 && chmod 0600 s1 && cp -p s1 "$INBOX/cp-p-0600.txt"'),
    "cp-0600": ("022", 'w s2 && chmod 0600 s2 && cp s2 "$INBOX/cp-0600.txt"'),
    "mv-umask077": ("077", 'w s3 && mv s3 "$INBOX/mv-umask077.txt"'),
    # install(1) with explicit modes
    "install-0640": ("022", 'w s4 && install -m 0640 s4 "$INBOX/install-0640.txt"'),
    "install-0600": ("022", 'w s5 && install -m 0600 s5 "$INBOX/install-0600.txt"'),
    # rsync of a 0600 file: its default temporary name (.NAME.XXXXXX) in the inbox, with -a (mode kept),
    # with a temporary folder of its own
    "rsync": ("022", 'w s6 && chmod 0600 s6 && rsync s6 "$INBOX/rsync.txt"'),
    "rsync-a": ("022", 'w s7 && chmod 0600 s7 && rsync -a s7 "$INBOX/rsync-a.txt"'),
    "rsync-temp-dir": ("022", 'mkdir -p rt && w s8 && chmod 0600 s8 && '
                              'rsync -a --temp-dir="$STAGE/rt" s8 "$INBOX/rsync-temp-dir.txt"'),
}
# The writers whose file is owner-only (0600): no group or ACL reaches it, only CAP_DAC_READ_SEARCH.
OWNER_ONLY = {"mkstemp-rename", "mkstemp-stage-rename", "cp-p-0600", "cp-0600", "mv-umask077", "install-0600",
              "rsync", "rsync-a", "rsync-temp-dir"}

pytestmark = pytest.mark.skipif(
    os.geteuid() != 0 or any(shutil.which(t) is None for t in TOOLS),
    reason="needs root (to add accounts and run processes as them) and " + ", ".join(TOOLS),
)


# ------------------------------------------------------------------------------------------ the box


def unit_directives(path: Path) -> dict[str, list[str]]:
    """``Section.Key`` → values, in file order, of a systemd unit file (comments and blanks skipped)."""
    out: dict[str, list[str]] = {}
    section = None
    for line in path.read_text().splitlines():
        line = line.strip()
        if not line or line.startswith(("#", ";")):
            continue
        if line.startswith("["):
            section = line.strip("[]")
            continue
        key, _, value = line.partition("=")
        out.setdefault(f"{section}.{key}", []).append(value)
    return out


def _table(path: Path) -> dict[str, list[str]]:
    return {f[0]: f for f in (line.split(":") for line in path.read_text().splitlines() if line)}


class Installed:
    """A scratch root with the system files installed and applied, and the accounts in it."""

    def __init__(self, base: Path) -> None:
        self.base = base
        self.root = base / "root"
        (self.root / "etc").mkdir(parents=True)
        for name in ("passwd", "group", "shadow", "gshadow"):  # a real box already has accounts
            if Path("/etc", name).exists():
                shutil.copy2(Path("/etc", name), self.root / "etc" / name)
        r = subprocess.run([str(INSTALL), "--root", str(self.root), "--no-venv"], capture_output=True,
                           text=True)
        assert r.returncode == 0, r.stdout + r.stderr
        # The integration account, as docs/install.md has the administrator make it.
        subprocess.run(["useradd", "--prefix", str(self.root), "-U", "-M", "-s", "/bin/sh", "integrator"],
                       check=True, capture_output=True)
        subprocess.run(["usermod", "--prefix", str(self.root), "-aG", "appliance-io", "integrator"],
                       check=True, capture_output=True)
        self.passwd = _table(self.root / "etc/passwd")
        self.group = _table(self.root / "etc/group")
        self.data = self.root / "var/lib/appliance"
        self.unit = unit_directives(self.root / "etc/systemd/system/appliance.service")
        self.reach = reach_prefix(base)

    def ids(self, user: str) -> tuple[int, int, list[int]]:
        """uid, primary gid and every group (initgroups(3): primary + the groups listing the user)."""
        uid, gid = int(self.passwd[user][2]), int(self.passwd[user][3])
        groups = {gid} | {int(g[2]) for g in self.group.values() if user in g[3].split(",")}
        return uid, gid, sorted(groups)

    def as_integrator(self) -> list[str]:
        uid, gid, groups = self.ids("integrator")
        return self.reach + ["setpriv", f"--reuid={uid}", f"--regid={gid}",
                             "--groups=" + ",".join(map(str, groups)), "--"]

    def as_service(self, *, capabilities: bool = True) -> list[str]:
        """setpriv + umask for a process with the credentials the installed unit gives ExecStart=."""
        d = self.unit
        uid, gid, groups = self.ids(d["Service.User"][-1])
        gid = int(self.group[d["Service.Group"][-1]][2])
        for value in d.get("Service.SupplementaryGroups", []):
            groups += [int(self.group[g][2]) for g in value.split()]

        def caps(key: str) -> set[str]:
            return {c.lower().removeprefix("cap_") for v in d.get(key, []) for c in v.split()}

        ambient = caps("Service.AmbientCapabilities") & caps("Service.CapabilityBoundingSet")
        if not capabilities:
            ambient = set()
        capset = "-all" + "".join(f",+{c}" for c in sorted(ambient))
        cmd = self.reach + ["setpriv", f"--reuid={uid}", f"--regid={gid}",
                            "--groups=" + ",".join(map(str, sorted(set(groups)))),
                            f"--inh-caps={capset}", f"--ambient-caps={capset}", f"--bounding-set={capset}"]
        if d.get("Service.NoNewPrivileges") == ["yes"]:
            cmd.append("--no-new-privs")
        umask = d.get("Service.UMask", ["0022"])[-1]
        return cmd + ["--", "sh", "-c", f'umask {umask} && exec "$@"', "appliance"]


def _blocked_folders(paths: list[Path]) -> dict[Path, set[str]]:
    """For each path, its highest ancestor that other accounts may not enter (e.g. ``/root`` above a
    pyenv interpreter), with the child folder on the way: {blocked folder: {child names}}."""
    out: dict[Path, set[str]] = {}
    for p in paths:
        for anc in reversed(p.parents):
            if not anc.stat().st_mode & 0o001:
                out.setdefault(anc, set()).add(p.relative_to(anc).parts[0])
                break
    return out


def reach_prefix(base: Path) -> list[str]:
    """A command prefix that lets other accounts run this interpreter and import this checkout.

    When Python or the checkout lies below a folder only root may enter (pyenv under ``/root``), the
    command runs in a private mount namespace where that folder is covered by a 0755 tmpfs holding bind
    mounts of just the sub-folders needed, the way a unit's ``ProtectHome=`` plus ``BindReadOnlyPaths=``
    would. Nothing on the host changes. ``[]`` when nothing needs it.
    """
    needed = [Path(os.path.realpath(sys.executable)), Path(sys.prefix), Path(os.path.realpath(sys.prefix)),
              REPO]
    needed += [Path(p) for p in os.environ.get("PYTHONPATH", "").split(os.pathsep) if p]
    blocked = _blocked_folders(needed)
    if not blocked:
        return []
    lines = ["set -e", "mount --make-rprivate /"]
    for n, (folder, children) in enumerate(sorted(blocked.items())):
        stage = base / f"reach-{n}"
        stage.mkdir(exist_ok=True)
        lines.append(f"mount -t tmpfs -o mode=0755 tmpfs '{stage}'")
        for child in sorted(children):
            kind = "mkdir" if (folder / child).is_dir() else "touch"
            lines += [f"{kind} '{stage}/{child}'", f"mount --bind '{folder}/{child}' '{stage}/{child}'"]
        lines.append(f"mount --move '{stage}' '{folder}'")
    return ["unshare", "-m", "sh", "-c", "\n".join(lines) + '\nexec "$@"', "reach"]


@pytest.fixture(scope="module")
def installed():
    base = Path(tempfile.mkdtemp(prefix="appliance-perm-", dir="/var/tmp"))  # not under a 0700 folder
    os.chmod(base, 0o755)
    try:
        yield Installed(base)
    finally:
        shutil.rmtree(base, ignore_errors=True)


def _drop_all(box: Installed, names: list[str], text: str) -> None:
    uid, gid, _ = box.ids("integrator")
    stage = box.base / "stage"
    stage.mkdir(mode=0o700, exist_ok=True)
    os.chown(stage, uid, gid)
    env = {"PATH": os.environ["PATH"], "HOME": str(stage), "INBOX": str(box.data / "inbox"),
           "STAGE": str(stage), "TEXT": text, "PY": sys.executable, "LC_ALL": "C.UTF-8"}
    for name in names:
        umask, command = WRITERS[name]
        script = f'w() {{ printf "%s\\n" "$TEXT" > "$1"; }}; umask {umask} && cd "$STAGE" && {command}'
        r = subprocess.run(box.as_integrator() + ["sh", "-c", script], env=env, capture_output=True,
                           text=True)
        assert r.returncode == 0, f"writer {name}: {r.stderr}"


def _run_daemon(box: Installed, tmp: str, names: list[str], *, capabilities: bool = True):
    """Start the daemon as the service, drop every writer's file, wait for all; (results, failures)."""
    cfg = box.base / tmp
    cfg.mkdir(mode=0o755)
    for old in [*(box.data / "outbox").iterdir(), *(box.data / "failed").iterdir()]:
        old.unlink()  # an earlier run's files (other keys)
    app = Box(cfg, root=box.data)
    proc = app.start(prefix=box.as_service(capabilities=capabilities), HOME="/nonexistent")
    try:
        proc.wait_event("ready", timeout=120)
        _drop_all(box, names, f"{TEXT} ({tmp})")  # new content per run: the ledger keeps earlier ones
        wait_for(lambda: len(app.results()) + len(app.failures()) >= len(names), 120, 0.1,
                 f"{len(names)} results or failures")
    finally:
        proc.stop()
    return app, {r["input_id"] for r in app.results().values()}, app.failures()


# ------------------------------------------------------------------------------------------ tests


def test_the_system_files_make_the_exchange_folders(installed):
    data = installed.data
    modes = {p.name: oct(p.stat().st_mode & 0o7777) for p in data.iterdir()}
    assert modes == {"inbox": "0o2770", "outbox": "0o2770", "failed": "0o2750", "work": "0o700",
                     "archive": "0o700", "state": "0o750"}
    io = int(installed.group["appliance-io"][2])
    assert (data / "inbox").stat().st_gid == io
    assert "appliance" in installed.group["appliance-io"][3].split(",")  # sysusers `m` line


def test_every_integrator_writer_is_read_by_the_service(installed):
    """The whole matrix, with the unit's credentials: one result per writer, nothing failed."""
    names = list(WRITERS)
    app, done, failed = _run_daemon(installed, "cfg-unit", names)
    assert {n: f["reason"] for n, f in failed.items()} == {}
    assert done == set(names)
    # The integrator collects the results: reads and removes them.
    for result in app.outbox.glob("*.json.age"):
        r = subprocess.run(installed.as_integrator() + ["sh", "-c", 'cat "$1" >/dev/null && rm "$1"', "x",
                                                        str(result)], capture_output=True, text=True)
        assert r.returncode == 0, r.stderr
    assert not list(app.outbox.glob("*.json.age"))
    assert not app.entries("work")


def test_group_and_acl_alone_cannot_read_owner_only_files(installed):
    """Why the unit holds CAP_DAC_READ_SEARCH: without it, the group membership and the inbox's default
    ACL read every group-readable file, but no file its writer made 0600."""
    names = list(WRITERS)
    _, done, failed = _run_daemon(installed, "cfg-nocap", names, capabilities=False)
    assert done == set(names) - OWNER_ONLY
    assert {n: f["reason"] for n, f in failed.items()} == {n + ".txt": "unreadable" for n in OWNER_ONLY}
