"""Headless Chromium on the built page: in-browser scoring latency, and a screenshot.

    python -m web.browser latency --model models/detector.onnx [--seconds 4 --runs 30 --warmup 5]
    python -m web.browser screenshot --model models/detector.onnx --audio clip.flac --out page.png

``latency`` prints one JSON object: p50/p95/mean milliseconds to score a ``seconds`` clip
with the model loaded (onnxruntime-web, wasm backend, one thread), plus the browser's
version. Both need Debian's ``chromium`` (or ``--chromium PATH``), Playwright (the test
extras) and ``npm ci`` in web/; exit code 2 when one is missing, so a caller can record why.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import sys
import tempfile
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from web.build import ORT_DIST, ORT_FILES, BuildError, build_app
from web.serve import serving

# Headless, no GPU, nothing phoning home, audio may play without a click.
CHROMIUM_ARGS = ("--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
                 "--disable-background-networking", "--disable-component-update",
                 "--disable-sync", "--autoplay-policy=no-user-gesture-required")
# A beeping fake microphone, granted without a prompt. Not for tab capture: with these,
# getUserMedia on a tab's stream id fails with "Requested device not found".
FAKE_MICROPHONE_ARGS = ("--use-fake-device-for-media-stream", "--use-fake-ui-for-media-stream")
PAGE_TIMEOUT_MS = 60_000  # the first wasm compile of ~14 MB takes seconds on 2 cores


class BrowserUnavailable(RuntimeError):
    """Chromium, Playwright or the onnxruntime-web files are missing; the message says which."""


def find_chromium(path: str | None = None) -> str:
    """The Chromium executable: ``path``, $SPECTCONTRA_CHROMIUM, or chromium on $PATH."""
    candidate = path or os.environ.get("SPECTCONTRA_CHROMIUM") or shutil.which("chromium")
    if not candidate or not Path(candidate).is_file():
        raise BrowserUnavailable("no Chromium executable (apt-get install -y chromium)")
    return candidate


def check_browser_stack(chromium: str | None = None) -> str:
    """Chromium's path if everything the browser route needs is installed, else raise."""
    path = find_chromium(chromium)
    try:
        import playwright.sync_api  # noqa: F401 (only probing that it is installed)
    except ImportError as err:
        raise BrowserUnavailable(f"Playwright is not installed ({err}); pip install -e '.[test]'")
    missing = [name for name in ORT_FILES if not (ORT_DIST / name).is_file()]
    if missing:
        raise BrowserUnavailable(f"onnxruntime-web files missing ({', '.join(missing)}): "
                                 "run `npm ci` in web/")
    return path


def launch(playwright: Any, chromium: str) -> Any:
    """A headless Chromium browser (Playwright object) with a fake microphone."""
    return playwright.chromium.launch(executable_path=chromium, headless=True,
                                      args=[*CHROMIUM_ARGS, *FAKE_MICROPHONE_ARGS])


def open_app(browser: Any, url: str) -> Any:
    """A page with the app loaded and its model ready; raises with the page's own error."""
    page = browser.new_page(viewport={"width": 860, "height": 900})
    page.set_default_timeout(PAGE_TIMEOUT_MS)
    page.goto(url)
    page.wait_for_function("window.spectcontra !== undefined")
    page.evaluate("window.spectcontra.ready")
    return page


@contextmanager
def app_page(model: Path, chromium: str) -> Iterator[Any]:
    """The app built around ``model`` in a temporary folder, served and open in Chromium."""
    from playwright.sync_api import sync_playwright

    with tempfile.TemporaryDirectory() as tmp, serving(build_app(model, Path(tmp) / "app")) as url:
        with sync_playwright() as playwright:
            browser = launch(playwright, chromium)
            try:
                yield open_app(browser, url)
            finally:
                browser.close()


def benchmark(page: Any, seconds: float, runs: int, warmup: int) -> dict[str, Any]:
    """The page's own timing of scoring a ``seconds`` clip, model loaded: p50/mean ms."""
    result = page.evaluate("([s, r, w]) => window.spectcontra.benchmark(s, r, w)",
                           [seconds, runs, warmup])
    result["browser"] = page.context.browser.version
    return result


def measure_latency(model: Path, seconds: float = 4.0, runs: int = 30, warmup: int = 5,
                    chromium: str | None = None) -> dict[str, Any]:
    """In-browser latency of ``model`` (onnxruntime-web, wasm, 1 thread) on a ``seconds`` clip.

    Returns ``{"p50_ms", "mean_ms", "runs", "warmup", "threads", "backend", "audio_seconds",
    "browser"}``. Raises :class:`BrowserUnavailable` when the browser stack is missing.
    """
    if runs < 1 or warmup < 0 or seconds <= 0:
        raise ValueError(f"need runs >= 1, warmup >= 0, seconds > 0; got {runs}, {warmup}, "
                         f"{seconds}")
    path = check_browser_stack(chromium)
    with app_page(Path(model), path) as page:
        return benchmark(page, seconds, runs, warmup)


def screenshot(model: Path, audio: Path, out: Path, chromium: str | None = None) -> dict[str, Any]:
    """Score ``audio`` on the page and save the page as a PNG; returns the page's result."""
    path = check_browser_stack(chromium)
    with app_page(Path(model), path) as page:
        page.set_input_files("#file", str(audio))
        page.wait_for_function("name => window.spectcontra.last?.name === name",
                               arg=Path(audio).name)
        result = page.evaluate("window.spectcontra.last")
        page.screenshot(path=str(out), full_page=True)
    if "error" in result:
        raise RuntimeError(f"the page refused {audio}: {result['error']}")
    return result


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m web.browser", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    commands = parser.add_subparsers(dest="command", required=True)
    latency = commands.add_parser("latency", help="in-browser p50 latency as JSON")
    latency.add_argument("--seconds", type=float, default=4.0)
    latency.add_argument("--runs", type=int, default=30)
    latency.add_argument("--warmup", type=int, default=5)
    shot = commands.add_parser("screenshot", help="score a file on the page, save a PNG")
    shot.add_argument("--audio", type=Path, required=True)
    shot.add_argument("--out", type=Path, required=True)
    for command in (latency, shot):
        command.add_argument("--model", type=Path, required=True, help="exported .onnx detector")
        command.add_argument("--chromium", help="Chromium executable (default: chromium on PATH)")
    args = parser.parse_args(argv)
    try:
        if args.command == "latency":
            result = measure_latency(args.model, args.seconds, args.runs, args.warmup,
                                     args.chromium)
        else:
            result = screenshot(args.model, args.audio, args.out, args.chromium)
            result = {k: result[k] for k in ("name", "score", "pBonafide", "decision")}
    except (BrowserUnavailable, BuildError) as err:
        print(f"{parser.prog}: error: {err}", file=sys.stderr)
        return 2
    print(json.dumps(result))
    return 0


if __name__ == "__main__":
    sys.exit(main())
