"""Put corpus files in place: resumable, verified HTTP downloads, and copies.

Download policy (``download``):

* bytes stream into ``<dest>.part``; ``dest`` only appears, by one rename, once verified;
* a leftover ``.part`` is resumed with an HTTP ``Range`` request; a server that answers
  ``200`` instead of ``206`` sends the whole file, so the part is restarted from zero;
* an HTML answer (a login or error page served with status 200) and HTTP errors are refused;
* a complete file whose MD5 does not match is **kept** as ``.part`` and not fetched again:
  the published checksum for ASVspoof 2019 LA comes from a third party, and re-downloading
  7.6 GB because a checksum in ``params.yaml`` is wrong helps nobody. The error names both
  hashes and the two ways out (fix the checksum, or delete the part to download afresh);
* an existing ``dest`` that fails verification is never overwritten (it may be the user's).
"""

from __future__ import annotations

import hashlib
import http.client
import os
import re
import shutil
import time
import urllib.error
import urllib.request
from pathlib import Path
from typing import IO

from tqdm import tqdm

from spectcontra.errors import InputError
from spectcontra.io_utils import atomic_path

USER_AGENT = "spectcontra-fetch/0.1"
_CONTENT_RANGE = re.compile(r"bytes\s+(\d+)-(\d+)/(\d+|\*)")
_UNSATISFIED_RANGE = re.compile(r"bytes\s+\*/(\d+)")


class DownloadError(InputError, RuntimeError):
    """A download that failed or could not be verified; the message names the URL and file."""


class _ShortRead(Exception):
    """The connection closed before the announced number of bytes arrived."""


def download(
    url: str,
    dest: Path,
    expected_size: int | None,
    md5: str | None,
    chunk_bytes: int = 1 << 20,
    timeout: float = 60.0,
    retries: int = 3,
    progress: bool = True,
) -> Path:
    """Fetch ``url`` to ``dest`` (resumable, verified); return ``dest``.

    ``expected_size`` and ``md5`` are checked when given. Connection drops are retried up to
    ``retries`` times, each resuming where the last stopped.
    """
    dest = Path(dest)
    part = dest.with_suffix(dest.suffix + ".part")
    if dest.exists():
        problem = _verify(dest, expected_size, md5)
        if problem:
            raise DownloadError(
                f"{dest} already exists but {problem}; it was not overwritten: delete it to "
                f"download {url} again"
            )
        return dest
    dest.parent.mkdir(parents=True, exist_ok=True)
    for attempt in range(retries + 1):
        try:
            _fetch_to_part(url, part, expected_size, chunk_bytes, timeout, progress)
            break
        except (http.client.HTTPException, OSError, _ShortRead) as err:
            if not _transient(err) or attempt == retries:
                raise _as_download_error(err, url, part) from err
            time.sleep(min(30.0, 2.0**attempt))
    problem = _verify(part, expected_size, md5)
    if problem:
        raise DownloadError(
            f"download of {url} to {part} {problem}. The bytes are kept at {part} and will not be "
            f"fetched again: if the published checksum is wrong, correct it; otherwise delete "
            f"{part} and rerun to download afresh"
        )
    os.replace(part, dest)
    return dest


def _transient(err: Exception) -> bool:
    """A dropped or stalled connection is worth a retry; a 404 or a bad host name is not."""
    if isinstance(err, urllib.error.HTTPError):
        return False
    if isinstance(err, urllib.error.URLError):
        reason = err.reason
        return isinstance(reason, ConnectionError | TimeoutError)
    return isinstance(err, ConnectionError | TimeoutError | http.client.IncompleteRead | _ShortRead)


def _as_download_error(err: Exception, url: str, part: Path) -> DownloadError:
    if isinstance(err, DownloadError):
        return err
    if isinstance(err, urllib.error.HTTPError):
        err.close()  # the error page body is not needed; free its socket now
        return DownloadError(f"HTTP {err.code} {err.reason} for {url}")
    return DownloadError(
        f"download of {url} failed ({err}); the partial file {part} is kept, rerun to resume"
    )


def _fetch_to_part(
    url: str, part: Path, expected_size: int | None, chunk_bytes: int, timeout: float,
    progress: bool,
) -> None:
    """Bring ``part`` to the full length of ``url``'s content, resuming when possible."""
    offset = part.stat().st_size if part.exists() else 0
    if expected_size is not None and offset > expected_size:
        part.unlink()  # longer than the real file: it cannot be a prefix of it
        offset = 0
    if expected_size is not None and offset == expected_size:
        return  # complete already (e.g. kept after a checksum mismatch): verify only
    headers = {"User-Agent": USER_AGENT}
    if offset:
        headers["Range"] = f"bytes={offset}-"
    request = urllib.request.Request(url, headers=headers)
    try:
        response = urllib.request.urlopen(request, timeout=timeout)
    except urllib.error.HTTPError as err:
        if err.code == 416 and offset:
            err.close()
            match = _UNSATISFIED_RANGE.match(err.headers.get("Content-Range", ""))
            if match and int(match.group(1)) == offset:
                return  # the part already holds every byte
            part.unlink()
            raise DownloadError(
                f"server refused to resume {url} at byte {offset}; removed {part}, rerun to "
                f"download from the start"
            ) from err
        raise
    with response:
        content_type = response.headers.get("Content-Type", "")
        if content_type.split(";")[0].strip().lower() == "text/html":
            raise DownloadError(
                f"{url} answered with an HTML page (Content-Type {content_type!r}), not the "
                f"file: probably a login, licence or error page; fetch it in a browser and "
                f"place it at {part.with_suffix('')}"
            )
        status = getattr(response, "status", None)
        if offset and status == 206:
            start, total = _parse_content_range(response.headers.get("Content-Range", ""), url)
            if start != offset:
                raise DownloadError(
                    f"{url} resumed at byte {start}, not at the requested {offset}"
                )
            mode = "ab"
        else:
            # Fresh download, or a server (or file: URL) that ignored Range: start over.
            offset, mode = 0, "wb"
            length = response.headers.get("Content-Length")
            total = int(length) if length is not None else None
        if expected_size is not None and total is not None and total != expected_size:
            raise DownloadError(
                f"{url} has {total} bytes but {expected_size} were expected: wrong URL or an "
                f"updated file; {part} was left untouched"
            )
        _stream(response, part, mode, offset, total, chunk_bytes, progress, url)


def _parse_content_range(value: str, url: str) -> tuple[int, int | None]:
    match = _CONTENT_RANGE.match(value)
    if not match:
        raise DownloadError(f"{url} answered 206 with a malformed Content-Range {value!r}")
    total = match.group(3)
    return int(match.group(1)), (None if total == "*" else int(total))


def _stream(
    response: IO[bytes], part: Path, mode: str, offset: int, total: int | None,
    chunk_bytes: int, progress: bool, url: str,
) -> None:
    received = offset
    with (
        part.open(mode) as out,
        tqdm(total=total, initial=offset, unit="B", unit_scale=True, mininterval=5.0,
             desc=part.name, disable=not progress) as bar,
    ):
        while chunk := response.read(chunk_bytes):
            out.write(chunk)
            received += len(chunk)
            bar.update(len(chunk))
    if total is not None and received < total:
        raise _ShortRead(f"connection closed after {received} of {total} bytes of {url}")


def _verify(path: Path, expected_size: int | None, md5: str | None) -> str | None:
    """Return why ``path`` fails the size/MD5 check, or None when it passes."""
    size = path.stat().st_size
    if expected_size is not None and size != expected_size:
        return f"has {size} bytes, expected {expected_size}"
    if md5 is not None:
        actual = file_md5(path)
        if actual != md5.lower():
            return f"has MD5 {actual}, expected {md5.lower()}"
    return None


def file_md5(path: Path, chunk_bytes: int = 1 << 22) -> str:
    digest = hashlib.md5(usedforsecurity=False)
    with path.open("rb") as fh:
        while chunk := fh.read(chunk_bytes):
            digest.update(chunk)
    return digest.hexdigest()


def copy_file(src: Path, dst: Path) -> None:
    """Place a copy of ``src`` at ``dst``: never a hard link, and never a half-written file.

    A hard link shares the user's original inode, so anything that later writes through
    ``dst`` (or a stage that rewrites it in place) would change the original. The bytes go
    to a temporary sibling, renamed over ``dst`` once complete; an old ``dst`` hard-linked to
    ``src`` by an earlier version is replaced, not written through. ``os.copy_file_range``
    lets the kernel share the blocks copy-on-write (a reflink) where the filesystem can
    (btrfs, XFS), so such copies cost no disk.
    """
    with atomic_path(dst) as tmp:
        with Path(src).open("rb") as fin, tmp.open("wb") as fout:
            if not _copy_in_kernel(fin.fileno(), fout.fileno()):
                fin.seek(0)
                fout.seek(0)
                fout.truncate()
                shutil.copyfileobj(fin, fout, 1 << 20)


def _copy_in_kernel(fd_in: int, fd_out: int) -> bool:
    copy_range = getattr(os, "copy_file_range", None)  # Linux only
    if copy_range is None:
        return False
    try:
        while copy_range(fd_in, fd_out, 1 << 30):
            pass
    except OSError:  # EXDEV on kernels < 5.3, EINVAL/ENOTSUP on some filesystems
        return False
    return True
