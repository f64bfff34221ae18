"""Voice search: speech to text with faster-whisper and the packaged Whisper base model.

Optional (extra ``voice``): importing this package needs only NumPy; faster-whisper and the
model packages are imported when a transcription first runs, and :func:`available` says why
voice search cannot run here, naming the ``pip install`` to fix it.
"""

from __future__ import annotations

from shopsearch.voice.model import VoiceUnavailableError, model_dir
from shopsearch.voice.transcribe import (
    LANGUAGES,
    AudioError,
    Language,
    Transcriber,
    Transcript,
    VoiceConfig,
    available,
    decode_audio,
)
from shopsearch.voice.zh import to_simplified

__all__ = [
    "LANGUAGES", "AudioError", "Language", "Transcriber", "Transcript", "VoiceConfig",
    "VoiceUnavailableError", "available", "decode_audio", "model_dir", "to_simplified",
]
