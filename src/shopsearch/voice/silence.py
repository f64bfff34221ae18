"""Quiet at the ends of a recording: found by frame energy and cut before Whisper hears it.

A voice query is recorded between two taps, so it starts and ends with quiet. With an encoder
window as long as the audio (``VoiceConfig.pad_s``), every second of it costs encoder time; in
Whisper's 30 s window cutting saves nothing, and on benchmarks/voice_speed.py's validation half it
cost words (Whisper base hears a query that starts at 0 s less well), so ``VoiceConfig.trim`` is
off by default. The rule: 20 ms frames; a frame is speech when its level is above both the noise floor (the
10th-percentile frame) plus ``floor_db`` and the loudest frame minus ``range_db``; everything
before the first speech frame (less ``margin_s``) and after the last one (plus ``margin_s``) is
cut. Only the ends are cut, never a pause inside the query. Audio with no frame above the rule is
returned whole (Whisper's own no-speech check then decides).
"""

from __future__ import annotations

import numpy as np

FRAME_S = 0.02


def speech_bounds(samples: np.ndarray, rate: int, floor_db: float = 12.0, range_db: float = 40.0,
                  margin_s: float = 0.15) -> tuple[int, int]:
    """``(start, end)`` sample indices of the speech in ``samples`` (float32 mono, shape (n,)),
    ``margin_s`` wider on each side; ``(0, n)`` when no frame passes the rule."""
    n = samples.size
    size = int(FRAME_S * rate)
    frames = n // size
    if frames < 3:
        return 0, n
    power = np.square(samples[: frames * size].astype(np.float64)).reshape(frames, size).mean(axis=1)
    level = 10.0 * np.log10(power + 1e-12)
    threshold = max(float(np.percentile(level, 10)) + floor_db, float(level.max()) - range_db)
    loud = np.flatnonzero(level > threshold)
    if loud.size == 0:
        return 0, n
    margin = int(margin_s * rate)
    return max(0, int(loud[0]) * size - margin), min(n, (int(loud[-1]) + 1) * size + margin)


def trim_silence(samples: np.ndarray, rate: int, margin_s: float = 0.15) -> np.ndarray:
    """``samples`` without the quiet at both ends (a view; see the module docstring)."""
    start, end = speech_bounds(samples, rate, margin_s=margin_s)
    return samples[start:end]
