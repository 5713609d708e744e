"""Serve a `FakeConnectWise` over real HTTP on 127.0.0.1, and nowhere else."""

from __future__ import annotations

import contextlib
import threading
import time
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import TYPE_CHECKING

import httpx

if TYPE_CHECKING:
    from connectwise_billing.testing._fake import FakeConnectWise

LOOPBACK = "127.0.0.1"


def _handler_for(fake: FakeConnectWise, site_url: str) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"
        server_version = "FakeConnectWise"
        # One buffered write per answer and no Nagle delay: otherwise headers and body go out
        # as two small segments and every request waits for a delayed ACK.
        disable_nagle_algorithm = True
        wbufsize = -1

        def _answer(self) -> None:
            length = int(self.headers.get("Content-Length") or 0)
            content = self.rfile.read(length) if length else b""
            request = httpx.Request(
                self.command,
                f"{site_url}{self.path}",
                headers=list(self.headers.items()),
                content=content,
            )
            outcome = fake.process(request)
            if outcome.delay or outcome.hold:
                time.sleep(outcome.delay + outcome.hold)
            if outcome.response is None:
                # A dropped connection or a timeout: close without a word.
                self.close_connection = True
                return
            response = outcome.response
            try:
                self.send_response(response.status_code)
                for name, value in response.headers.items():
                    if name.lower() not in ("content-length", "connection"):
                        self.send_header(name, value)
                self.send_header("Content-Length", str(len(response.content)))
                self.end_headers()
                self.wfile.write(response.content)
            except ConnectionError:
                # A late answer to a client that gave up: it is lost, as in real life.
                self.close_connection = True

        do_GET = do_POST = do_PUT = do_PATCH = do_DELETE = _answer

        def log_message(self, format: str, *args: object) -> None:
            """Quiet: the simulator keeps its own request log."""

    return Handler


@contextlib.contextmanager
def running_server(fake: FakeConnectWise, port: int = 0) -> Iterator[str]:
    """Run a threaded HTTP server for `fake` on 127.0.0.1; yield its site URL."""
    server = ThreadingHTTPServer((LOOPBACK, port), BaseHTTPRequestHandler)
    site_url = f"http://{LOOPBACK}:{server.server_port}"
    server.RequestHandlerClass = _handler_for(fake, site_url)
    server.daemon_threads = True
    server.block_on_close = False
    thread = threading.Thread(target=server.serve_forever, name="FakeConnectWise", daemon=True)
    thread.start()
    try:
        yield site_url
    finally:
        server.shutdown()
        server.server_close()
        thread.join()
