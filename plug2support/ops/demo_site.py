"""The demo customer website: a page on another origin that embeds the widget snippet."""

from __future__ import annotations

import threading
from functools import partial
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

from django.template.loader import render_to_string


class DemoSiteHandler(BaseHTTPRequestHandler):
    def __init__(self, page: bytes, *args: Any, **kwargs: Any) -> None:
        self.page = page
        super().__init__(*args, **kwargs)

    def do_GET(self) -> None:  # noqa: N802 (the standard library's name)
        # A link with a query (?from=ad, a campaign's tags) is the same page.
        if self.path.split("?", 1)[0] not in ("/", "/index.html", "/pricing"):
            self.send_error(404)
            return
        self.send_response(200)
        self.send_header("Content-Type", "text/html; charset=utf-8")
        self.send_header("Content-Length", str(len(self.page)))
        self.end_headers()
        self.wfile.write(self.page)

    def log_message(self, format: str, *args: Any) -> None:
        return None


def demo_site_page(snippet: str) -> bytes:
    return render_to_string("ops/demo_site.html", {"snippet": snippet}).encode()


def start_demo_site(host: str, port: int, snippet: str,
                    page: bytes | None = None) -> ThreadingHTTPServer:
    """Serve the demo page (or `page`, for tests of other host pages) on its own origin."""
    body = page if page is not None else demo_site_page(snippet)
    server = ThreadingHTTPServer((host, port), partial(DemoSiteHandler, body))
    threading.Thread(target=server.serve_forever, name="demo-site", daemon=True).start()
    return server
