"""Voice search: model joining, audio decoding, and real transcription of espeak-ng speech."""

from __future__ import annotations

import dataclasses
import re
from pathlib import Path

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
