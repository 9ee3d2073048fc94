"""Serve a static folder on loopback with the MIME types onnxruntime-web needs (.wasm, .mjs)."""

from __future__ import annotations

import argparse
import functools
import http.server
import sys
import threading
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path

MIME_TYPES = {
    ".wasm": "application/wasm",  # WebAssembly.instantiateStreaming refuses anything else
    ".mjs": "text/javascript",
    ".js": "text/javascript",
    ".json": "application/json",
    ".onnx": "application/octet-stream",
}


class StaticHandler(http.server.SimpleHTTPRequestHandler):
    extensions_map = {**http.server.SimpleHTTPRequestHandler.extensions_map, **MIME_TYPES}

    def end_headers(self) -> None:
        self.send_header("Cache-Control", "no-store")  # a re-exported model is picked up at once
        super().end_headers()

    def log_message(self, format: str, *args) -> None:  # noqa: A002 (the base class's name)
        if self.server.verbose:
            super().log_message(format, *args)


def make_server(root: Path, host: str = "127.0.0.1", port: int = 0,
                verbose: bool = False) -> http.server.ThreadingHTTPServer:
    """A server for ``root`` on ``host:port`` (port 0 = any free port); not yet serving."""
    root = Path(root)
    if not root.is_dir():
        raise FileNotFoundError(f"nothing to serve: {root} is not a folder")
    handler = functools.partial(StaticHandler, directory=str(root))
    server = http.server.ThreadingHTTPServer((host, port), handler)
    server.verbose = verbose
    return server


@contextmanager
def serving(root: Path) -> Iterator[str]:
    """Serve ``root`` from a background thread on a free loopback port; yields the base URL."""
    server = make_server(root)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}/"
    finally:
        server.shutdown()
        server.server_close()
        thread.join()


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("root", type=Path, help="folder to serve (the built web app)")
    parser.add_argument("--port", type=int, default=8000)
    parser.add_argument("--host", default="127.0.0.1", help="loopback by default")
    args = parser.parse_args(argv)
    server = make_server(args.root, args.host, args.port, verbose=True)
    print(f"serving {args.root} at http://{args.host}:{server.server_address[1]}/ "
          "(Ctrl-C stops)", flush=True)
    try:
        server.serve_forever()
    except KeyboardInterrupt:
        pass
    finally:
        server.server_close()
    return 0


if __name__ == "__main__":
    sys.exit(main())
