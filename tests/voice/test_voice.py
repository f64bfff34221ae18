"""Voice search: model joining, audio decoding, and real transcription of espeak-ng speech."""

from __future__ import annotations

import dataclasses
import re
from pathlib import Path

import numpy as np
import pytest

from shopsearch.voice import (
    AudioError,
    Transcriber,
    VoiceConfig,
    VoiceUnavailableError,
    available,
    decode_audio,
    model_dir,
    to_simplified,
)
from shopsearch.voice.model import WHISPER_BASE
from tests.optional import needs, unavailable
from tests.voice.audio import ESPEAK, reencode, speak, tone_wav

# the voice extra (faster-whisper, PyAV, the model packages): every test here needs it
pytestmark = needs("voice", available())

needs_espeak = needs("voice", "needs Debian's espeak-ng (apt-get install espeak-ng)" if ESPEAK is None else None)
# Characters that exist only in traditional Chinese (their simplified forms differ).
TRADITIONAL = re.compile("[藍紅綠黃襯褲運動裝衛鐘錶們這個說話門開關]")


@pytest.fixture(scope="module")
def transcriber() -> Transcriber:
    reason = available()
    if reason:
        unavailable("voice", reason)
    t = Transcriber(VoiceConfig(max_seconds=10))
    t.warm_up()
    return t


def test_model_is_joined_once_verified_and_reused(tmp_path: Path) -> None:
    out = model_dir(root=tmp_path)
    target = out / "model.bin"
    assert target.stat().st_size == WHISPER_BASE.size
    assert {p.name for p in out.iterdir()} == {"model.bin", "config.json", "tokenizer.json", "vocabulary.txt"}
    mtime = target.stat().st_mtime_ns
    assert model_dir(root=tmp_path) == out and target.stat().st_mtime_ns == mtime  # reused, not rejoined
    wrong = dataclasses.replace(WHISPER_BASE, name="whisper-wrong", sha256="0" * 64)
    with pytest.raises(VoiceUnavailableError, match="SHA-256"):
        model_dir(wrong, root=tmp_path)
    assert not list((tmp_path / "whisper-wrong").glob("model.bin*"))  # no half-written file left
    missing = dataclasses.replace(WHISPER_BASE, name="whisper-missing", parts=(("no_such_package_xyz", "a"),))
    with pytest.raises(VoiceUnavailableError, match="voice"):
        model_dir(missing, root=tmp_path)


@needs_espeak
@pytest.mark.parametrize("fmt", ["wav", "mp3", "ogg", "webm"])
def test_decode_formats_to_16khz_mono(fmt: str) -> None:
    wav = speak("red dress")
    data = wav if fmt == "wav" else reencode(wav, fmt)
    samples = decode_audio(data, max_seconds=10)
    assert samples.dtype.name == "float32" and samples.ndim == 1
    assert 0.5 < samples.size / 16_000 < 3 and 0.01 < abs(samples).max() <= 1.0


def test_bad_audio() -> None:
    with pytest.raises(AudioError, match="empty"):
        decode_audio(b"", 10)
    with pytest.raises(AudioError, match="could not be decoded"):
        decode_audio(b"RIFF\x00\x00\x00\x00WAVEjunkjunkjunk", 10)
    with pytest.raises(AudioError, match=r"could not be decoded|no audio"):
        decode_audio(b"\x89PNG\r\n\x1a\n" + b"\x00" * 100, 10)
    with pytest.raises(AudioError, match="longer than the 2-second limit"):
        decode_audio(tone_wav(3.0), 2)
    assert decode_audio(tone_wav(1.5), 2).size == 24_000


def test_simplified_conversion(monkeypatch: pytest.MonkeyPatch) -> None:
    assert to_simplified("藍色運動鞋 襯衫 褲子") == "蓝色运动鞋 衬衫 裤子"
    from shopsearch.voice import zh

    zh._converter.cache_clear()
    monkeypatch.setitem(__import__("sys").modules, "opencc", None)  # the fallback table
    try:
        assert zh.to_simplified("紅色連衣裙 藍色襯衫") == "红色连衣裙 蓝色衬衫"
    finally:
        zh._converter.cache_clear()


def test_unavailable_names_the_extra(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(__import__("sys").modules, "faster_whisper", None)
    reason = available()
    assert reason and "shopsearch[voice]" in reason
    with pytest.raises(VoiceUnavailableError, match=r"shopsearch\[voice\]"):
        Transcriber()._load()


def test_bad_language(transcriber: Transcriber) -> None:
    with pytest.raises(ValueError, match="language"):
        transcriber.transcribe(tone_wav(1), "fr")  # type: ignore[arg-type]


@pytest.mark.slow
@needs_espeak
@pytest.mark.parametrize("language", ["en", "auto"])
def test_english_speech(transcriber: Transcriber, language: str) -> None:
    t = transcriber.transcribe(reencode(speak("black leather shoes for men"), "webm"), language)  # type: ignore[arg-type]
    words = t.text.lower()
    assert t.language == "en" and "black" in words and "leather" in words and "shoes" in words, t
    assert 1 < t.duration_s < 5


@pytest.mark.slow
@needs_espeak
@pytest.mark.parametrize("spoken, expected", [
    ("男士黑色皮鞋", ("黑色", "皮鞋")), ("蓝色牛仔裤", ("蓝色", "牛仔裤")), ("白色运动鞋", ("白色", "运动鞋")),
])
def test_mandarin_speech_in_simplified_characters(transcriber: Transcriber, spoken: str, expected: tuple) -> None:
    t = transcriber.transcribe(speak(spoken, voice="cmn-latn-pinyin", speed=130), "zh")
    assert t.language == "zh"
    for word in expected:
        assert word in t.text, t
    assert not TRADITIONAL.search(t.text), t


# -- the settings chosen by benchmarks/voice_speed.py, and that they reach the model -------------


def test_voice_config_refuses_bad_values() -> None:
    for bad, match in (({"compute_type": "int4"}, "compute_type"), ({"trim": "vad"}, "trim"),
                       ({"pad_s": -1.0}, "pad_s"), ({"pad_s": 31.0}, "pad_s"), ({"beam_size": 0}, "beam_size"),
                       ({"threads": 0}, "threads"), ({"tokens_per_s": 0.0}, "tokens_per_s")):
        with pytest.raises(ValueError, match=match):
            VoiceConfig(**bad)  # type: ignore[arg-type]
    c = VoiceConfig()
    assert c.max_new_tokens(2.0) == 8 + 30 and c.max_new_tokens(10.0) == 48  # bounded by the audio, then 48


def test_encoder_window() -> None:
    from shopsearch.voice.whisper import window_frames

    assert window_frames(200, None) == 3000  # Whisper's 30 s
    assert window_frames(200, 1.0) == 300 and window_frames(201, 1.0) == 350  # rounded up to 0.5 s
    assert window_frames(2900, 2.0) == 3000 and window_frames(10, 0.0) == 50


def test_trim_silence_cuts_the_quiet_ends_only() -> None:
    from shopsearch.voice.silence import trim_silence

    rate = 16_000
    rng = np.random.default_rng(0)
    t = np.arange(rate // 2) / rate
    word = (0.3 * np.sin(2 * np.pi * 300 * t)).astype(np.float32)
    quiet = np.zeros(rate // 2, np.float32)
    audio = np.concatenate([quiet, quiet, word, quiet, word, quiet]) + rng.normal(0, 0.002, 3 * rate).astype(np.float32)
    out = trim_silence(audio, rate, margin_s=0.1)
    assert abs(out.size / rate - (1.5 + 0.2)) < 0.05  # word + pause + word, 0.1 s either side
    assert trim_silence(quiet, rate).size == quiet.size  # nothing loud: kept whole


class _Spy:
    """Forwards to the real CTranslate2 model and records each call and its arguments."""

    def __init__(self, inner: object) -> None:
        self.inner = inner
        self.calls: list[tuple[str, tuple, dict]] = []

    def __getattr__(self, name: str) -> object:
        attr = getattr(self.inner, name)
        if not callable(attr):
            return attr

        def call(*args: object, **kwargs: object) -> object:
            self.calls.append((name, args, kwargs))
            return attr(*args, **kwargs)

        return call


@pytest.fixture
def spied(monkeypatch: pytest.MonkeyPatch) -> list[tuple[dict, _Spy]]:
    """Every WhisperModel created from now on: its constructor's arguments and a spy on its
    CTranslate2 model."""
    reason = available()
    if reason:
        unavailable("voice", reason)
    import faster_whisper

    real = faster_whisper.WhisperModel
    made: list[tuple[dict, _Spy]] = []

    def factory(*args: object, **kwargs: object) -> object:
        model = real(*args, **kwargs)
        model.model = _Spy(model.model)
        made.append((kwargs, model.model))
        return model

    monkeypatch.setattr(faster_whisper, "WhisperModel", factory)
    return made


@pytest.mark.slow
@needs_espeak
def test_default_options_reach_the_model(spied: list[tuple[dict, _Spy]]) -> None:
    config = VoiceConfig()
    t = Transcriber(config)
    wav = speak("black leather shoes for men")
    out = t.transcribe(wav, "auto")
    assert out.language == "en" and "shoes" in out.text.lower(), out
    (kwargs, spy), = spied
    assert kwargs["compute_type"] == config.compute_type == "int8" and kwargs["cpu_threads"] == config.threads == 2
    # one encoder run in Whisper's 30 s window; the language read from that same output
    assert [name for name, _, _ in spy.calls] == ["encode", "detect_language", "generate"]
    assert list(spy.calls[0][1][0].shape) == [1, 80, 3000]
    _, (_, prompts), gen = spy.calls[2]
    assert gen["beam_size"] == config.beam_size == 1 and gen["no_repeat_ngram_size"] == 3
    seconds = decode_audio(wav, 10).size / 16_000
    assert gen["max_length"] == len(prompts[0]) + config.max_new_tokens(seconds)
    assert gen["return_no_speech_prob"] and len(prompts[0]) == 4  # sot, en, transcribe, notimestamps


@pytest.mark.slow
@needs_espeak
def test_other_options_reach_the_model(spied: list[tuple[dict, _Spy]]) -> None:
    config = VoiceConfig(threads=1, compute_type="float32", beam_size=2, pad_s=2.0, trim="energy")
    t = Transcriber(config)
    wav = speak("black leather shoes for men")
    t.transcribe(wav, "en")
    zh = t.transcribe(speak("男士黑色皮鞋", voice="cmn-latn-pinyin", speed=130), "zh")
    (kwargs, spy), = spied
    assert kwargs["compute_type"] == "float32" and kwargs["cpu_threads"] == 1
    names = [name for name, _, _ in spy.calls]
    assert names == ["encode", "generate", "encode", "generate"]  # language given: no detection
    seconds = decode_audio(wav, 10).size / 16_000
    frames = spy.calls[0][1][0].shape[-1]
    assert frames % 50 == 0 and frames < seconds * 100 + 250  # trimmed speech + 2 s, not 30 s
    assert spy.calls[1][2]["beam_size"] == 2
    zh_prompt = spy.calls[3][1][1][0]
    assert len(zh_prompt) > 4 and zh.language == "zh"  # the shopping-word prompt before sot


@pytest.mark.slow
def test_recordings_longer_than_the_window_take_faster_whispers_loop(spied: list[tuple[dict, _Spy]]) -> None:
    t = Transcriber(VoiceConfig(max_seconds=40))
    out = t.transcribe(tone_wav(31.0), "en")
    assert out.duration_s == 31.0
    (_, spy), = spied
    encodes = [args[0].shape for name, args, _ in spy.calls if name == "encode"]
    assert len(encodes) == 2 and all(list(s)[-1] == 3000 for s in encodes)  # two 30 s windows


def test_warm_up_runs_the_model_once(spied: list[tuple[dict, _Spy]]) -> None:
    t = Transcriber()
    t.warm_up()
    (_, spy), = spied
    assert [name for name, _, _ in spy.calls] == ["encode", "generate"]
