"""Assemble the static web app and the Chrome extension: page, onnxruntime-web runtime, model.

    python web/build.py app --model models/detector.onnx --out web/build/app
    python web/build.py extension --model models/detector.onnx --out web/build/extension \
        --zip web/build/spectcontra-extension.zip

The model's settings file (``detector.json``, written by the export stage) must sit beside it.
onnxruntime-web comes from ``web/node_modules`` (``npm ci`` in web/); nothing is fetched here.
"""

from __future__ import annotations

import argparse
import json
import shutil
import sys
import zipfile
from collections.abc import Sequence
from pathlib import Path

WEB = Path(__file__).resolve().parent
EXTENSION = WEB.parent / "extension"
ORT_DIST = WEB / "node_modules" / "onnxruntime-web" / "dist"
# The wasm-only ES module build and the one runtime it loads (served, never from a CDN).
ORT_FILES = ("ort.wasm.min.mjs", "ort-wasm-simd-threaded.mjs", "ort-wasm-simd-threaded.wasm")
PAGE_FILES = ("index.html", "style.css")
MODEL_DIR = "model"  # the page fetches model/detector.json, then the model file it names
SETTINGS_NAME = "detector.json"


class BuildError(RuntimeError):
    """A missing input: the message says which and how to make it."""


def settings_path(model: Path) -> Path:
    return model.with_suffix(".json")


def build_app(model: Path, out: Path) -> Path:
    """Write the page, its scripts, the runtime and the model with its settings into ``out``."""
    model = Path(model)
    settings = settings_path(model)
    for path, how in ((model, "dvc repro export"), (settings, "dvc repro export"),
                      (ORT_DIST / ORT_FILES[0], "cd web && npm ci")):
        if not path.is_file():
            raise BuildError(f"{path} not found: make it with `{how}`")
    meta = json.loads(settings.read_text())
    if out.exists():
        # Only ever delete an earlier build: a mistyped --out must not wipe a source folder.
        if any(out.iterdir()) and not (out / "vendor").is_dir():
            raise BuildError(f"{out} exists and is not an earlier build; pick another --out")
        shutil.rmtree(out)
    (out / "vendor").mkdir(parents=True)
    (out / MODEL_DIR).mkdir()
    for name in PAGE_FILES:
        shutil.copy2(WEB / name, out / name)
    shutil.copytree(WEB / "src", out / "src")
    for name in ORT_FILES:
        shutil.copy2(ORT_DIST / name, out / "vendor" / name)
    # The page looks the model up by the name the settings give, so keep that name.
    shutil.copy2(model, out / MODEL_DIR / meta["model_file"])
    shutil.copy2(settings, out / MODEL_DIR / SETTINGS_NAME)
    return out


def build_extension(model: Path, out: Path, zip_path: Path | None = None) -> Path:
    """The app plus the MV3 manifest, service worker and offscreen recorder, unpacked in ``out``.

    The page becomes the popup; every runtime file is inside (MV3 refuses remote code).
    Returns ``out``; with ``zip_path`` also a zip of it, loadable once unpacked.
    """
    build_app(model, out)
    (out / "index.html").rename(out / "popup.html")
    for path in sorted(EXTENSION.iterdir()):
        if path.is_file():
            shutil.copy2(path, out / path.name)
    if zip_path is not None:
        zip_path.parent.mkdir(parents=True, exist_ok=True)
        with zipfile.ZipFile(zip_path, "w", zipfile.ZIP_DEFLATED) as archive:
            for path in sorted(out.rglob("*")):
                if path.is_file():
                    archive.write(path, path.relative_to(out).as_posix())
    return out


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("target", choices=("app", "extension"))
    parser.add_argument("--model", type=Path, required=True, help="exported .onnx detector")
    parser.add_argument("--out", type=Path, required=True, help="folder to (re)create")
    parser.add_argument("--zip", type=Path, help="extension only: also write this zip")
    args = parser.parse_args(argv)
    try:
        if args.target == "app":
            build_app(args.model, args.out)
        else:
            build_extension(args.model, args.out, args.zip)
    except BuildError as err:
        print(f"web/build.py: error: {err}", file=sys.stderr)
        return 2
    print(f"built {args.target} in {args.out}" + (f" and {args.zip}" if args.zip else ""))
    return 0


if __name__ == "__main__":
    sys.exit(main())
