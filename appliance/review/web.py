"""The review pages (Flask, Jinja2 templates, assets served from this package; no CDN, no inline script).

Access: the one-time token in the URL the command prints is exchanged once, at ``/login``, for a random
session cookie (HttpOnly, SameSite=Strict); every other request without that cookie is refused (403),
and so is any request whose Host is not this server's own loopback address (DNS rebinding). Writes are
JSON POSTs that must carry ``X-Review: 1`` (a header no other site can make a browser send here) and,
when the browser names one, this server's own Origin.

Every response carries ``Cache-Control: no-store`` (transcripts never enter the browser's disk cache),
a strict Content-Security-Policy (only this server's scripts, styles and images), ``Referrer-Policy:
no-referrer`` and framing denied. Nothing is logged by these handlers.
"""

from __future__ import annotations

import hmac
import secrets
import threading
from typing import Any

from flask import Flask, Response, abort, jsonify, redirect, render_template, request, url_for

from .labels import CHOICES, LabelError
from .render import METRIC_TITLES, POPULATION_TITLES, STATUS_TEXT
from .station import ReviewStation

COOKIE = "appliance_review"
CSP = ("default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self'; connect-src 'self'; "
       "form-action 'none'; frame-ancestors 'none'; base-uri 'none'")
REPORT_REPLICATES = 1000


class _Access:
    """The one-time token and the sessions it was exchanged for (thread-safe)."""

    def __init__(self, token: str) -> None:
        self.token = token
        self.used = False
        self.sessions: set[str] = set()
        self.lock = threading.Lock()

    def exchange(self, offered: str) -> str | None:
        with self.lock:
            if self.used or not hmac.compare_digest(offered.encode(), self.token.encode()):
                return None
            self.used = True
            sid = secrets.token_urlsafe(32)
            self.sessions.add(sid)
            return sid

    def valid(self, sid: str | None) -> bool:
        with self.lock:
            return bool(sid) and any(hmac.compare_digest(sid.encode(), s.encode()) for s in self.sessions)


def create_app(station: ReviewStation, token: str, allowed_hosts: set[str] | None = None) -> Flask:
    """The Flask app of ``station``. ``token`` is the one-time login token; ``allowed_hosts`` the Host
    values accepted (``127.0.0.1:PORT`` and ``localhost:PORT``; set ``app.config['ALLOWED_HOSTS']`` once
    the port is known). The app holds no other state."""
    app = Flask(__name__, template_folder="templates", static_folder="static", static_url_path="/static")
    app.config.update(ALLOWED_HOSTS=set(allowed_hosts or ()), MAX_CONTENT_LENGTH=256 * 1024,
                      SEND_FILE_MAX_AGE_DEFAULT=0)
    access = _Access(token)
    cache: dict[str, Any] = {}

    @app.context_processor
    def _context() -> dict[str, Any]:
        return {"station": station}

    @app.before_request
    def _guard() -> Response | None:
        if request.host not in app.config["ALLOWED_HOSTS"]:
            abort(400)
        if request.endpoint == "login":
            return None
        if not access.valid(request.cookies.get(COOKIE)):
            return Response(render_template("refused.html"), status=403)
        if request.method not in ("GET", "HEAD"):
            origin = request.headers.get("Origin")
            if request.headers.get("X-Review") != "1" or (origin and origin != f"http://{request.host}"):
                abort(403)
        return None

    @app.after_request
    def _headers(resp: Response) -> Response:
        resp.headers["Cache-Control"] = "no-store, max-age=0"
        resp.headers["Pragma"] = "no-cache"
        resp.headers["Content-Security-Policy"] = CSP
        resp.headers["Referrer-Policy"] = "no-referrer"
        resp.headers["X-Content-Type-Options"] = "nosniff"
        resp.headers["X-Frame-Options"] = "DENY"
        resp.headers["Cross-Origin-Opener-Policy"] = "same-origin"
        resp.headers["Cross-Origin-Resource-Policy"] = "same-origin"
        return resp

    @app.get("/login")
    def login() -> Response:
        sid = access.exchange(request.args.get("token", ""))
        if sid is None:
            return Response(render_template("refused.html", used=access.used), status=403)
        resp = redirect(url_for("queue_page"))
        resp.set_cookie(COOKIE, sid, httponly=True, samesite="Strict", path="/")
        return resp

    @app.get("/")
    def queue_page() -> str:
        station.refresh()
        rows = station.queue()
        todo = sum(not r.done for r in rows)
        return render_template("queue.html", rows=rows, todo=todo, station=station,
                               problems=station.source.problems, unknown_tasks=station.unknown_tasks())

    @app.get("/next")
    def next_item() -> Response:
        key = station.next_key(request.args.get("after"))
        return redirect(url_for("item_page", key=key) if key else url_for("queue_page"))

    @app.get("/item/<key>")
    def item_page(key: str) -> str:
        if key not in station.source.results:
            abort(404)
        page = station.item(key)
        return render_template("item.html", page=page, choices=CHOICES, next_key=station.next_key(key))

    def _json() -> dict[str, Any]:
        data = request.get_json(silent=True)
        if not isinstance(data, dict) or not isinstance(data.get("key"), str):
            abort(400)
        return data

    @app.post("/api/label")
    def api_label() -> Response:
        data = _json()
        feature, choice = data.get("feature"), data.get("choice")
        if not isinstance(feature, str) or not (choice is None or isinstance(choice, str)):
            abort(400)
        st = station.set_label(data["key"], feature, choice)
        return jsonify(ok=True, labels=st.labels, done=st.done)

    @app.post("/api/done")
    def api_done() -> Response:
        data = _json()
        labels, seconds = data.get("labels"), data.get("seconds")
        if not isinstance(labels, dict) or not all(isinstance(v, str) for v in labels.values()):
            abort(400)
        station.complete(data["key"], labels, seconds if isinstance(seconds, (int, float)) else None)
        nxt = station.next_key(data["key"])
        return jsonify(ok=True, next=url_for("item_page", key=nxt) if nxt else url_for("queue_page"))

    @app.errorhandler(LabelError)
    def _label_error(e: LabelError) -> tuple[Response, int]:
        return jsonify(ok=False, error=str(e)), 400

    def _report() -> dict[str, Any]:
        version = (len(station.store.items), sum(len(s.labels) for s in station.store.items.values()),
                   sum(s.done for s in station.store.items.values()), station.workspace.settings.warn)
        if cache.get("version") != version:
            cache.update(version=version, report=station.report(replicates=REPORT_REPLICATES), png=None)
        return cache["report"]

    @app.get("/report")
    def report_page() -> str:
        return render_template("report.html", report=_report(), metric_titles=METRIC_TITLES,
                               population_titles=POPULATION_TITLES, status_text=STATUS_TEXT)

    @app.get("/report.png")
    def report_png() -> Response:
        from .plot import plot_png

        report = _report()
        if cache.get("png") is None:
            cache["png"] = plot_png(report)
        return Response(cache["png"], mimetype="image/png")

    return app
