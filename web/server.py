"""``mechanic serve``: the viewer as a local web server.

The standard library's ``http.server.ThreadingHTTPServer``: the pages are server-side
HTML over a handful of GET routes, so a framework would add dependencies and nothing
the pages use. Each request opens its own read-only SQLite connection (``mode=ro``),
so the viewer is safe beside a ``label`` run writing the same file (WAL: readers never
block the writer) and can never change the store.
"""

from __future__ import annotations

import sys
import threading
import time
from http import HTTPStatus
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from urllib.parse import parse_qsl, urlsplit

from mechanic import store

from .agent_page import render_agent, render_agents
from .bench_page import render_bench, render_bench_list, render_compare
from .feature_page import render_feature
from .html import CSP, Site, esc, page
from .index_page import BadQuery, IndexQuery, render_index
from .rows_page import render_explanation, render_run
from .services import SemanticIndex, Services

__all__ = ["Viewer", "make_server", "serve"]


class NotFound(Exception):
    pass


def _int(text: str, name: str) -> int:
    try:
        return int(text)
    except ValueError:
        raise BadQuery(f"{name} must be a whole number, got {text!r}") from None


class Viewer:
    """Renders the viewer's pages from the store at ``db_path`` (read-only)."""

    def __init__(self, db_path: str | Path, services: Services | None = None, site: Site | None = None):
        self.db_path = Path(db_path)
        self.services = services or Services()
        self.site = site or Site()
        self.semantic = SemanticIndex(self.services.embed) if self.services.embed else None
        self._choices: tuple[tuple, dict] | None = None
        self._lock = threading.Lock()

    def connect(self):
        return store.open_readonly(self.db_path)

    def choices(self, db) -> dict:
        version = store.store_version(db)
        with self._lock:
            if self._choices is None or self._choices[0] != version:
                self._choices = (version, store.summary_choices(db))
            return self._choices[1]

    def render(self, path: str, params: dict[str, str], db=None) -> str:
        """The page at ``path`` (e.g. ``/feature/3``); NotFound or BadQuery otherwise."""
        own = db is None
        db = db or self.connect()
        try:
            return self._render(db, path, params)
        finally:
            if own:
                db.conn.close()

    def _render(self, db, path: str, params: dict[str, str]) -> str:
        parts = [p for p in path.split("/") if p]
        site, services = self.site, self.services
        html = None
        if not parts:
            html = render_index(db, site, IndexQuery.parse(params), self.semantic, self.choices(db))
        elif parts[0] == "feature" and len(parts) == 2:
            sim = _int(params["sim"], "sim") if params.get("sim") else None
            html = render_feature(db, site, services, _int(parts[1], "feature"), sim=sim)
        elif parts[0] == "explanation" and len(parts) == 2:
            html = render_explanation(db, site, _int(parts[1], "explanation"))
        elif parts[0] == "run" and len(parts) == 2:
            html = render_run(db, site, _int(parts[1], "run"))
        elif parts[0] == "agent" and len(parts) == 2:
            html = render_agent(db, site, _int(parts[1], "agent run"))
        elif parts == ["agents"]:
            html = render_agents(db, site, max(1, _int(params.get("page", "1") or "1", "page")))
        elif parts == ["bench"]:
            html = render_bench_list(db, site)
        elif parts[0] == "bench" and len(parts) == 2:
            html = render_bench(db, site, services, _int(parts[1], "bench run"), params)
        elif parts == ["compare"]:
            html = render_compare(db, site, services, _int(params.get("a", ""), "a"), _int(params.get("b", ""), "b"))
        if html is None:
            raise NotFound(path)
        return html


class _Handler(BaseHTTPRequestHandler):
    viewer: Viewer
    quiet: bool = False
    server_version = "mechanic-viewer"

    def do_GET(self):  # noqa: N802 - the http.server API
        url = urlsplit(self.path)
        params = dict(parse_qsl(url.query, keep_blank_values=True))
        try:
            body, status = self.viewer.render(url.path, params), HTTPStatus.OK
        except NotFound:
            body = page(self.viewer.site, "Not found", f"<p>nothing at {esc(url.path)}</p>")
            status = HTTPStatus.NOT_FOUND
        except BadQuery as exc:
            body, status = page(self.viewer.site, "Bad request", f"<p>{esc(exc)}</p>"), HTTPStatus.BAD_REQUEST
        except Exception as exc:  # noqa: BLE001 - one failed page must not stop the server
            body = page(self.viewer.site, "Error", f"<p class='failed'>{esc(type(exc).__name__)}: {esc(exc)}</p>")
            status = HTTPStatus.INTERNAL_SERVER_ERROR
            print(f"error on {self.path}: {type(exc).__name__}: {exc}", file=sys.stderr)
        data = body.encode("utf-8")
        self.send_response(status)
        self.send_header("Content-Type", "text/html; charset=utf-8")
        self.send_header("Content-Length", str(len(data)))
        # No script, style or image from anywhere but this page itself.
        self.send_header("Content-Security-Policy", CSP)
        self.end_headers()
        self.wfile.write(data)

    def log_message(self, format, *args):  # noqa: A002 - the http.server API
        if not self.quiet:
            sys.stderr.write(f"{time.strftime('%H:%M:%S')} {format % args}\n")


def make_server(viewer: Viewer, host: str = "127.0.0.1", port: int = 8000, quiet: bool = False) -> ThreadingHTTPServer:
    """A server for ``viewer`` bound to ``host:port`` (port 0: a free one); call ``serve_forever``."""
    handler = type("Handler", (_Handler,), {"viewer": viewer, "quiet": quiet})
    server = ThreadingHTTPServer((host, port), handler)
    server.daemon_threads = True
    return server


def serve(viewer: Viewer, host: str = "127.0.0.1", port: int = 8000, quiet: bool = False) -> None:
    server = make_server(viewer, host, port, quiet)
    try:
        server.serve_forever()
    finally:
        server.server_close()
