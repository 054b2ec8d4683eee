"""Upgrades with systemd/install.sh: install beside, verify, switch atomically, roll back on failure.

Everything runs the real script into a ``--root`` scratch folder with real virtual environments. Most tests
use small fake wheelhouses (a ``clinical-appliance`` wheel whose ``appliance`` command answers
``--version``, ``config check``, ``models verify`` and ``run`` as a given version would, plus one dependency
wheel), so each install takes seconds. One test installs the real project from a real wheelhouse
(``pip wheel`` of this checkout, cached in ``.cache/wheelhouse``) and then tries a broken upgrade of it.
The service steps run against a fake ``systemctl`` (``SYSTEMCTL=``): its ``restart`` runs the unit's
``ExecStart`` program with ``run``, which the fake exits at once (0, or 78 for a version that cannot start).
"""

from __future__ import annotations

import base64
import hashlib
import os
import shutil
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest

from tests.support.paths import REPO

INSTALL = REPO / "systemd" / "install.sh"
PYTHON = shutil.which("python3") or sys.executable

FAKE_APP = '''\
import sys

import appliance_fake_dep  # noqa: F401  (a missing dependency must matter)

VERSION = {version!r}
BEHAVIOUR = {behaviour!r}


def main():
    args = sys.argv[1:]
    if args[:1] == ["--version"]:
        print(f"appliance, version {{VERSION}}")
    elif args[:2] == ["config", "check"]:
        if BEHAVIOUR == "reject-config":
            sys.exit("config error: unknown option")
        print("config OK")
    elif args[:2] == ["models", "verify"]:
        print("OK")
    elif args[:1] == ["run"]:
        sys.exit(78 if BEHAVIOUR == "fail-start" else 0)
    else:
        sys.exit(2)
'''

FAKE_SYSTEMCTL = """#!/bin/sh
# A stand-in for systemctl: records its calls; `restart` runs the unit's ExecStart program once.
echo "$*" >> "$FAKE_STATE/calls"
case "$1" in
    is-active) [ -f "$FAKE_STATE/active" ] ;;
    is-enabled) [ -f "$FAKE_STATE/enabled" ] ;;
    enable) touch "$FAKE_STATE/enabled" ;;
    disable) rm -f "$FAKE_STATE/enabled" "$FAKE_STATE/active" ;;
    stop) rm -f "$FAKE_STATE/active" ;;
    start|restart)
        exe=$(sed -n 's/^ExecStart=\\([^ ]*\\) .*/\\1/p' "$FAKE_ROOT/etc/systemd/system/appliance.service")
        rm -f "$FAKE_STATE/active"
        "$FAKE_ROOT$exe" run || exit 1
        touch "$FAKE_STATE/active" ;;
esac
exit 0
"""


def _wheel(folder: Path, name: str, version: str, files: dict[str, str], requires: list[str] = (),
           scripts: dict[str, str] | None = None) -> Path:
    """A pure-Python wheel written by hand (PEP 427): files, metadata, entry points and RECORD."""
    dist = name.replace("-", "_")
    info = f"{dist}-{version}.dist-info"
    content = dict(files)
    content[f"{info}/METADATA"] = (f"Metadata-Version: 2.1\nName: {name}\nVersion: {version}\n"
                                   + "".join(f"Requires-Dist: {r}\n" for r in requires))
    content[f"{info}/WHEEL"] = ("Wheel-Version: 1.0\nGenerator: tests\nRoot-Is-Purelib: true\n"
                                "Tag: py3-none-any\n")
    if scripts:
        content[f"{info}/entry_points.txt"] = "[console_scripts]\n" + "".join(
            f"{k} = {v}\n" for k, v in scripts.items())
    record = []
    for path, text in content.items():
        digest = base64.urlsafe_b64encode(hashlib.sha256(text.encode()).digest()).rstrip(b"=").decode()
        record.append(f"{path},sha256={digest},{len(text.encode())}")
    content[f"{info}/RECORD"] = "\n".join(record + [f"{info}/RECORD,,"]) + "\n"
    out = folder / f"{dist}-{version}-py3-none-any.whl"
    with zipfile.ZipFile(out, "w") as z:
        for path, text in content.items():
            z.writestr(path, text)
    return out


def fake_app(folder: Path, version: str, behaviour: str = "ok") -> Path:
    return _wheel(folder, "clinical-appliance", version,
                  {"appliance_fake.py": FAKE_APP.format(version=version, behaviour=behaviour)},
                  requires=["appliance-fake-dep"], scripts={"appliance": "appliance_fake:main"})


@pytest.fixture(scope="session")
def wheelhouses(tmp_path_factory) -> dict[str, Path]:
    """name → wheelhouse folder: v1, v2 (good), and bad upgrades to 2.0.0."""
    base = tmp_path_factory.mktemp("wheelhouses")
    dep = _wheel(base, "appliance-fake-dep", "1.0", {"appliance_fake_dep.py": ""})
    out = {}
    for name, version, behaviour, with_dep in [
        ("v1", "1.0.0", "ok", True),
        ("v2", "2.0.0", "ok", True),
        ("missing-dependency", "2.0.0", "ok", False),
        ("corrupt-wheel", "2.0.0", "ok", True),
        ("rejects-config", "2.0.0", "reject-config", True),
        ("fails-at-start", "2.0.0", "fail-start", True),
    ]:
        wh = base / name
        wh.mkdir()
        whl = fake_app(wh, version, behaviour)
        if name == "corrupt-wheel":
            whl.write_bytes(whl.read_bytes()[: len(whl.read_bytes()) // 2])
        if with_dep:
            shutil.copy(dep, wh)
        out[name] = wh
    return out


def install(root: Path, *args: str, systemctl: Path | None = None) -> subprocess.CompletedProcess:
    env = {k: v for k, v in os.environ.items() if k != "SYSTEMCTL"}
    env["APPLIANCE_INSTALL_SETTLE"] = "0"
    if systemctl:
        env.update(SYSTEMCTL=str(systemctl), FAKE_ROOT=str(root), FAKE_STATE=str(systemctl.parent))
    return subprocess.run([str(INSTALL), "--root", str(root), "--python", PYTHON, *args],
                          capture_output=True, text=True, env=env, timeout=600)


def version(root: Path) -> str:
    r = subprocess.run([str(root / "opt/appliance/venv/bin/appliance"), "--version"],
                       capture_output=True, text=True)
    assert r.returncode == 0, r.stderr
    return r.stdout.strip()


def releases(root: Path) -> list[str]:
    return sorted(p.name for p in (root / "opt/appliance/releases").iterdir())


# ------------------------------------------------------------------------------------------ offline


def test_no_wheelhouse_fails_at_once_and_changes_nothing(tmp_path):
    root = tmp_path / "root"
    r = install(root)
    assert r.returncode != 0
    assert "--wheelhouse" in r.stderr and "Nothing was changed" in r.stderr
    assert not root.exists()
    r = install(root, "--wheelhouse", str(tmp_path / "nowhere"))
    assert r.returncode != 0 and "wheelhouse not found" in r.stderr
    assert not root.exists()


# ------------------------------------------------------------------------------------------ upgrades


@pytest.fixture
def systemctl(tmp_path) -> Path:
    """The fake systemctl (its folder holds its state: calls, active, enabled)."""
    state = tmp_path / "systemctl"
    state.mkdir()
    tool = state / "systemctl"
    tool.write_text(FAKE_SYSTEMCTL)
    tool.chmod(0o755)
    return tool


def test_upgrade_switches_atomically_restarts_and_rolls_back_on_request(tmp_path, wheelhouses, systemctl):
    root, state = tmp_path / "root", systemctl.parent
    r = install(root, "--wheelhouse", str(wheelhouses["v1"]), "--enable", systemctl=systemctl)
    assert r.returncode == 0, r.stdout + r.stderr
    assert version(root) == "appliance, version 1.0.0" and (state / "active").exists()
    venv = root / "opt/appliance/venv"
    assert venv.is_symlink() and os.readlink(venv).startswith("releases/")
    first = releases(root)
    r = install(root, "--wheelhouse", str(wheelhouses["v2"]), systemctl=systemctl)
    assert r.returncode == 0, r.stdout + r.stderr
    assert version(root) == "appliance, version 2.0.0"
    assert "previous: appliance 1.0.0" in r.stdout and "running appliance 2.0.0" in r.stdout
    assert os.readlink(root / "opt/appliance/venv.previous") == f"releases/{first[0]}/venv"
    release = (root / "opt/appliance" / os.readlink(venv)).parent
    assert (release / "VERSION").read_text() == "appliance 2.0.0\n"
    r = install(root, "--rollback", systemctl=systemctl)
    assert r.returncode == 0, r.stdout + r.stderr
    assert "rolled back from appliance 2.0.0 to appliance 1.0.0" in r.stdout
    assert version(root) == "appliance, version 1.0.0"
    # A third release: only the current and the previous one are kept.
    assert install(root, "--wheelhouse", str(wheelhouses["v2"]), systemctl=systemctl).returncode == 0
    assert len(releases(root)) == 2
    assert version(root) == "appliance, version 2.0.0" and (state / "active").exists()
    calls = (state / "calls").read_text().splitlines()
    assert calls.count("restart appliance.service") == 4  # --enable, upgrade, rollback, upgrade
    assert "stop appliance.service" not in calls  # never stopped before the new release is ready


def test_a_bad_upgrade_leaves_the_old_version_in_place(tmp_path, wheelhouses):
    root = tmp_path / "root"
    assert install(root, "--wheelhouse", str(wheelhouses["v1"])).returncode == 0
    (root / "etc/appliance/config.toml").write_text("# a config the installed version accepts\n")
    before = releases(root)
    target = os.readlink(root / "opt/appliance/venv")
    for bad, why in [("missing-dependency", "pip could not install"),
                     ("corrupt-wheel", "pip could not install"),
                     ("rejects-config", "the new version rejects")]:
        r = install(root, "--wheelhouse", str(wheelhouses[bad]))
        assert r.returncode != 0, bad
        assert why in r.stderr, (bad, r.stderr)
        assert "the installed version (appliance 1.0.0) is unchanged and still in use" in r.stderr, bad
        assert os.readlink(root / "opt/appliance/venv") == target, bad
        assert version(root) == "appliance, version 1.0.0", bad
        assert releases(root) == before, bad  # the half-built release is gone


def test_a_release_that_does_not_start_is_rolled_back(tmp_path, wheelhouses, systemctl):
    root, state = tmp_path / "root", systemctl.parent
    r = install(root, "--wheelhouse", str(wheelhouses["v1"]), "--enable", systemctl=systemctl)
    assert r.returncode == 0, r.stdout + r.stderr
    assert (state / "active").exists()
    r = install(root, "--wheelhouse", str(wheelhouses["fails-at-start"]), systemctl=systemctl)
    assert r.returncode != 0
    assert "FAILED at start; rolled back: appliance 1.0.0 is running again" in r.stderr
    assert version(root) == "appliance, version 1.0.0"
    assert (state / "active").exists()
    calls = (state / "calls").read_text().splitlines()
    assert calls.count("restart appliance.service") == 3  # --enable, the failed upgrade, the rollback


def test_upgrade_from_an_install_made_before_releases(tmp_path, wheelhouses):
    """The first upgrade of a box whose venv is a plain folder (the old layout) keeps that folder whole
    for a rollback: its scripts name /opt/appliance/venv, so it goes back to exactly that path."""
    root = tmp_path / "root"
    legacy = root / "opt/appliance/venv"
    subprocess.run([PYTHON, "-m", "venv", str(legacy)], check=True)
    subprocess.run([str(legacy / "bin/python"), "-m", "pip", "install", "-q", "--no-index", "--find-links",
                    str(wheelhouses["v1"]), "clinical-appliance"], check=True,
                   env={**os.environ, "PIP_CONFIG_FILE": os.devnull})
    r = install(root, "--wheelhouse", str(wheelhouses["v2"]))
    assert r.returncode == 0, r.stdout + r.stderr
    assert legacy.is_symlink() and version(root) == "appliance, version 2.0.0"
    assert (root / "opt/appliance/venv.previous").is_dir()
    r = install(root, "--rollback")
    assert r.returncode == 0, r.stdout + r.stderr
    assert not legacy.is_symlink() and version(root) == "appliance, version 1.0.0"
    assert (root / "opt/appliance/venv.previous").is_symlink()


# ------------------------------------------------------------------------------------------ real wheels


@pytest.fixture(scope="session")
def real_wheelhouse() -> Path:
    """The project and all its dependencies as wheels, the way docs/install.md step 1 makes the stick
    (``pip wheel --wheel-dir DIR .``); cached in .cache/wheelhouse, keyed by pyproject.toml."""
    key = hashlib.sha256((REPO / "pyproject.toml").read_bytes()).hexdigest()[:16]
    wh = REPO / ".cache" / "wheelhouse"
    stamp = wh / ".pyproject-sha256"
    if not (stamp.exists() and stamp.read_text() == key):
        shutil.rmtree(wh, ignore_errors=True)
        r = subprocess.run([sys.executable, "-m", "pip", "wheel", "-q", "--wheel-dir", str(wh), str(REPO)],
                           capture_output=True, text=True, timeout=1800)
        if r.returncode != 0:
            pytest.skip(f"cannot build the wheelhouse (no package index?): {r.stderr.strip()[-300:]}")
        stamp.write_text(key)
    else:  # the project itself is rebuilt, so that the wheel is this checkout
        for old in wh.glob("clinical_appliance-*.whl"):
            old.unlink()
        subprocess.run([sys.executable, "-m", "pip", "wheel", "-q", "--no-deps", "--no-build-isolation",
                        "--wheel-dir", str(wh), str(REPO)], check=True, capture_output=True, timeout=600)
    return wh


def test_real_install_then_a_broken_upgrade_keeps_it_running(tmp_path, real_wheelhouse):
    root = tmp_path / "root"
    r = install(root, "--wheelhouse", str(real_wheelhouse))
    assert r.returncode == 0, r.stdout[-3000:] + r.stderr[-3000:]
    app = root / "opt/appliance/venv/bin/appliance"
    from appliance import __version__

    assert version(root) == f"appliance, version {__version__}"
    # A stick that lost one dependency: pip refuses before anything is switched.
    broken = tmp_path / "broken"
    shutil.copytree(real_wheelhouse, broken)
    for whl in broken.glob("pydantic-*.whl"):
        whl.unlink()
    r = install(root, "--wheelhouse", str(broken))
    assert r.returncode != 0
    assert f"the installed version (appliance {__version__}) is unchanged" in r.stderr
    assert version(root) == f"appliance, version {__version__}"
    doc = tmp_path / "call-1.txt"
    doc.write_text("The patient reports pain since yesterday.\n")
    r = subprocess.run([str(app), "extract", "--strategy", "rules", "--json", str(doc)],
                       capture_output=True, text=True, timeout=300)
    assert r.returncode == 0, r.stderr
