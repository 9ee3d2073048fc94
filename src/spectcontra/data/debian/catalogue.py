"""The recordings inside unpacked speech packages: one row per file, with speaker and language.

Two package layouts are known, and the speaker of a file is read from where its layout puts it:

* ``ktuberling-data``: ``usr/share/ktuberling/sounds/<language>/<word>.{ogg,wav}``, words read
  by one volunteer per language folder. ``sr@latin`` and the other ``sr@`` folders are the
  Serbian folder in other scripts, with byte-identical recordings: one speaker, ``sr``.
* ``asterisk-core-sounds-<ll>-g722``: ``usr/share/asterisk/sounds/<ll>_<CC>_<f|m>_<Name>/``,
  raw G.722 prompts by one professional voice named in the folder. The package copyright
  file credits Allison Smith for both ``en_US_f_Allison`` and ``es_MX_f_Allison``, so both
  folders are one speaker.
"""

from __future__ import annotations

import fnmatch
import hashlib
import re
from collections.abc import Callable, Sequence
from pathlib import Path

import pandas as pd
import soundfile as sf

from spectcontra.data.codecs import CODEC_OF_SUBTYPE, G722_RATE
from spectcontra.data.debian.packages import PackageError

COLUMNS = ("package", "collection", "file", "member", "rel", "speaker", "language", "codec",
           "sample_rate", "channels", "seconds", "bytes", "sha256")
KTUBERLING_SOUNDS = "usr/share/ktuberling/sounds"
ASTERISK_SOUNDS = "usr/share/asterisk/sounds"
_ASTERISK_VOICE = re.compile(r"^(?P<lang>[a-z]{2})_(?P<region>[A-Z]{2})_(?P<sex>[fm])_(?P<name>\w+)$")
G722_SAMPLES_PER_BYTE = 2  # 64 kbit/s for 16,000 samples/s


def _row(package: str, collection: str, root: Path, path: Path, speaker_dir: Path,
         speaker: str, language: str, codec: str, sample_rate: int, channels: int,
         frames: int) -> dict[str, object]:
    data = path.read_bytes()
    return {
        "package": package, "collection": collection, "file": str(path),
        "member": path.relative_to(root).as_posix(), "rel": path.relative_to(speaker_dir).as_posix(),
        "speaker": speaker, "language": language, "codec": codec, "sample_rate": sample_rate,
        "channels": channels, "seconds": frames / sample_rate, "bytes": len(data),
        "sha256": hashlib.sha256(data).hexdigest(),
    }


def list_ktuberling(root: Path, package: str) -> list[dict[str, object]]:
    rows = []
    for folder in sorted(p for p in (root / KTUBERLING_SOUNDS).iterdir() if p.is_dir()):
        language = folder.name.split("@")[0]
        for path in sorted(p for p in folder.rglob("*") if p.is_file()):
            try:
                info = sf.info(str(path))
            except (sf.SoundFileError, RuntimeError) as err:
                raise PackageError(f"{package}: cannot read {path} ({err})") from err
            codec = CODEC_OF_SUBTYPE.get(info.subtype)
            if codec is None:
                raise PackageError(f"{package}: {path} is {info.format}/{info.subtype}; expected "
                                   f"one of {sorted(CODEC_OF_SUBTYPE)}")
            rows.append(_row(package, "ktuberling", root, path, folder, f"ktuberling-{language}",
                             language, codec, info.samplerate, info.channels, info.frames))
    return rows


def list_asterisk(root: Path, package: str) -> list[dict[str, object]]:
    rows = []
    for folder in sorted(p for p in (root / ASTERISK_SOUNDS).iterdir() if p.is_dir()):
        voice = _ASTERISK_VOICE.match(folder.name)
        if voice is None:
            raise PackageError(f"{package}: voice folder {folder.name!r} does not read "
                               f"<ll>_<CC>_<f|m>_<Name>")
        for path in sorted(folder.rglob("*.g722")):
            # Raw G.722 has no header: its length follows from its size.
            frames = path.stat().st_size * G722_SAMPLES_PER_BYTE
            rows.append(_row(package, "asterisk", root, path, folder,
                             f"asterisk-{voice['name']}", f"{voice['lang']}-{voice['region']}",
                             "g722", G722_RATE, 1, frames))
    return rows


LAYOUTS: dict[str, Callable[[Path, str], list[dict[str, object]]]] = {
    r"ktuberling-data": list_ktuberling,
    r"asterisk-core-sounds-[a-z]+-g722": list_asterisk,
}


def list_package(root: Path, package: str) -> pd.DataFrame:
    """Every recording of the unpacked ``package`` under ``root`` (:data:`COLUMNS`)."""
    for pattern, lister in LAYOUTS.items():
        if re.fullmatch(pattern, package):
            return pd.DataFrame(lister(Path(root), package), columns=list(COLUMNS))
    raise PackageError(f"no known recording layout for package {package!r}; known: "
                       f"{', '.join(LAYOUTS)}")


def eligible(table: pd.DataFrame, skip: Sequence[str], min_seconds: float,
             max_seconds: float) -> pd.DataFrame:
    """The recordings worth a place in the corpus, in (package, member) order.

    Dropped: files matching a ``skip`` glob (relative to their speaker's folder), durations
    outside [min_seconds, max_seconds], and repeats of a file's exact bytes (the first kept).
    """
    table = table.sort_values(["package", "member"], kind="stable")
    skipped = table["rel"].map(lambda rel: any(fnmatch.fnmatch(rel, g) for g in skip))
    in_range = table["seconds"].between(min_seconds, max_seconds)
    kept = table[~skipped & in_range]
    return kept.drop_duplicates("sha256", keep="first").reset_index(drop=True)
