"""``threads = 0``: every CPU the process may use, capped by its cgroup's CPU quota (the unit's CPUQuota=)."""

from __future__ import annotations

import os
import subprocess
import sys
import uuid
from pathlib import Path

import pytest

from appliance import threads


def fake_proc(tmp_path: Path, cgroup: str, mountinfo: list[str]) -> Path:
    proc = tmp_path / "proc"
    proc.mkdir()
    (proc / "cgroup").write_text(cgroup)
    (proc / "mountinfo").write_text("\n".join(mountinfo) + "\n")
    return proc


def write(path: Path, text: str) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text)


def test_cgroup_v2_cpu_max_of_the_unit(tmp_path):
    fs = tmp_path / "cgroup"
    write(fs / "system.slice/cpu.max", "max 100000\n")
    write(fs / "system.slice/appliance.service/cpu.max", "180000 100000\n")  # CPUQuota=180%
    proc = fake_proc(tmp_path, "0::/system.slice/appliance.service\n",
                     [f"30 23 0:26 / {fs} rw,nosuid - cgroup2 cgroup2 rw,nsdelegate"])
    assert threads.cgroup_cpu_limit(proc) == pytest.approx(1.8)


def test_cgroup_v2_an_ancestor_limit_applies_and_max_is_none(tmp_path):
    fs = tmp_path / "cg space"
    write(fs / "machine.slice/cpu.max", "50000 100000\n")
    write(fs / "machine.slice/box/cpu.max", "max 100000\n")
    proc = fake_proc(tmp_path, "0::/machine.slice/box\n",
                     [f"30 23 0:26 / {str(fs).replace(' ', chr(92) + '040')} rw - cgroup2 cgroup2 rw"])
    assert threads.cgroup_cpu_limit(proc) == pytest.approx(0.5)
    (fs / "machine.slice/cpu.max").write_text("max 100000\n")
    assert threads.cgroup_cpu_limit(proc) is None


def test_cgroup_v1_cfs_quota_in_a_container_view(tmp_path):
    """v1 (hybrid): the cpu hierarchy mounted with the container's cgroup as its root."""
    cpu = tmp_path / "cpu,cpuacct"
    write(cpu / "cpu.cfs_quota_us", "150000\n")
    write(cpu / "cpu.cfs_period_us", "100000\n")
    proc = fake_proc(
        tmp_path,
        "4:memory:/docker/abc\n3:cpu,cpuacct:/docker/abc\n0::/docker/abc\n",
        [f"40 30 0:35 /docker/abc {cpu} ro - cgroup cgroup rw,cpu,cpuacct",
         f"41 30 0:36 /docker/abc {tmp_path / 'memory'} ro - cgroup cgroup rw,memory"],
    )
    assert threads.cgroup_cpu_limit(proc) == pytest.approx(1.5)
    (cpu / "cpu.cfs_quota_us").write_text("-1\n")
    assert threads.cgroup_cpu_limit(proc) is None


def test_no_cgroup_information(tmp_path):
    assert threads.cgroup_cpu_limit(tmp_path / "missing") is None


def test_zero_threads_respects_the_quota(tmp_path, monkeypatch):
    fs = tmp_path / "cgroup"
    write(fs / "appliance.service/cpu.max", "180000 100000\n")
    proc = fake_proc(tmp_path, "0::/appliance.service\n", [f"30 23 0:26 / {fs} rw - cgroup2 cgroup2 rw"])
    monkeypatch.setattr(threads, "PROC_SELF", proc)
    monkeypatch.setattr(os, "sched_getaffinity", lambda pid: set(range(8)))
    assert threads.inference_threads(0) == 2  # 1.8 CPUs, rounded up
    (fs / "appliance.service/cpu.max").write_text("50000 100000\n")
    assert threads.inference_threads(0) == 1
    (fs / "appliance.service/cpu.max").write_text("max 100000\n")
    assert threads.inference_threads(0) == 8
    assert threads.inference_threads(3) == 3  # an explicit number is taken as it is


def _real_cpu_hierarchy() -> tuple[str, Path] | None:
    """A writable cpu controller on this machine: ("v2", folder) or ("v1", folder), or None."""
    if os.geteuid() != 0:
        return None
    for line in Path("/proc/self/mountinfo").read_text().splitlines():
        left, _, right = line.partition(" - ")
        fields, tail = left.split(), right.split()
        writable = "rw" in fields[5].split(",")
        if len(tail) >= 3 and tail[0] == "cgroup" and "cpu" in tail[2].split(",") and writable:
            return "v1", Path(fields[4])
        if tail and tail[0] == "cgroup2" and writable:
            control = Path(fields[4]) / "cgroup.subtree_control"
            if control.exists() and "cpu" in control.read_text().split():
                return "v2", Path(fields[4])
    return None


@pytest.mark.skipif(_real_cpu_hierarchy() is None, reason="needs root and a writable cgroup cpu controller")
def test_a_real_cgroup_quota(tmp_path):
    """A child process in a fresh cgroup with a quota of one CPU sees 1 thread for ``threads = 0``."""
    kind, root = _real_cpu_hierarchy()
    group = root / f"appliance-test-{uuid.uuid4().hex[:8]}"
    group.mkdir()
    try:
        if kind == "v1":
            (group / "cpu.cfs_period_us").write_text("100000")
            (group / "cpu.cfs_quota_us").write_text("100000")
        else:
            (group / "cpu.max").write_text("100000 100000")
        code = "from appliance.threads import inference_threads as t; print(t(0))"
        move = f'echo $$ > "{group}/cgroup.procs" && exec "$0" -c "$1"'
        r = subprocess.run(["sh", "-c", move, sys.executable, code], capture_output=True, text=True,
                           timeout=120)
        assert r.returncode == 0, r.stderr
        assert r.stdout.strip() == "1"
    finally:
        group.rmdir()
