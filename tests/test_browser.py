"""The web app and the Chrome extension in real headless Chromium, scored against onnxruntime-python.

Needs Debian's ``chromium``, Playwright (test extras) and ``npm ci`` in web/. Without them these
tests skip, and the run's summary says so in a banner (tests/conftest.py); with CI=true they
fail instead, so CI never passes without having run them.
"""

from __future__ import annotations

import hashlib
import json
import os
import struct
import zipfile
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf

from spectcontra.cli import main as cli_main
from spectcontra.conventions import BONAFIDE, SPOOF
from spectcontra.data.attacks import apply_attack
from spectcontra.data.speech_synth import draw_speaker, synthesize
from spectcontra.features.clips import WINDOW_BATCH, window_crops, window_starts
from spectcontra.inference.export import browser_settings, browser_settings_path, export_onnx
from spectcontra.inference.onnx_detector import OnnxDetector
from spectcontra.inference.torch_detector import Detector
from tests.test_inference import CROP, CROP_S, SR, make_checkpoint
from web.browser import (
    CHROMIUM_ARGS,
    BrowserUnavailable,
    benchmark,
    check_browser_stack,
    launch,
    open_app,
)
from web.build import build_app, build_extension
from web.serve import serving

SCORE_ATOL = 1e-3  # calibrated-score units: the bar for page vs onnxruntime-python
# Files at another rate: the browser's resampler vs scipy's polyphase one (test_export
# allows the same between the two Python resamplers).
RESAMPLED_SCORE_ATOL = 0.05
LOGISTIC = {"method": "logistic", "a": 1.7, "b": -0.3, "temperature": 1.0}
OVERLAY_WINDOW_S, OVERLAY_HOP_S = 0.25, 0.0625  # the tests' model has 0.5 s crops
# name -> (label, attack, seconds): shorter than a crop (tiled), several crops, a tail window;
# WAV, FLAC and MP3, each decoded by libsndfile in Python and by Chromium on the page.
CLIPS = {
    "bona_short.wav": (BONAFIDE, None, 0.4),
    "bona_long.flac": (BONAFIDE, None, 2.3),
    "spoof_griffin_lim.wav": (SPOOF, "A01", 1.7),
    "spoof_lpc.flac": (SPOOF, "A02", 3.1),
    "spoof_concatenation.mp3": (SPOOF, "A04", 1.2),  # a lossy codec both decoders must agree on
}


def _ci() -> bool:
    return os.environ.get("CI", "").strip().lower() in {"1", "true", "yes"}


@pytest.fixture(scope="module")
def chromium() -> str:
    try:
        return check_browser_stack()
    except BrowserUnavailable as err:
        if _ci():
            pytest.fail(f"browser tests cannot run under CI=true: {err}")
        pytest.skip(f"browser tests skipped: {err}")


def _utterance(label: str, attack: str | None, seconds: float, seed: int) -> np.ndarray:
    rng = np.random.default_rng(seed)
    clean = synthesize(rng, draw_speaker(rng, female=seed % 2 == 1), int(seconds * SR), SR)
    wave = clean.wave if label == BONAFIDE else apply_attack(attack, clean, rng, SR)
    return (0.5 * wave / np.abs(wave).max()).astype(np.float32)


@pytest.fixture(scope="module")
def fixture_dir(tmp_path_factory: pytest.TempPathFactory) -> dict:
    """A tiny exported detector, its settings file, labelled clips and the CLI's report on them.

    The threshold sits between the clips' scores, so the page shows both decisions.
    """
    root = tmp_path_factory.mktemp("browser")
    clips = {}
    for seed, (name, (label, attack, seconds)) in enumerate(CLIPS.items()):
        clips[name] = root / name
        sf.write(clips[name], _utterance(label, attack, seconds, seed), SR)  # PCM_16 / MP3
    probe = Detector.load(make_checkpoint(root / "probe.pt", LOGISTIC))
    scores = sorted(probe.score_wave(probe.load_wave(p)) for p in clips.values())
    threshold = float(np.mean(scores[1:3]))
    checkpoint = make_checkpoint(root / "detector.pt", LOGISTIC, threshold=threshold)
    model = root / "model" / "detector.onnx"
    export_onnx(checkpoint, model, overlay_window_s=OVERLAY_WINDOW_S,
                overlay_hop_s=OVERLAY_HOP_S)
    out = root / "detect"
    assert cli_main(["detect", *map(str, clips.values()), "--model", str(model), "--no-plot",
                     "--out", str(out)]) == 0
    report = {Path(row["file"]).name: row for row in json.loads((out / "report.json").read_text())}
    assert {row["decision"] for row in report.values()} == {BONAFIDE, SPOOF}
    return {"root": root, "model": model, "clips": clips, "report": report}


@pytest.fixture(scope="module")
def app_url(chromium, fixture_dir):
    with serving(build_app(fixture_dir["model"], fixture_dir["root"] / "app")) as url:
        yield url


@pytest.fixture(scope="module")
def playwright(chromium):
    # One driver for the module: a second sync_playwright() cannot start beside the first.
    from playwright.sync_api import sync_playwright

    with sync_playwright() as driver:
        yield driver


@pytest.fixture(scope="module")
def browser(playwright, chromium):
    instance = launch(playwright, chromium)
    yield instance
    instance.close()


@pytest.fixture(scope="module")
def page(browser, app_url):
    page = open_app(browser, app_url)
    errors: list[str] = []
    page.on("pageerror", lambda err: errors.append(str(err)))
    yield page
    assert not errors, f"uncaught errors in the page: {errors}"
    page.close()


def drop_file(page, path: Path) -> dict:
    """Pick ``path`` in the page's file input; the page's result once it has been shown."""
    page.set_input_files("#file", str(path))
    page.wait_for_function("name => window.spectcontra.last?.name === name", arg=path.name)
    return page.evaluate("window.spectcontra.last")


def python_window_scores(model: Path, wave_path: Path) -> np.ndarray:
    """The overlay's windows as onnxruntime-python scores them (Detector.window_scores' policy)."""
    detector = OnnxDetector.load(model)
    settings = json.loads(browser_settings_path(model).read_text())
    wave = detector.load_wave(wave_path)
    window, hop = settings["overlay_window_samples"], settings["overlay_hop_samples"]
    starts = window_starts(wave.size, window, hop)
    return np.concatenate([detector.score_batch(batch) for batch in
                           window_crops(wave, window, starts, detector.crop_samples)])


# --------------------------------------------------------------------------- settings (no browser)


def test_export_writes_the_page_settings_beside_the_model(fixture_dir):
    model = fixture_dir["model"]
    settings = json.loads(browser_settings_path(model).read_text())
    detector = OnnxDetector.load(model)
    assert settings["model_file"] == model.name
    assert settings["format"] == "spectcontra-browser" and settings["version"] == 1
    assert (settings["sample_rate"], settings["crop_samples"], settings["threshold"]) == (
        detector.sample_rate, detector.crop_samples, detector.threshold)
    # The whole-file score's windows, as OnnxDetector.score_wave lays them.
    assert settings["score_window_samples"] == detector.crop_samples
    assert settings["score_hop_samples"] == detector.crop_samples // 2
    assert settings["window_batch"] == WINDOW_BATCH
    assert settings["overlay_window_samples"] == round(OVERLAY_WINDOW_S * SR)
    assert settings["overlay_hop_samples"] == round(OVERLAY_HOP_S * SR)
    assert settings["n_parameters"] == detector.n_parameters


def test_overlay_window_is_capped_at_the_crop(tmp_path):
    detector = Detector.load(make_checkpoint(tmp_path / "detector.pt"))
    settings = browser_settings(detector, "detector.onnx", overlay_window_s=2 * CROP_S,
                                overlay_hop_s=0.1)
    assert settings["overlay_window_samples"] == CROP
    with pytest.raises(ValueError, match="must each span a sample"):
        browser_settings(detector, "detector.onnx", overlay_window_s=0.5, overlay_hop_s=1e-6)


# --------------------------------------------------------------------------- the web app


@pytest.mark.parametrize("name", list(CLIPS))
def test_page_scores_equal_onnxruntime_python(page, fixture_dir, name):
    want = fixture_dir["report"][name]
    got = drop_file(page, fixture_dir["clips"][name])
    assert "error" not in got, got.get("error")
    assert got["score"] == pytest.approx(want["score"], abs=SCORE_ATOL)
    assert got["decision"] == want["decision"]
    assert got["pBonafide"] == pytest.approx(want["p_bonafide"], abs=SCORE_ATOL)
    # What a person reads: the verdict, the rounded score and probability, the threshold.
    decision = page.text_content("#decision")
    assert decision.startswith("Bona fide" if want["decision"] == BONAFIDE else "Spoof")
    assert float(page.text_content("#score")) == pytest.approx(want["score"], abs=1.5e-3)
    assert float(page.text_content("#p-bonafide")) == pytest.approx(want["p_bonafide"], abs=1.5e-3)
    assert page.text_content("#threshold").startswith(f"{want['threshold']:+.3f}")
    assert page.is_hidden("#error")
    windows = python_window_scores(fixture_dir["model"], fixture_dir["clips"][name])
    np.testing.assert_allclose(got["windows"]["scores"], windows, rtol=0, atol=SCORE_ATOL)
    assert "ms scoring" in page.text_content("#latency")
    assert "MB" in page.text_content("#memory")  # Chromium exposes performance.memory


def test_page_reads_stereo_and_resamples_other_rates(page, fixture_dir, tmp_path):
    wave = _utterance(BONAFIDE, None, 1.6, seed=11)
    stereo = tmp_path / "stereo.wav"
    sf.write(stereo, np.stack([wave, 0.3 * wave[::-1]], axis=1), SR, subtype="FLOAT")
    fast = tmp_path / "fast_22050.wav"
    n = int(1.6 * 22050)
    sf.write(fast, np.interp(np.arange(n) * SR / 22050, np.arange(wave.size), wave), 22050)
    detector = OnnxDetector.load(fixture_dir["model"])
    for path, atol in ((stereo, SCORE_ATOL), (fast, RESAMPLED_SCORE_ATOL)):
        got = drop_file(page, path)
        want = detector.score_wave(detector.load_wave(path))
        assert got["score"] == pytest.approx(want, abs=atol), path.name


@pytest.mark.parametrize(("name", "content", "message"), [
    ("garbage.wav", b"RIFF\x00\x00not really a wave file" * 10, "unreadable"),
    ("silent.wav", None, "silent"),
])
def test_unusable_audio_shows_an_error_not_a_score(page, fixture_dir, tmp_path, name, content,
                                                   message):
    drop_file(page, fixture_dir["clips"]["bona_short.wav"])  # a score on screen first
    path = tmp_path / name
    if content is None:
        sf.write(path, np.zeros(SR // 2, dtype=np.float32), SR)
    else:
        path.write_bytes(content)
    got = drop_file(page, path)
    assert "score" not in got
    assert page.is_visible("#error") and page.is_hidden("#result")
    text = page.text_content("#error")
    assert f"bad audio file {name}" in text and message in text


def test_microphone_recording_is_scored(page):
    # Chromium's fake capture device (a beep) stands in for the microphone.
    page.click("#record")
    page.wait_for_selector("#record.recording")
    page.wait_for_timeout(1200)
    page.click("#record")
    page.wait_for_function("window.spectcontra.last?.name === 'microphone recording'")
    got = page.evaluate("window.spectcontra.last")
    assert "error" not in got, got.get("error")
    assert 0.9 < got["audioSeconds"] < 5 and np.isfinite(got["score"])


def test_page_screenshot(page, fixture_dir, tmp_path):
    drop_file(page, fixture_dir["clips"]["spoof_lpc.flac"])
    shot = tmp_path / "page.png"
    page.screenshot(path=str(shot), full_page=True)
    width, height = struct.unpack(">II", shot.read_bytes()[16:24])  # the PNG header's IHDR
    assert width >= 800 and height >= 600


def test_in_browser_latency_is_measured_on_one_wasm_thread(page):
    result = benchmark(page, seconds=4.0, runs=5, warmup=1)
    assert result["threads"] == 1 and result["backend"] == "wasm"
    assert 0 < result["p50_ms"] <= result["p95_ms"]
    assert result["browser"]


def test_a_missing_model_is_reported_on_the_page(browser, tmp_path, fixture_dir):
    app = build_app(fixture_dir["model"], tmp_path / "app")
    (app / "model" / "detector.onnx").unlink()
    with serving(app) as url:
        page = browser.new_page()
        page.goto(url)
        page.wait_for_selector("#error:not([hidden])")
        assert "detector.onnx: HTTP 404" in page.text_content("#error")
        page.close()


# --------------------------------------------------------------------------- the extension


@pytest.fixture(scope="module")
def extension(playwright, chromium, fixture_dir):
    """The unpacked extension loaded in Chromium; yields (context, extension id, built folder).

    ``--allowlisted-extension-id`` lets tabCapture run without a click on the toolbar icon,
    which a headless browser has no way to make.
    """
    root = fixture_dir["root"]
    built = build_extension(fixture_dir["model"], root / "extension", root / "extension.zip")
    context = playwright.chromium.launch_persistent_context(
        str(root / "profile"), executable_path=chromium, headless=True,
        # Playwright mutes headless browsers; a muted tab is captured as digital silence.
        ignore_default_args=["--disable-extensions", "--mute-audio"],
        args=[*CHROMIUM_ARGS, f"--disable-extensions-except={built}",
              f"--load-extension={built}", f"--allowlisted-extension-id={extension_id(built)}"])
    worker = (context.service_workers[0] if context.service_workers
              else context.wait_for_event("serviceworker"))
    ext_id = worker.url.split("/")[2]
    assert ext_id == extension_id(built)
    yield context, ext_id, built
    context.close()


def extension_id(folder: Path) -> str:
    """Chromium's id for an unpacked extension: its path's SHA-256, hex digits mapped to a-p."""
    digest = hashlib.sha256(str(folder).encode()).hexdigest()[:32]
    return "".join(chr(ord("a") + int(c, 16)) for c in digest)


def test_extension_zip_holds_every_runtime_file(extension, fixture_dir):
    _, _, built = extension
    manifest = json.loads((built / "manifest.json").read_text())
    assert manifest["manifest_version"] == 3
    assert manifest["content_security_policy"]["extension_pages"] == (
        "script-src 'self' 'wasm-unsafe-eval'; object-src 'self'")
    names = set(zipfile.ZipFile(fixture_dir["root"] / "extension.zip").namelist())
    files = {p.relative_to(built).as_posix() for p in built.rglob("*") if p.is_file()}
    assert names == files
    assert {"manifest.json", "popup.html", "background.js", "offscreen.html",
            "vendor/ort-wasm-simd-threaded.wasm", "model/detector.onnx",
            "model/detector.json"} <= names
    for page_file in ("popup.html", "offscreen.html"):
        assert "http" not in (built / page_file).read_text().replace("http-equiv", "")


def test_extension_popup_scores_a_file(extension, fixture_dir):
    context, ext_id, _ = extension
    popup = context.new_page()
    popup.goto(f"chrome-extension://{ext_id}/popup.html")
    popup.wait_for_function("window.spectcontra !== undefined")
    popup.evaluate("window.spectcontra.ready")
    assert popup.is_visible("#tab")  # the tab-audio button shows in the extension only
    name = "spoof_griffin_lim.wav"
    got = drop_file(popup, fixture_dir["clips"][name])
    assert got["score"] == pytest.approx(fixture_dir["report"][name]["score"], abs=SCORE_ATOL)
    popup.close()


def test_extension_scores_the_audio_playing_in_a_tab(extension, fixture_dir):
    context, ext_id, built = extension
    with serving(fixture_dir["root"]) as url:
        player = context.new_page()
        player.goto(url)
        player.set_content(f'<audio src="{url}bona_long.flac" autoplay loop></audio>')
        player.wait_for_function("document.querySelector('audio').currentTime > 0.2")
        popup = context.new_page()
        popup.goto(f"chrome-extension://{ext_id}/popup.html")
        popup.evaluate("window.spectcontra.ready")
        # The popup records the active tab; opened as a tab itself, it names the player instead.
        got = popup.evaluate("""async () => {
            const tabs = await chrome.tabs.query({});
            const me = await chrome.tabs.getCurrent();
            const player = tabs.find((t) => t.id !== me.id && t.index === me.index - 1);
            const reply = await chrome.runtime.sendMessage(
                {type: 'record-tab', tabId: player.id, seconds: 1.5});
            if (reply.error) return {error: reply.error};
            const blob = await (await fetch(reply.dataUrl)).blob();
            return window.spectcontra.analyze(blob, "this tab's audio");
        }""")
        assert "error" not in got, got.get("error")
        assert 1.0 < got["audioSeconds"] < 3.0 and np.isfinite(got["score"])
        assert popup.text_content("#file-name") == "this tab's audio"
        player.close()
        popup.close()
