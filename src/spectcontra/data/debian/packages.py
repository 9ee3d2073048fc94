"""Pinned .deb files: find them in a cache folder or fetch them with apt-get, verify, unpack.

Fetch policy (``fetch_packages``):

* a .deb is recognised by its control fields (``Package``, ``Version``), not its file name:
  apt writes an epoch as ``%3a``, a copy from elsewhere may drop it;
* missing packages are fetched with ``apt-get download NAME=VERSION`` (no root needed, no
  mirror URL: apt's own sources decide) into a temporary folder inside the cache, and only
  files whose sha256 matches their pin are moved into the cache;
* a cached file whose sha256 differs from its pin is never overwritten: the error names the
  package, both hashes and the file.
"""

from __future__ import annotations

import hashlib
import os
import re
import shutil
import subprocess
import tempfile
from collections.abc import Sequence
from pathlib import Path

from spectcontra.config import DebianPackage
from spectcontra.errors import InputError

# Where each package keeps its copyright file (Debian policy 12.5).
COPYRIGHT = "usr/share/doc/{name}/copyright"


class PackageError(InputError):
    """A pinned package that cannot be had or trusted; the message names it and the way out."""


def way_out(deb_dir: Path) -> str:
    """The two alternatives offered whenever the packages cannot be had."""
    return (f"either set data.source: synthetic in params.yaml, or put the pinned .deb files "
            f"(from any machine with apt: apt-get download NAME=VERSION) in {deb_dir}")


def pin_spec(pin: DebianPackage) -> str:
    return f"{pin.name}={pin.version}"


def file_sha256(path: Path, chunk_bytes: int = 1 << 22) -> str:
    digest = hashlib.sha256()
    with Path(path).open("rb") as fh:
        while chunk := fh.read(chunk_bytes):
            digest.update(chunk)
    return digest.hexdigest()


def _tool(name: str, pins: Sequence[DebianPackage], deb_dir: Path) -> str:
    path = shutil.which(name)
    if path is None:
        names = ", ".join(pin_spec(p) for p in pins)
        raise PackageError(f"{name} is not on PATH (needed for {names}): {way_out(deb_dir)}")
    return path


def control_fields(deb: Path, pins: Sequence[DebianPackage], deb_dir: Path) -> tuple[str, str]:
    """(Package, Version) of ``deb``, read by ``dpkg-deb --field``."""
    dpkg_deb = _tool("dpkg-deb", pins, deb_dir)
    done = subprocess.run([dpkg_deb, "--field", str(deb), "Package", "Version"],
                          capture_output=True, text=True, check=False)
    fields = dict(re.findall(r"^(Package|Version):\s*(\S+)\s*$", done.stdout, re.MULTILINE))
    if done.returncode != 0 or len(fields) != 2:
        reason = done.stderr.strip() or "no Package/Version control fields"
        raise PackageError(f"{deb} is not a readable .deb ({reason}): delete it and rerun")
    return fields["Package"], fields["Version"]


def _index(folder: Path, pins: Sequence[DebianPackage], deb_dir: Path) -> dict[str, Path]:
    """Pinned ``name=version`` -> .deb file in ``folder`` that carries it."""
    wanted = {pin_spec(p) for p in pins}
    found: dict[str, Path] = {}
    for deb in sorted(folder.glob("*.deb")):
        spec = "=".join(control_fields(deb, pins, deb_dir))
        if spec in wanted:
            found.setdefault(spec, deb)
    return found


def verify(pin: DebianPackage, deb: Path) -> None:
    got = file_sha256(deb)
    if got != pin.sha256:
        raise PackageError(
            f"{deb} ({pin_spec(pin)}) has sha256 {got}, but params pin {pin.sha256}: if the "
            f"archive republished the package, check it and update the pin; otherwise delete "
            f"{deb} and rerun to fetch it again"
        )


def apt_download(pins: Sequence[DebianPackage], folder: Path, deb_dir: Path) -> None:
    """Run ``apt-get download NAME=VERSION ...`` in ``folder``; errors name the packages."""
    apt_get = _tool("apt-get", pins, deb_dir)
    done = subprocess.run([apt_get, "download", *(pin_spec(p) for p in pins)], cwd=folder,
                          capture_output=True, text=True, check=False)
    if done.returncode != 0:
        # apt prints warnings (W:) too, e.g. about downloading as root; the errors (E:) say why.
        errors = [line for line in done.stderr.splitlines() if line.startswith("E:")]
        reason = "; ".join(errors) or done.stderr.strip() or f"exit code {done.returncode}"
        raise PackageError(
            f"apt-get download {' '.join(pin_spec(p) for p in pins)} failed: {reason}. "
            f"If apt's package lists are missing or stale, run apt-get update; otherwise "
            f"{way_out(deb_dir)}"
        )


def fetch_packages(pins: Sequence[DebianPackage], deb_dir: Path) -> dict[str, Path]:
    """Package name -> verified .deb in ``deb_dir``, fetching the missing ones with apt-get."""
    deb_dir = Path(deb_dir)
    deb_dir.mkdir(parents=True, exist_ok=True)
    have = _index(deb_dir, pins, deb_dir)
    missing = [p for p in pins if pin_spec(p) not in have]
    if missing:
        with tempfile.TemporaryDirectory(prefix=".apt-", dir=deb_dir) as tmp:
            apt_download(missing, Path(tmp), deb_dir)
            fetched = _index(Path(tmp), missing, deb_dir)
            for pin in missing:
                deb = fetched.get(pin_spec(pin))
                if deb is None:
                    raise PackageError(f"apt-get download {pin_spec(pin)} left no .deb of that "
                                       f"version: {way_out(deb_dir)}")
                verify(pin, deb)
                have[pin_spec(pin)] = deb_dir / deb.name
                os.replace(deb, have[pin_spec(pin)])
    for pin in pins:
        verify(pin, have[pin_spec(pin)])
    return {pin.name: have[pin_spec(pin)] for pin in pins}


def unpack(deb: Path, dest: Path) -> Path:
    """Extract the files of ``deb`` under ``dest`` with ``dpkg-deb -x``; return ``dest``."""
    dpkg_deb = shutil.which("dpkg-deb")
    if dpkg_deb is None:
        raise PackageError(f"dpkg-deb is not on PATH (needed to unpack {deb}): "
                           f"{way_out(deb.parent)}")
    dest.mkdir(parents=True, exist_ok=True)
    done = subprocess.run([dpkg_deb, "-x", str(deb), str(dest)], capture_output=True,
                          text=True, check=False)
    if done.returncode != 0:
        raise PackageError(f"dpkg-deb -x {deb} failed: {done.stderr.strip()}")
    return dest


def licences(copyright_text: str) -> tuple[str, ...]:
    """The licence short names a machine-readable copyright file declares, in order."""
    names = re.findall(r"^License:[ \t]*(\S[^\n]*)$", copyright_text, re.MULTILINE)
    return tuple(dict.fromkeys(n.strip() for n in names))
