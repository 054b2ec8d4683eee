"""Serving the review pages with waitress on 127.0.0.1 only, on a port the system picks, behind a
one-time token (see ``appliance.review.web``)."""

from __future__ import annotations

import secrets
import signal
import threading
from dataclasses import dataclass
from typing import Any

from .station import ReviewStation
from .web import create_app

HOST = "127.0.0.1"


@dataclass
class ReviewServer:
    """A bound, not yet running server: ``url`` (with the one-time token: give it to the reviewer's
    browser only), ``port``, and the waitress server. ``run()`` serves until ``close()`` (from another
    thread) or Ctrl-C."""

    url: str
    port: int
    server: Any

    def run(self) -> None:
        """Serve requests until closed, or, in the main thread, until SIGINT (Ctrl-C) or SIGTERM: both
        stop it the same way whatever the process inherited (started with SIGINT ignored, as a background
        job or from a parent that ignores it, Ctrl-C would otherwise do nothing)."""
        previous = _stop_on_signals()
        try:
            self.server.run()
        except OSError:  # the listening socket was closed by close() from another thread
            pass
        finally:
            for sig, handler in previous.items():
                signal.signal(sig, handler)

    def close(self) -> None:
        """Stop accepting requests and stop the worker threads."""
        self.server.close()
        self.server.task_dispatcher.shutdown(timeout=5)


def _stop_on_signals() -> dict[int, object]:
    """In the main thread: SIGINT and SIGTERM raise KeyboardInterrupt (waitress's loop stops on it).
    Returns the previous handlers to restore; elsewhere nothing (signals reach only the main thread)."""
    if threading.current_thread() is not threading.main_thread():
        return {}

    def stop(signum: int, frame: object) -> None:
        raise KeyboardInterrupt

    return {sig: signal.signal(sig, stop) for sig in (signal.SIGINT, signal.SIGTERM)}


def make_server(station: ReviewStation, *, port: int = 0, threads: int = 4) -> ReviewServer:
    """Bind the review app of ``station`` to 127.0.0.1 (``port`` 0: a free port the system picks).

    The address is fixed: the pages show decrypted transcripts and must not be reachable from another
    machine. Raises OSError when the port cannot be bound.
    """
    from waitress import create_server

    token = secrets.token_urlsafe(32)
    app = create_app(station, token)
    server = create_server(app, host=HOST, port=port, threads=threads, ident="", expose_tracebacks=False,
                           clear_untrusted_proxy_headers=True)
    bound = int(server.effective_port)
    app.config["ALLOWED_HOSTS"] = {f"{HOST}:{bound}", f"localhost:{bound}"}
    return ReviewServer(url=f"http://{HOST}:{bound}/login?token={token}", port=bound, server=server)
