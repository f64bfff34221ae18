"""Voice search over HTTP: espeak-ng speech uploaded as audio, transcribed, searched."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

from devkit.service import make_settings
from shopsearch.service import create_app
from tests.optional import needs, unavailable
from tests.voice.audio import ESPEAK, reencode, speak, tone_wav

pytestmark = needs("voice", "needs Debian's espeak-ng (apt-get install espeak-ng)" if ESPEAK is None else None)


def _voice_or_skip(client) -> None:  # type: ignore[no-untyped-def]
    reason = client.app.state.service.voice_reason
    if reason:
        unavailable("voice", reason)


@pytest.mark.slow
def test_english_voice_search(client) -> None:  # type: ignore[no-untyped-def]
    _voice_or_skip(client)
    audio = reencode(speak("red cotton t-shirt"), "webm")
    files = {"audio": ("voice.webm", audio, "audio/webm")}
    r = client.post("/v1/search", files=files, data={"language": "en", "k": "3"})
    assert r.status_code == 200, r.text
    body = r.json()
    assert "red" in body["transcript"]["text"].lower() and body["transcript"]["language"] == "en"
    assert body["hits"][0]["product_id"] == "p1"
    assert 'shopsearch_searches_total{modality="voice"}' in client.get("/metrics").text


@pytest.mark.slow
def test_mandarin_voice_search(client) -> None:  # type: ignore[no-untyped-def]
    _voice_or_skip(client)
    audio = speak("男士黑色皮鞋", voice="cmn-latn-pinyin", speed=130)
    r = client.post("/v1/search", files={"audio": ("voice.wav", audio, "audio/wav")}, data={"language": "zh", "k": "3"})
    assert r.status_code == 200, r.text
    body = r.json()
    assert "皮鞋" in body["transcript"]["text"] and body["transcript"]["language"] == "zh"
    assert body["hits"][0]["product_id"] == "p3"


def test_bad_audio_uploads(client) -> None:  # type: ignore[no-untyped-def]
    _voice_or_skip(client)
    r = client.post("/v1/search", files={"audio": ("long.wav", tone_wav(9.0), "audio/wav")})
    assert r.status_code == 422 and r.json()["field"] == "audio" and "8-second" in r.json()["reason"]
    r = client.post("/v1/search", files={"audio": ("big.wav", b"RIFF" + b"\0" * (4 * 1024 * 1024), "audio/wav")})
    assert r.status_code == 413
    r = client.post("/v1/search", files={"audio": ("x.ogg", b"OggS not really", "audio/ogg")})
    assert r.status_code == 422 and r.json()["field"] == "audio"
    r = client.post("/v1/search", files={"audio": ("v.wav", speak("red"), "audio/wav")}, data={"language": "fr"})
    assert r.status_code == 422 and r.json()["field"] == "language"


def test_voice_without_the_extra_is_503(read_engine, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:  # type: ignore[no-untyped-def]
    from fastapi.testclient import TestClient

    monkeypatch.setitem(sys.modules, "faster_whisper", None)
    with TestClient(create_app(make_settings(read_engine.path, tmp_path), engine=read_engine)) as c:
        r = c.post("/v1/search", files={"audio": ("v.wav", tone_wav(1.0), "audio/wav")})
        assert r.status_code == 503 and r.json()["field"] == "audio"
        assert "shopsearch[voice]" in r.json()["reason"]
        assert "shopsearch[voice]" in c.get("/health").json()["voice"]
        assert c.post("/v1/search", json={"text": "red"}).status_code == 200  # the rest still works


def test_a_warm_service_loads_whisper_beside_the_first_searches(tiny_index: Path, tmp_path: Path) -> None:
    import gc
    import time

    from fastapi.testclient import TestClient

    try:
        with TestClient(create_app(make_settings(tiny_index, tmp_path, warmup=True))) as c:
            state = c.app.state.service  # type: ignore[attr-defined]
            assert state.transcriber is not None  # created at start-up, warmed up in a thread
            deadline = time.monotonic() + 120
            while state.transcriber._model is None and time.monotonic() < deadline:
                time.sleep(0.2)
            assert state.transcriber._model is not None
    finally:
        gc.unfreeze()
