"""Speech for the voice tests: espeak-ng writes WAV; PyAV re-encodes it as MP3, OGG or WebM."""

from __future__ import annotations

import io
import shutil
import subprocess

import numpy as np

ESPEAK = shutil.which("espeak-ng")
CONTAINERS = {"mp3": ("mp3", "libmp3lame"), "ogg": ("ogg", "libopus"), "webm": ("webm", "libopus")}


def speak(text: str, voice: str = "en", speed: int = 140) -> bytes:
    """WAV bytes of ``text`` spoken by espeak-ng (22.05 kHz mono)."""
    assert ESPEAK, "espeak-ng is not installed"
    out = subprocess.run([ESPEAK, "-v", voice, "-s", str(speed), "--stdout", text],
                         check=True, capture_output=True, timeout=60)
    return out.stdout


def tone_wav(seconds: float, rate: int = 16_000) -> bytes:
    import wave

    t = np.arange(int(seconds * rate)) / rate
    samples = (0.2 * np.sin(2 * np.pi * 440 * t) * 32767).astype("<i2")
    buf = io.BytesIO()
    with wave.open(buf, "wb") as w:
        w.setnchannels(1)
        w.setsampwidth(2)
        w.setframerate(rate)
        w.writeframes(samples.tobytes())
    return buf.getvalue()


def reencode(wav: bytes, fmt: str) -> bytes:
    """``wav`` re-encoded into the container ``fmt`` (mp3, ogg or webm) with PyAV."""
    import av

    container, codec = CONTAINERS[fmt]
    rate = 48_000 if codec == "libopus" else 22_050
    out = io.BytesIO()
    with av.open(io.BytesIO(wav)) as src, av.open(out, mode="w", format=container) as dst:
        stream = dst.add_stream(codec, rate=rate)
        stream.layout = "mono"
        resampler = av.AudioResampler(format=stream.format.name if stream.format else "s16", layout="mono", rate=rate)
        for frame in src.decode(audio=0):
            frame.pts = None
            for f in resampler.resample(frame):
                for packet in stream.encode(f):
                    dst.mux(packet)
        for f in resampler.resample(None):
            for packet in stream.encode(f):
                dst.mux(packet)
        for packet in stream.encode(None):
            dst.mux(packet)
    return out.getvalue()
