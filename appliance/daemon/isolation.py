"""The poison-pill guard's child process: a *suspect* input extracted alone, away from the daemon.

An input is a suspect when its attempt record says it was in flight when the daemon died (an outside
kill, a power cut, an OOM kill, a watchdog restart — or the input crashed the process; from inside,
these cannot be told apart). The daemon never extracts a suspect itself again: it hands its bytes to
a child process that loads the same pipeline (same settings, same loader), parses and extracts that
one input, answers with the result, and exits. Only the death of *that* child counts against the
input (``AttemptRecord.crashes``); killing the daemon from outside never does.

Protocol (one request, a few answers): the parent writes one JSON request to the child's stdin
(settings, input name, bytes in base64, parse limits, log format) and closes it; the child writes
JSON lines to its stdout: ``{"event": "loaded"}``, then one of ``result`` (the input's id and its
result document), ``input_error`` (reason code, message, stage), ``error`` (exception class only).
The child's stderr is the daemon's (the journal); it logs as the daemon does, never content.

The child is the daemon's own command line (``worker_command``: the same interpreter, script and
options, so a wrapper that swaps the pipeline loader is honoured) with ``isolated-worker``. It ignores
SIGTERM/SIGINT/SIGHUP (the parent decides: a warm stop waits for it, a cold stop kills it), dies with the
parent (``PR_SET_PDEATHSIG``, and a thread watching ``getppid()`` where that is unavailable), and
gets no ``NOTIFY_SOCKET``: only the main process talks to systemd (``NotifyAccess=main``). Under the
unit's ``KillMode=mixed`` a stop's final SIGKILL reaches it too.

Cost: a child loads its own models (start-up seconds; the memory of one more pipeline, which is why
the daemon releases its own first, see ``models.PipelineSlot``). It runs only for suspects: at most
one per death of the daemon.
"""

from __future__ import annotations

import base64
import json
import logging
import os
import selectors
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any, BinaryIO, Protocol

from ..errors import InputError
from ..inputs import REGISTRY, ParseLimits
from ..logfmt import event
from ..result import Result
from ..settings import PipelineSettings
from .models import PipelineLike, PipelineLoader

log = logging.getLogger("appliance.daemon")

WORKER_COMMAND = "isolated-worker"  # the hidden CLI command the child runs
_DROP_ENV = ("NOTIFY_SOCKET", "WATCHDOG_USEC", "WATCHDOG_PID", "LISTEN_FDS", "LISTEN_PID", "LISTEN_FDNAMES")


class ChildCrashed(Exception):
    """The child died (a signal, a non-zero exit, or killed after ``timeout``) while extracting the
    input: held against the input. ``how``: ``SIGSEGV``, ``exit 1``, ``timeout``."""

    def __init__(self, how: str) -> None:
        super().__init__(how)
        self.how = how


class IsolationUnavailable(Exception):
    """The child could not be started or could not load the pipeline: not the input's fault."""


class IsolatedError(Exception):
    """The pipeline raised in the child; the message is the exception's class name only."""


@dataclass(frozen=True)
class Extracted:
    """A child's answer: the input's document id and its result."""

    doc_id: str
    result: Result


class ParseStageError(InputError):
    """An ``InputError`` raised by the child's parser (not by its pipeline)."""


class Isolator(Protocol):
    """Runs one suspect input: its bytes and inbox ``name`` → ``Extracted``.

    Raises ``ParseStageError``/``InputError`` (the input is unusable), ``IsolatedError``,
    ``ChildCrashed``, ``IsolationUnavailable``. ``separate_process``: True if a crash cannot take the
    daemon down (then the daemon releases its own models while it runs).
    """

    separate_process: bool

    def run(self, raw: bytes, name: str, keepalive: Callable[[], None]) -> Extracted:
        """Parse and extract one input; ``keepalive`` is called at least every second while waiting."""
        ...


def worker_command() -> list[str]:
    """This process's own command line (interpreter, its options, the script or ``-m``/``-c``
    argument) followed by ``isolated-worker``."""
    args = len(sys.argv) - 1
    orig = list(getattr(sys, "orig_argv", []))
    prefix = orig[: len(orig) - args] if args else orig
    if len(prefix) < 2 or len(orig) < len(sys.argv):  # (embedded or unusual start: the plain CLI)
        prefix = [sys.executable, "-c", "from appliance.cli import main; main()"]
    return [*prefix, WORKER_COMMAND]


def child_load_timeout(max_file_seconds: float, load_seconds: float) -> float:
    """Seconds a child may take to load the pipeline: at least ``max_file_seconds`` (which bounds the
    extraction, not the load), and three times what the daemon's own load took at start plus a minute
    (the same work, often with a warmer file cache; the margin is this project's choice), so that a
    model slower to load than one input may take is not killed at every try."""
    return max(max_file_seconds, 3 * load_seconds + 60.0)


class SubprocessIsolator:
    """Each ``run`` starts ``command`` (default ``worker_command()``), waits up to ``load_timeout``
    seconds for it to load the pipeline and up to ``timeout`` seconds for the answer."""

    separate_process = True

    def __init__(
        self,
        settings: PipelineSettings,
        limits: ParseLimits,
        *,
        timeout: float,
        load_timeout: float,
        log_format: str = "json",
        log_level: str = "info",
        command: Sequence[str] | None = None,
    ) -> None:
        self.settings = settings
        self.limits = limits
        self.timeout = timeout
        self.load_timeout = load_timeout
        self.log = (log_format, log_level)
        self.command = list(command or worker_command())
        self.last_pid: int | None = None

    def _request(self, raw: bytes, name: str) -> bytes:
        return json.dumps(
            {
                "settings": self.settings.model_dump(mode="json"),
                "name": os.fsencode(name).hex(),
                "raw": base64.b64encode(raw).decode(),
                "limits": [self.limits.max_json_depth, self.limits.max_metadata_bytes],
                "log": list(self.log),
                "parent": os.getpid(),
            }
        ).encode()

    def run(self, raw: bytes, name: str, keepalive: Callable[[], None]) -> Extracted:
        """See ``Isolator.run``."""
        env = {k: v for k, v in os.environ.items() if k not in _DROP_ENV}
        try:
            proc = subprocess.Popen(
                self.command, stdin=subprocess.PIPE, stdout=subprocess.PIPE, env=env, close_fds=True
            )
        except OSError as e:
            raise IsolationUnavailable(f"cannot start the worker: {e.__class__.__name__}") from None
        self.last_pid = proc.pid
        event(log, logging.INFO, "worker_started", pid=proc.pid)
        assert proc.stdin is not None and proc.stdout is not None
        feeder = threading.Thread(target=_feed, args=(proc.stdin, self._request(raw, name)), daemon=True)
        feeder.start()
        try:
            return self._answer(proc, keepalive)
        finally:
            if proc.poll() is None:
                proc.kill()
            proc.wait()
            proc.stdout.close()

    def _answer(self, proc: subprocess.Popen[bytes], keepalive: Callable[[], None]) -> Extracted:
        assert proc.stdout is not None
        fd = proc.stdout.fileno()
        sel = selectors.DefaultSelector()
        sel.register(fd, selectors.EVENT_READ)
        buf, loaded = b"", False
        deadline = time.monotonic() + self.load_timeout
        while True:
            keepalive()
            # Past the deadline, what the child has already written is still read first: a daemon held
            # up itself (SIGSTOP, a frozen VM) must not kill a child that answered in time.
            late = time.monotonic() > deadline
            if not sel.select(timeout=0 if late else 0.5):
                if not late:
                    continue
                proc.kill()
                if loaded:
                    raise ChildCrashed("timeout")
                raise IsolationUnavailable(f"the worker did not load within {self.load_timeout:.0f} s")
            chunk = os.read(fd, 1 << 16)
            if not chunk:  # end of output: the child is gone without an answer
                code = proc.wait()
                how = f"{signal.Signals(-code).name}" if code < 0 else f"exit {code}"
                if loaded:
                    raise ChildCrashed(how)
                raise IsolationUnavailable(f"the worker ended before loading the pipeline ({how})")
            buf += chunk
            while b"\n" in buf:
                line, buf = buf.split(b"\n", 1)
                msg = json.loads(line)
                kind = msg.get("event")
                if kind == "loaded":
                    loaded, deadline = True, time.monotonic() + self.timeout
                elif kind == "load_error":
                    raise IsolationUnavailable(f"the worker could not load the pipeline: {msg['error']}")
                else:
                    return _decode_answer(msg)


def _decode_answer(msg: dict[str, Any]) -> Extracted:
    kind = msg.get("event")
    if kind == "result":
        return Extracted(msg["id"], Result.model_validate(msg["result"]))
    if kind == "input_error":
        cls = ParseStageError if msg.get("stage") == "parse" else InputError
        raise cls(msg["reason"], msg["message"])
    raise IsolatedError(str(msg.get("error", "Exception")))


def _feed(pipe: BinaryIO, data: bytes) -> None:
    try:
        pipe.write(data)
        pipe.close()
    except (BrokenPipeError, OSError):  # the child is gone: its exit tells why
        pass


class InlineIsolator:
    """Runs a "suspect" in this process with the daemon's own pipeline: no protection at all. For a
    ``Daemon`` built with an explicit in-process loader (tests, embedding), where no child process could
    load the same pipeline."""

    separate_process = False

    def __init__(self, pipeline: Callable[[], PipelineLike], limits: ParseLimits) -> None:
        self.pipeline = pipeline
        self.limits = limits

    def run(self, raw: bytes, name: str, keepalive: Callable[[], None]) -> Extracted:
        """See ``Isolator.run``."""
        try:
            doc = REGISTRY.parse(raw, name, self.limits)
        except InputError as e:
            raise ParseStageError(e.reason, str(e)) from None
        return Extracted(doc.id, self.pipeline().process(doc))


# ------------------------------------------------------------------------------------------ the child


def worker_main(loader: PipelineLoader, stdin: BinaryIO, stdout: BinaryIO) -> int:
    """The child's side (``appliance isolated-worker``): read the request, load the pipeline with
    ``loader``, parse and extract, answer. Returns the exit status (0 after any answer)."""
    from ..logfmt import setup_logging

    req = json.loads(stdin.read())
    _die_with_parent(int(req["parent"]))
    for sig in (signal.SIGTERM, signal.SIGINT, signal.SIGHUP):
        signal.signal(sig, signal.SIG_IGN)
    setup_logging(*req["log"])

    def answer(**msg: Any) -> None:
        stdout.write(json.dumps(msg).encode() + b"\n")
        stdout.flush()

    try:
        pipeline = loader(PipelineSettings.model_validate(req["settings"]))
    except Exception as e:
        answer(event="load_error", error=e.__class__.__name__)
        return 3
    answer(event="loaded")
    name = os.fsdecode(bytes.fromhex(req["name"]))
    stage = "parse"
    try:
        doc = REGISTRY.parse(base64.b64decode(req["raw"]), name, ParseLimits(*req["limits"]))
        stage = "pipeline"
        result = pipeline.process(doc)
    except InputError as e:
        answer(event="input_error", reason=e.reason, message=str(e), stage=stage)
    except Exception as e:  # the class only: a message may quote the document
        answer(event="error", error=e.__class__.__name__)
    else:
        answer(event="result", id=doc.id, result=result.model_dump(mode="json"))
    return 0


def _die_with_parent(parent: int) -> None:
    """Ask the kernel for SIGKILL when the parent dies (Linux ``prctl(PR_SET_PDEATHSIG)``); where that
    fails, a thread watches ``getppid()``. Exits at once if the parent is already gone."""
    try:
        import ctypes

        libc = ctypes.CDLL(None, use_errno=True)
        ok = libc.prctl(1, signal.SIGKILL, 0, 0, 0) == 0  # PR_SET_PDEATHSIG = 1
    except Exception:  # (no libc, a seccomp filter, ctypes refused under MemoryDenyWriteExecute)
        ok = False
    if os.getppid() != parent:
        os._exit(4)
    if not ok:

        def watch() -> None:
            while os.getppid() == parent:
                time.sleep(1.0)
            os._exit(4)

        threading.Thread(target=watch, name="parent-watch", daemon=True).start()
