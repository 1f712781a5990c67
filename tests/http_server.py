"""A real HTTP server on 127.0.0.1 for download tests, serving bytes from a dict.

Each route maps a path to (body, declared Content-Length): declaring more than the body
holds makes a truncated transfer (the connection closes early); unknown paths are 404s.
"""

from __future__ import annotations

import threading
from collections.abc import Iterator
from contextlib import contextmanager
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

Routes = dict[str, tuple[bytes, int]]


def _handler(routes: Routes) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            if self.path not in routes:
                self.send_error(404)
                return
            body, declared = routes[self.path]
            self.send_response(200)
            self.send_header("Content-Type", "application/octet-stream")
            self.send_header("Content-Length", str(declared))
            self.end_headers()
            self.wfile.write(body)
            self.close_connection = True

        def log_message(self, format: str, *args: object) -> None:
            """Keep the test output quiet."""

    return Handler


@contextmanager
def serve(routes: Routes) -> Iterator[str]:
    """Serve ``routes`` (which may be changed while serving); yield the base URL."""
    with serve_with(_handler(routes)) as base:
        yield base


@contextmanager
def serve_with(handler: type[BaseHTTPRequestHandler]) -> Iterator[str]:
    """Run a threaded server of ``handler`` on 127.0.0.1 (a free port) in the background;
    yield its base URL; shut it down afterwards."""
    httpd = ThreadingHTTPServer(("127.0.0.1", 0), handler)
    httpd.daemon_threads = True
    thread = threading.Thread(target=httpd.serve_forever, kwargs={"poll_interval": 0.05})
    thread.start()
    try:
        yield f"http://127.0.0.1:{httpd.server_address[1]}"
    finally:
        httpd.shutdown()
        httpd.server_close()
        thread.join(timeout=5)
