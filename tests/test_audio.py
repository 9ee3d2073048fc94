"""Tests for audio loading, validation, resampling and silence trimming."""

from __future__ import annotations

import math
import pickle
from pathlib import Path
from types import SimpleNamespace

import numpy as np
import pytest
import soundfile as sf

from spectcontra import audio
from spectcontra.audio import AudioError, load_audio, read_audio, trim_silence
from spectcontra.conventions import MAX_AUDIO_RATE, MAX_AUDIO_SAMPLES, MIN_AUDIO_RATE

SR = 16000


def _tone(seconds: float, rate: int, freq: float = 440.0, amp: float = 0.5) -> np.ndarray:
    t = np.arange(int(round(seconds * rate))) / rate
    return (amp * np.sin(2 * np.pi * freq * t)).astype(np.float32)


def _write(path: Path, data: np.ndarray, rate: int, subtype: str | None = None) -> Path:
    sf.write(str(path), data, rate, subtype=subtype)
    return path


def test_loads_mono_float32_at_project_rate(tmp_path: Path) -> None:
    wave = _tone(0.5, SR)
    out = load_audio(_write(tmp_path / "a.flac", wave, SR), SR, max_seconds=10)
    assert out.dtype == np.float32 and out.shape == (8000,)
    np.testing.assert_allclose(out, wave, atol=1e-4)  # 16-bit quantisation only


def test_stereo_is_mixed_to_mono_by_mean(tmp_path: Path) -> None:
    left, right = _tone(0.25, SR, 300.0, 0.4), _tone(0.25, SR, 700.0, 0.2)
    path = _write(tmp_path / "st.wav", np.stack([left, right], axis=1), SR, "FLOAT")
    out = load_audio(path, SR, max_seconds=10)
    assert out.shape == (4000,)
    np.testing.assert_allclose(out, (left + right) / 2, atol=1e-6)


@pytest.mark.parametrize("rate", [8000, 44100, 22051])
def test_resampled_to_project_rate_with_right_length(tmp_path: Path, rate: int) -> None:
    # 22051 Hz is coprime with 16 kHz: it takes the polyphase path (no giant sinc kernel).
    path = _write(tmp_path / f"r{rate}.wav", _tone(0.7, rate, 440.0), rate, "FLOAT")
    n_in = sf.info(str(path)).frames
    out = load_audio(path, SR, max_seconds=10)
    assert out.dtype == np.float32
    assert out.shape == (math.ceil(n_in * SR / rate),)
    # The tone survives: its spectrum peaks at 440 Hz after resampling.
    spectrum = np.abs(np.fft.rfft(out))
    assert abs(np.argmax(spectrum) * SR / len(out) - 440.0) < 5.0


def _bad_files(tmp: Path) -> dict[str, tuple[Path, str]]:
    nan = _tone(0.1, SR)
    nan[10] = np.nan
    inf = _tone(0.1, SR)
    inf[5] = np.inf
    garbage = tmp / "garbage.wav"
    garbage.write_bytes(b"RIFF" + bytes(range(256)) * 4)
    return {
        "missing": (tmp / "nope.wav", "no such file"),
        "corrupt": (garbage, "unreadable"),
        "empty": (_write(tmp / "empty.wav", np.zeros(0, np.float32), SR), "no samples"),
        "nan": (_write(tmp / "nan.wav", nan, SR, "FLOAT"), "NaN"),
        "inf": (_write(tmp / "inf.wav", inf, SR, "FLOAT"), "NaN or infinite"),
        "silent": (_write(tmp / "silent.flac", np.zeros(1600, np.float32), SR), "silent"),
        "low_rate": (_write(tmp / "low.wav", _tone(1.0, 2000, 100.0), 2000), "below 4000"),
        "too_long": (_write(tmp / "long.wav", _tone(3.0, 8000), 8000), "longer than"),
        "high_rate": (_write(tmp / "high.wav", _tone(0.01, 400_000), 400_000),
                      "sample rate 400000 Hz is above 384000 Hz"),
    }


@pytest.mark.parametrize(
    "kind", ["missing", "corrupt", "empty", "nan", "inf", "silent", "low_rate", "too_long",
             "high_rate"]
)
def test_bad_input_raises_audio_error_naming_file(tmp_path: Path, kind: str) -> None:
    path, reason = _bad_files(tmp_path)[kind]
    with pytest.raises(AudioError) as info:
        load_audio(path, SR, max_seconds=2.0)
    assert str(path) in str(info.value)
    assert reason in str(info.value)
    assert info.value.path == path


def test_too_long_is_refused_from_header_without_reading(tmp_path, monkeypatch) -> None:
    path = _write(tmp_path / "long.flac", _tone(3.0, SR), SR)
    monkeypatch.setattr(audio.sf, "read", _no_read)
    with pytest.raises(AudioError, match="longer than"):
        load_audio(path, SR, max_seconds=2.0)


def _no_read(*args, **kwargs):
    raise AssertionError("samples were read before the header checks")


def test_frames_times_channels_is_refused_from_the_header(tmp_path, monkeypatch) -> None:
    """A 600 s, 8-channel, 384 kHz file (7 GB as float32) is refused before decoding."""
    path = _write(tmp_path / "many.wav", np.zeros((10, 8), np.float32), SR)
    header = SimpleNamespace(samplerate=384_000, channels=8, frames=600 * 384_000)
    monkeypatch.setattr(audio.sf, "info", lambda name: header)
    monkeypatch.setattr(audio.sf, "read", _no_read)
    with pytest.raises(AudioError) as info:
        load_audio(path, SR, max_seconds=600.0)
    assert str(info.value) == (
        f"bad audio file {path}: 600.0 s x 8 channels x 384000 Hz is 1,843,200,000 samples "
        f"(6.9 GiB as float32), over the {MAX_AUDIO_SAMPLES:,}-sample limit")


def test_a_real_multichannel_file_over_the_sample_limit(tmp_path, monkeypatch) -> None:
    wave = np.stack([_tone(0.5, SR, 200.0 * (c + 1)) for c in range(8)], axis=1)  # (8000, 8)
    path = _write(tmp_path / "eight.flac", wave, SR)
    np.testing.assert_allclose(load_audio(path, SR, 10.0), wave.mean(axis=1), atol=1e-4)
    monkeypatch.setattr(audio, "MAX_AUDIO_SAMPLES", 8000 * 8 - 1)
    monkeypatch.setattr(audio.sf, "read", _no_read)
    with pytest.raises(AudioError, match="0.5 s x 8 channels x 16000 Hz is 64,000 samples"):
        load_audio(path, SR, 10.0)


def test_a_flac_header_claiming_ten_hours_is_refused_unread(tmp_path, monkeypatch) -> None:
    path = _write(tmp_path / "liar.flac", _tone(0.5, SR), SR)
    data = bytearray(path.read_bytes())
    # STREAMINFO total samples: the low 36 bits of bytes 18..25 ("fLaC", a 4-byte block header).
    field = int.from_bytes(data[18:26], "big")
    field = (field & ~((1 << 36) - 1)) | (10 * 3600 * SR)
    data[18:26] = field.to_bytes(8, "big")
    path.write_bytes(bytes(data))
    monkeypatch.setattr(audio.sf, "read", _no_read)
    with pytest.raises(AudioError, match=f"{path}: 36000.0 s is longer than the 600 s limit"):
        load_audio(path, SR, 600.0)


def test_the_model_rate_itself_must_be_sane() -> None:
    for rate in (MIN_AUDIO_RATE - 1, MAX_AUDIO_RATE + 1):
        with pytest.raises(ValueError, match="sample_rate must be in"):
            load_audio("x.wav", rate, 10.0)


def test_upsampling_is_recorded(tmp_path: Path) -> None:
    for rate, upsampled in ((8000, True), (SR, False), (44100, False)):
        got = read_audio(_write(tmp_path / f"{rate}.wav", _tone(0.3, rate), rate), SR, 10.0)
        assert (got.native_rate, got.sample_rate, got.upsampled) == (rate, SR, upsampled)


def test_audio_error_survives_pickling() -> None:
    err = pickle.loads(pickle.dumps(AudioError("/x/y.wav", "silent")))
    assert isinstance(err, AudioError) and err.reason == "silent" and "/x/y.wav" in str(err)


def test_trim_removes_known_leading_and_trailing_silence() -> None:
    rng = np.random.default_rng(0)
    body = (0.3 * rng.standard_normal(SR)).astype(np.float32)  # 1 s of loud noise
    wave = np.concatenate([np.zeros(8000), body, 1e-4 * np.ones(4000)]).astype(np.float32)
    out = trim_silence(wave, SR, top_db=40.0)
    assert out.dtype == np.float32
    # Output is one contiguous span of the input: find where it starts.
    starts = [s for s in range(len(wave) - len(out) + 1)
              if np.array_equal(wave[s:s + len(out)], out)]
    assert len(starts) == 1
    start, end = starts[0], starts[0] + len(out)
    # Frames are 25 ms (400 samples) with a 10 ms hop (160): the kept span begins at most one
    # frame before the onset and ends at most one frame after the offset (the -80 dB tail goes).
    assert 8000 - 400 < start <= 8000
    assert 24000 <= end < 24000 + 400


def test_trim_keeps_all_of_constant_or_short_input() -> None:
    silent = np.zeros(16000, np.float32)
    assert trim_silence(silent, SR, 40.0).shape == silent.shape  # never empty
    short = _tone(0.01, SR)
    np.testing.assert_array_equal(trim_silence(short, SR, 40.0), short)
