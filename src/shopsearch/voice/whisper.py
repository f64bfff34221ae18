"""One short query through Whisper: one encoder run, the language and the text read from it.

Why not ``WhisperModel.transcribe``: when the language is to be detected, faster-whisper runs
the encoder twice (once to detect, once to transcribe), and the encoder is most of the cost.
Here a query is encoded once; the language is read from that encoder output, among the
languages the shop searches in; the text is decoded from it with faster-whisper's own decoding
rules for one window at temperature 0 (the prompt layout, the suppressed tokens, the no-speech
check), so with the language given the transcript is the same as faster-whisper's.

The window: Whisper's 30 s (3,000 mel frames, the audio zero-padded as faster-whisper pads it)
unless ``pad_s`` asks for the speech plus ``pad_s`` seconds (CTranslate2 accepts windows shorter
than 3,000 frames). A short window is several times cheaper, but Whisper base was trained on
30 s windows only and lost words with every shorter window benchmarks/voice_speed.py tried, so
the default keeps 30 s (benchmarks/results/voice_speed.md).

Thread-safe: the CTranslate2 model may be called concurrently; the tokenizers are read-only.
"""
from __future__ import annotations

import math
import threading
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import numpy as np

SAMPLE_RATE = 16_000
FRAMES_PER_S = 100  # mel frames per second (hop 160 at 16 kHz)
FULL_WINDOW = 3000  # Whisper's 30 s
WINDOW_STEP = 50  # windows are rounded up to 0.5 s: few distinct shapes for the encoder
# faster-whisper's defaults for the no-speech rule (no_speech_threshold, log_prob_threshold)
NO_SPEECH_PROB = 0.6
LOG_PROB_THRESHOLD = -1.0


def window_frames(content_frames: int, pad_s: float | None) -> int:
    """Mel frames the encoder sees for ``content_frames`` of audio: ``content + pad_s`` seconds,
    rounded up to :data:`WINDOW_STEP`, at most 30 s; ``pad_s=None``: always 30 s."""
    if pad_s is None:
        return FULL_WINDOW
    frames = content_frames + round(pad_s * FRAMES_PER_S)
    return min(FULL_WINDOW, max(WINDOW_STEP, math.ceil(frames / WINDOW_STEP) * WINDOW_STEP))


@dataclass(frozen=True)
class Decoded:
    text: str  # as Whisper wrote it (traditional Chinese not yet simplified)
    language: str
    window_frames: int
    no_speech: bool  # True when the no-speech rule emptied the text


class ShortDecoder:
    """Decodes single short windows with a loaded ``faster_whisper.WhisperModel``."""

    def __init__(self, model: Any) -> None:
        self.model = model
        self._tokenizers: dict[str, tuple[Any, tuple[int, ...]]] = {}
        self._lock = threading.Lock()

    def _tokenizer(self, language: str) -> tuple[Any, tuple[int, ...]]:
        """The tokenizer for ``language`` and its suppressed tokens (computed once)."""
        cached = self._tokenizers.get(language)
        if cached is None:
            from faster_whisper.tokenizer import Tokenizer
            from faster_whisper.transcribe import get_suppressed_tokens

            tok = Tokenizer(self.model.hf_tokenizer, self.model.model.is_multilingual, task="transcribe",
                            language=language)
            suppressed = tuple(get_suppressed_tokens(tok, [-1]) or ())
            with self._lock:
                cached = self._tokenizers.setdefault(language, (tok, suppressed))
        return cached

    def features(self, samples: np.ndarray, pad_s: float | None) -> np.ndarray:
        """Log-mel features of ``samples`` in the encoder's window, float32 (1, n_mels, frames);
        padded with zeros past the audio, as faster-whisper pads its 30 s window."""
        mel = self.model.feature_extractor(samples)
        content = mel.shape[-1] - 1  # faster-whisper's count: the last frame is the STFT's padding
        frames = window_frames(content, pad_s)
        out = np.zeros((mel.shape[0], frames), dtype=np.float32)
        keep = min(content, frames)
        out[:, :keep] = mel[:, :keep]
        return out[None]

    def decode(self, samples: np.ndarray, language: str | None, *, languages: tuple[str, ...],
               pad_s: float | None, beam_size: int, prompts: Mapping[str, str], max_new_tokens: int) -> Decoded:
        """Transcribe ``samples`` (float32 mono at 16 kHz, shape (n,), at most 30 s).

        ``language`` None: detected among ``languages`` (all of Whisper's when empty), from the
        same encoder output the text is decoded from. ``prompts``: earlier text for the decoder
        per language (given or detected), e.g. shopping words for Chinese.
        """
        ct2 = self.model.model  # the CTranslate2 Whisper model
        feats = self.features(samples, pad_s)
        encoded = self.model.encode(feats)
        if language is None:
            ranked = ct2.detect_language(encoded)[0]  # [(token "<|en|>", probability)], best first
            codes = [tok[2:-2] for tok, _ in ranked]
            language = next((c for c in codes if not languages or c in languages), codes[0])
        tok, suppressed = self._tokenizer(language)
        tokens: list[int] = []
        prompt = prompts.get(language)
        if prompt:
            tokens = [tok.sot_prev, *tok.encode(" " + prompt.strip())]
        tokens += [*tok.sot_sequence, tok.no_timestamps]
        result = ct2.generate(
            encoded, [tokens], beam_size=beam_size, patience=1.0, length_penalty=1.0, repetition_penalty=1.0,
            no_repeat_ngram_size=3, max_length=len(tokens) + max_new_tokens, return_scores=True,
            return_no_speech_prob=True, suppress_blank=True, suppress_tokens=list(suppressed),
            max_initial_timestamp_index=50,
        )[0]
        ids = result.sequences_ids[0]
        avg_logprob = result.scores[0] * len(ids) / (len(ids) + 1)  # faster-whisper's recovery
        silent = result.no_speech_prob > NO_SPEECH_PROB and avg_logprob <= LOG_PROB_THRESHOLD
        text = "" if silent else tok.decode(ids).strip()
        return Decoded(text=text, language=language, window_frames=feats.shape[-1], no_speech=silent)
