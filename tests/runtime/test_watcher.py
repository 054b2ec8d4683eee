"""When is a dropped file complete: the stability tracker (fake clock) and real inotify events."""

from __future__ import annotations

import os
import queue
import time
from pathlib import Path

import pytest

from appliance.watcher import CHANGED, CLOSED, CREATED, GONE, MOVED_IN, InboxWatcher, StabilityTracker


class Clock:
    def __init__(self) -> None:
        self.t = 1000.0

    def __call__(self) -> float:
        return self.t


def test_settles_after_unchanged_period(tmp_path):
    clock = Clock()
    tr = StabilityTracker(5, clock=clock)
    f = tmp_path / "a.txt"
    f.write_text("ab")
    tr.observe(f)
    assert tr.poll() == []
    clock.t += 4.9
    assert tr.poll() == []
    clock.t += 0.2
    assert tr.poll() == [f]
    assert f not in tr and tr.poll() == []


def test_growth_resets_timer(tmp_path):
    clock = Clock()
    tr = StabilityTracker(5, clock=clock)
    f = tmp_path / "a.txt"
    f.write_text("a")
    tr.observe(f)
    for i in range(5):
        clock.t += 4
        with open(f, "a") as fh:
            fh.write("more")
        assert tr.poll() == [], i
    clock.t += 5
    assert tr.poll() == [f]


def test_mtime_change_same_size_resets(tmp_path):
    clock = Clock()
    tr = StabilityTracker(5, clock=clock)
    f = tmp_path / "a.txt"
    f.write_text("aa")
    os.utime(f, ns=(1, 1))
    tr.observe(f)
    clock.t += 4
    f.write_text("bb")
    os.utime(f, ns=(2, 2))
    assert tr.poll() == []
    clock.t += 4
    assert tr.poll() == []
    clock.t += 1.1
    assert tr.poll() == [f]


def test_complete_is_immediate_and_vanished_is_dropped(tmp_path):
    tr = StabilityTracker(100, clock=Clock())
    a, b = tmp_path / "a.txt", tmp_path / "b.txt"
    a.write_text("x")
    b.write_text("x")
    tr.observe(b)
    tr.complete(a)
    b.unlink()
    assert tr.poll() == [a]
    assert len(tr) == 0


def test_written_files_wait_for_close(tmp_path):
    clock = Clock()
    tr = StabilityTracker(2, clock=clock, write_settle_seconds=60)
    f = tmp_path / "a.txt"
    f.write_text("partial")
    tr.touch(f, written=True)  # inotify saw it being written: a pause is not completion
    clock.t += 10
    assert tr.poll() == []
    tr.complete(f)  # the writer closed it
    assert tr.poll() == [f]
    g = tmp_path / "g.txt"
    g.write_text("x")
    tr.touch(g, written=True)
    clock.t += 30
    assert tr.poll() == []
    clock.t += 31  # the close never came: fall back after write_settle_seconds
    assert tr.poll() == [g]


def test_empty_file_waits_longer(tmp_path):
    clock = Clock()
    tr = StabilityTracker(2, clock=clock, write_settle_seconds=60)
    f = tmp_path / "e.txt"
    f.touch()
    tr.observe(f)
    clock.t += 10
    assert tr.poll() == []
    clock.t += 51
    assert tr.poll() == [f]


def test_an_empty_file_closed_is_not_complete(tmp_path):
    """Writers that create the file first and write it later (`touch` or `open(...).close()`, then the
    content) close it empty once: taken as complete, it was set aside as `empty` before its content came."""
    clock = Clock()
    tr = StabilityTracker(2, clock=clock, write_settle_seconds=60)
    f = tmp_path / "late.txt"
    f.touch()
    tr.complete(f)  # closed, empty
    clock.t += 10
    assert tr.poll() == []
    f.write_text("the content")
    tr.complete(f)  # closed again, written
    assert tr.poll() == [f]
    g = tmp_path / "empty.txt"
    g.touch()
    tr.complete(g)
    clock.t += 61  # still empty after write_settle_seconds: taken (and set aside as `empty`)
    assert tr.poll() == [g]


def test_observe_keeps_timer_and_touch_after_complete(tmp_path):
    clock = Clock()
    tr = StabilityTracker(5, clock=clock)
    f = tmp_path / "a.txt"
    f.write_text("x")
    tr.observe(f)
    clock.t += 3
    tr.observe(f)  # a rescan does not restart the timer
    clock.t += 2.5
    assert tr.poll() == [f]
    tr.complete(f)
    tr.touch(f)  # a late modify event does not demote a closed file
    assert tr.poll() == [f]


# ------------------------------------------------------------------------------------------ inotify


def collect(q: queue.Queue, want: set[str], timeout: float = 5.0) -> list[tuple[str, str]]:
    seen: list[tuple[str, str]] = []
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            kind, path = q.get(timeout=0.05)
        except queue.Empty:
            continue
        seen.append((kind, Path(path).name))
        if want <= {f"{k}:{n}" for k, n in seen}:
            break
    return seen


@pytest.fixture
def watched(tmp_path):
    inbox = tmp_path / "inbox"
    inbox.mkdir()
    q: queue.Queue = queue.Queue()
    w = InboxWatcher(inbox, q)
    if not w.start():
        pytest.skip("inotify unavailable")
    yield inbox, q, tmp_path
    w.stop()


def test_inotify_close_after_write(watched):
    inbox, q, _ = watched
    with open(inbox / "a.txt", "w") as f:
        f.write("x")
        f.flush()
        time.sleep(0.1)
        f.write("y")
    seen = collect(q, {f"{CLOSED}:a.txt"})
    assert (CLOSED, "a.txt") in seen
    assert (CREATED, "a.txt") in seen and (CHANGED, "a.txt") in seen
    assert seen.index((CREATED, "a.txt")) < seen.index((CHANGED, "a.txt")) < seen.index((CLOSED, "a.txt"))


def test_inotify_rename_in_and_out(watched):
    inbox, q, tmp = watched
    (tmp / "outside.txt").write_text("x")
    os.rename(tmp / "outside.txt", inbox / "in.txt")
    (inbox / ".partial").write_text("x")
    os.rename(inbox / ".partial", inbox / "renamed.txt")
    os.rename(inbox / "renamed.txt", tmp / "gone.txt")
    seen = collect(q, {f"{MOVED_IN}:in.txt", f"{MOVED_IN}:renamed.txt", f"{GONE}:renamed.txt"})
    assert (MOVED_IN, "in.txt") in seen
    assert (MOVED_IN, "renamed.txt") in seen
    assert (GONE, "renamed.txt") in seen
    assert not any(n == ".partial" for _, n in seen)  # hidden names are never reported


def test_inotify_ignores_read_only_opens_and_folders(watched):
    inbox, q, _ = watched
    (inbox / "sub").mkdir()
    p = inbox / "b.txt"
    p.write_text("x")
    collect(q, {f"{CLOSED}:b.txt"})
    p.read_text()  # a reader's close is not a writer's close
    seen = collect(q, {"never"}, timeout=0.5)
    assert (CLOSED, "b.txt") not in seen
    assert not any(n == "sub" for _, n in seen)
