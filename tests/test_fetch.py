"""Tests for the resumable, verified downloader against a loopback HTTP server."""

from __future__ import annotations

import hashlib
import os
import threading
from collections.abc import Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest

from spectcontra.data.fetch import DownloadError, copy_file, download

PAYLOAD = bytes(range(256)) * 300  # 76.8 kB
PAYLOAD_MD5 = hashlib.md5(PAYLOAD).hexdigest()


@dataclass
class Behaviour:
    mode: str = "range"  # range | ignore_range | html | drop_once
    ranges: list[str | None] = field(default_factory=list)  # Range header of each request
    dropped: bool = False


class _Handler(BaseHTTPRequestHandler):
    server: _Server

    def log_message(self, format: str, *args: object) -> None:  # noqa: A002 - stdlib name
        pass  # keep pytest output clean

    def do_GET(self) -> None:  # noqa: N802 - stdlib name
        b = self.server.behaviour
        b.ranges.append(self.headers.get("Range"))
        if self.path != "/file.zip":
            self.send_error(404, "Not Found")
            return
        if b.mode == "html":
            body = b"<html><body>Please log in</body></html>"
            self._send(200, body, {"Content-Type": "text/html; charset=utf-8"})
            return
        rng = self.headers.get("Range")
        if rng and b.mode != "ignore_range":
            start = int(rng.removeprefix("bytes=").rstrip("-"))
            if start >= len(PAYLOAD):
                self._send(416, b"", {"Content-Range": f"bytes */{len(PAYLOAD)}"})
                return
            headers = {"Content-Range": f"bytes {start}-{len(PAYLOAD) - 1}/{len(PAYLOAD)}"}
            self._send(206, PAYLOAD[start:], headers)
            return
        if b.mode == "drop_once" and not b.dropped:
            b.dropped = True  # announce the full length, send half, hang up
            self.send_response(200)
            self.send_header("Content-Type", "application/zip")
            self.send_header("Content-Length", str(len(PAYLOAD)))
            self.end_headers()
            self.wfile.write(PAYLOAD[: len(PAYLOAD) // 2])
            self.close_connection = True
            return
        self._send(200, PAYLOAD, {})

    def _send(self, code: int, body: bytes, headers: dict[str, str]) -> None:
        self.send_response(code)
        headers = {"Content-Type": "application/zip", **headers}
        for key, value in headers.items():
            self.send_header(key, value)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)


class _Server(ThreadingHTTPServer):
    daemon_threads = True
    behaviour: Behaviour


@pytest.fixture
def server(monkeypatch: pytest.MonkeyPatch) -> Iterator[tuple[str, Behaviour]]:
    monkeypatch.setenv("no_proxy", "127.0.0.1")  # never route loopback through a proxy
    httpd = _Server(("127.0.0.1", 0), _Handler)
    httpd.behaviour = Behaviour()
    thread = threading.Thread(target=httpd.serve_forever, kwargs={"poll_interval": 0.05})
    thread.start()
    try:
        yield f"http://127.0.0.1:{httpd.server_address[1]}", httpd.behaviour
    finally:
        httpd.shutdown()
        httpd.server_close()
        thread.join(timeout=5)


def _get(url: str, dest: Path, **kwargs: object) -> Path:
    opts = {"expected_size": len(PAYLOAD), "md5": PAYLOAD_MD5, "chunk_bytes": 4096,
            "timeout": 5.0, "progress": False, **kwargs}
    return download(url, dest, **opts)  # type: ignore[arg-type]


def test_full_download_verified(server, tmp_path: Path) -> None:
    base, behaviour = server
    dest = tmp_path / "sub" / "file.zip"
    assert _get(f"{base}/file.zip", dest) == dest
    assert dest.read_bytes() == PAYLOAD
    assert not dest.with_suffix(".zip.part").exists()
    assert behaviour.ranges == [None]


def test_resumes_from_partial_file(server, tmp_path: Path) -> None:
    base, behaviour = server
    dest = tmp_path / "file.zip"
    dest.with_suffix(".zip.part").write_bytes(PAYLOAD[:30000])
    _get(f"{base}/file.zip", dest)
    assert dest.read_bytes() == PAYLOAD
    assert behaviour.ranges == ["bytes=30000-"]


def test_server_ignoring_range_restarts_from_zero(server, tmp_path: Path) -> None:
    base, behaviour = server
    behaviour.mode = "ignore_range"
    dest = tmp_path / "file.zip"
    dest.with_suffix(".zip.part").write_bytes(PAYLOAD[:30000])
    _get(f"{base}/file.zip", dest)
    assert dest.read_bytes() == PAYLOAD  # not the part + the whole file appended
    assert behaviour.ranges == ["bytes=30000-"]


def test_dropped_connection_is_retried_and_resumed(server, tmp_path: Path) -> None:
    base, behaviour = server
    behaviour.mode = "drop_once"
    dest = tmp_path / "file.zip"
    _get(f"{base}/file.zip", dest, retries=1)
    assert dest.read_bytes() == PAYLOAD
    assert behaviour.ranges == [None, f"bytes={len(PAYLOAD) // 2}-"]


def test_complete_part_is_verified_without_refetching(server, tmp_path: Path) -> None:
    base, behaviour = server
    dest = tmp_path / "file.zip"
    dest.with_suffix(".zip.part").write_bytes(PAYLOAD)
    _get(f"{base}/file.zip", dest)
    assert dest.read_bytes() == PAYLOAD and behaviour.ranges == []


def test_complete_part_without_expected_size_accepts_416(server, tmp_path: Path) -> None:
    base, behaviour = server
    dest = tmp_path / "file.zip"
    dest.with_suffix(".zip.part").write_bytes(PAYLOAD)
    _get(f"{base}/file.zip", dest, expected_size=None)
    assert dest.read_bytes() == PAYLOAD and behaviour.ranges == [f"bytes={len(PAYLOAD)}-"]


def test_html_answer_is_refused(server, tmp_path: Path) -> None:
    base, behaviour = server
    behaviour.mode = "html"
    dest = tmp_path / "file.zip"
    with pytest.raises(DownloadError, match="HTML") as info:
        _get(f"{base}/file.zip", dest)
    assert f"{base}/file.zip" in str(info.value)
    assert not dest.exists()


def test_http_404_is_refused_without_retry(server, tmp_path: Path) -> None:
    base, behaviour = server
    dest = tmp_path / "file.zip"
    with pytest.raises(DownloadError, match="HTTP 404") as info:
        _get(f"{base}/missing.zip", dest)
    assert f"{base}/missing.zip" in str(info.value)
    assert not dest.exists() and len(behaviour.ranges) == 1


def test_size_announced_by_server_must_match(server, tmp_path: Path) -> None:
    base, _ = server
    dest = tmp_path / "file.zip"
    with pytest.raises(DownloadError, match=f"{len(PAYLOAD)} bytes but 123 were expected"):
        _get(f"{base}/file.zip", dest, expected_size=123)
    assert not dest.exists()


def test_wrong_md5_keeps_bytes_as_part_and_never_writes_dest(server, tmp_path: Path) -> None:
    base, behaviour = server
    dest = tmp_path / "file.zip"
    part = dest.with_suffix(".zip.part")
    with pytest.raises(DownloadError) as info:
        _get(f"{base}/file.zip", dest, md5="0" * 32)
    message = str(info.value)
    assert f"{base}/file.zip" in message and str(part) in message
    assert PAYLOAD_MD5 in message and "0" * 32 in message
    assert not dest.exists() and part.read_bytes() == PAYLOAD
    # A rerun with the corrected checksum needs no network.
    _get(f"{base}/file.zip", dest)
    assert dest.read_bytes() == PAYLOAD and len(behaviour.ranges) == 1


def test_existing_verified_dest_is_left_alone(server, tmp_path: Path) -> None:
    base, behaviour = server
    dest = tmp_path / "file.zip"
    dest.write_bytes(PAYLOAD)
    _get(f"{base}/file.zip", dest)
    assert behaviour.ranges == []


def test_existing_wrong_dest_is_not_overwritten(server, tmp_path: Path) -> None:
    base, behaviour = server
    dest = tmp_path / "file.zip"
    dest.write_bytes(b"user data")
    with pytest.raises(DownloadError, match="already exists"):
        _get(f"{base}/file.zip", dest)
    assert dest.read_bytes() == b"user data" and behaviour.ranges == []


def test_copy_file_places_an_identical_independent_copy(tmp_path: Path) -> None:
    src = tmp_path / "a.bin"
    src.write_bytes(b"xyz" * 100_000)
    dst = tmp_path / "deep" / "b.bin"
    dst.parent.mkdir()
    dst.write_bytes(b"old")
    copy_file(src, dst)
    assert dst.read_bytes() == src.read_bytes()
    assert not dst.samefile(src) and src.stat().st_nlink == 1  # a copy, not a hard link
    dst.write_bytes(b"changed")
    assert src.read_bytes() == b"xyz" * 100_000
    assert [p.name for p in dst.parent.iterdir()] == ["b.bin"]  # no temporary left


def test_copy_file_replaces_an_old_hard_link_without_writing_through_it(tmp_path: Path) -> None:
    src = tmp_path / "orig.wav"
    src.write_bytes(b"user's original")
    dst = tmp_path / "raw" / "orig.wav"
    dst.parent.mkdir()
    os.link(src, dst)  # what link_or_copy used to leave behind
    copy_file(src, dst)
    assert not dst.samefile(src) and src.stat().st_nlink == 1
    assert dst.read_bytes() == src.read_bytes() == b"user's original"


def test_copy_file_without_kernel_copy_falls_back_to_python(tmp_path, monkeypatch) -> None:
    def refuse(*args):
        raise OSError(18, "Invalid cross-device link")

    monkeypatch.setattr(os, "copy_file_range", refuse, raising=False)
    src = tmp_path / "a.bin"
    src.write_bytes(bytes(range(256)) * 1000)
    copy_file(src, tmp_path / "b.bin")
    assert (tmp_path / "b.bin").read_bytes() == src.read_bytes()
