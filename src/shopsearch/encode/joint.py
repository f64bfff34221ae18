"""The trained text<->image alignment model at inference time (numpy only at query time).

Frozen backbones (e5-small for text, EfficientNet-Lite0 for images) produce features; two small
trained heads map them into one joint space where a shopper's words and a product's photo can
be compared by dot product. A model directory holds ``config.json`` (format version, backbone
names and dims, head shapes), ``heads.npz`` (head weights), ``MODEL_CARD.md`` and the training
record. Loading needs no torch; the backbones are created lazily, on first use.

The steps are split so an indexer can cache the expensive backbone part:
``image_features`` -> ``project_images`` and ``text_features`` -> ``project_texts``.

:class:`ZeroShotLabelScorer` is the fallback for catalogues with no trained model: an image is
described by its top ImageNet labels (and its dominant colour names), embedded as text.
"""

from __future__ import annotations

import json
import logging
import threading
from collections.abc import Sequence
from importlib import resources
from pathlib import Path
from typing import Any, Literal

import numpy as np

from shopsearch.encode.base import ImageEncoder, TextEncoder, l2_normalize
from shopsearch.preprocess.color import COLOR_DIM, HUE_BINS, SAT_BINS, VAL_BINS, color_histogram
from shopsearch.preprocess.image import ImageInput, load_image
from shopsearch.preprocess.lexicon import Lexicon, default_lexicon

logger = logging.getLogger(__name__)

FORMAT = "shopsearch-joint"
FORMAT_VERSION = 1
DEFAULT_MODEL = "fashion-joint-v1"
CONFIG_FILE = "config.json"
WEIGHTS_FILE = "heads.npz"
COLOR_FEATURE = "color-hsv-v1"
_EXTRA_DIMS = {COLOR_FEATURE: COLOR_DIM}
# Where the heads run: ONNX Runtime ("auto" when installed) or numpy. Measured in
# benchmarks/results/speed_encoders.md: ONNX Runtime (one thread) is faster for one query vector
# and for batches, and avoids BLAS thread wake-ups that cost milliseconds on a busy machine.
HeadRuntime = Literal["auto", "onnx", "numpy"]


class ModelFormatError(ValueError):
    """A model directory is missing, of another format version, or mismatches its backbones."""


def default_model_dir() -> Path:
    """The model directory shipped inside the package (``shopsearch/models/<DEFAULT_MODEL>``)."""
    return Path(str(resources.files("shopsearch").joinpath("models", DEFAULT_MODEL)))


class JointEncoder:
    """Trained heads over frozen backbones; every output is float32 (n, dim), L2-normalised.

    Attributes: ``name``, ``version``, ``dim`` (joint space), ``text_backbone``,
    ``image_backbone`` (registry names), ``image_feature_dim``, ``text_feature_dim``.
    """

    def __init__(
        self, config: dict[str, Any], params: dict[str, np.ndarray], *,
        text_encoder: TextEncoder | None = None, image_encoder: ImageEncoder | None = None,
        lexicon: Lexicon | None = None, source: str = "<memory>", runtime: HeadRuntime = "auto",
    ) -> None:
        _check_config(config, params, source)
        if runtime not in ("auto", "onnx", "numpy"):
            raise ValueError(f"runtime must be auto, onnx or numpy, got {runtime!r}")
        self.runtime = runtime
        self._sessions: dict[str, Any] = {}
        self._session_lock = threading.Lock()
        self.config = config
        self.params = params
        self.name: str = config["name"]
        self.version: str = str(config["version"])
        self.dim: int = int(config["dim"])
        self.text_backbone: str = config["text_backbone"]["name"]
        self.image_backbone: str = config["image_backbone"]["name"]
        self.image_extras: tuple[str, ...] = tuple(config.get("image_extras", ()))
        self.image_feature_dim = int(config["image_backbone"]["dim"]) + sum(
            _EXTRA_DIMS[e] for e in self.image_extras
        )
        self.text_feature_dim = int(config["text_backbone"]["dim"])
        self.normalize_queries = bool(config.get("lexicon_normalisation", True))
        from shopsearch.encode.registry import feature_space

        for enc, want, dim, side in (
            (text_encoder, self.text_backbone, self.text_feature_dim, "text"),
            (image_encoder, self.image_backbone, int(config["image_backbone"]["dim"]), "image"),
        ):
            # a quantised variant of the backbone (efficientnet-lite0-int8) shares its feature space
            if enc is not None and (feature_space(enc.name) != want or enc.dim != dim):
                raise ModelFormatError(
                    f"{source}: model needs the {side} backbone {want!r} ({dim}-d), "
                    f"got {enc.name!r} ({enc.dim}-d)"
                )
        self._text_encoder = text_encoder
        self._image_encoder = image_encoder
        self._lexicon = lexicon

    # -- loading -----------------------------------------------------------------------

    @classmethod
    def load(
        cls, model_dir: str | Path | None = None, *, text_encoder: TextEncoder | None = None,
        image_encoder: ImageEncoder | None = None, runtime: HeadRuntime = "auto",
    ) -> JointEncoder:
        """Open a model directory (None = the packaged default, :func:`default_model_dir`).

        Raises :class:`ModelFormatError` when the directory or its files are missing, the format
        or version differs, or the backbones (names, dims) or weight shapes do not match.
        """
        path = Path(model_dir) if model_dir is not None else default_model_dir()
        cfg_path = path / CONFIG_FILE
        if not cfg_path.is_file():
            raise ModelFormatError(f"{path}: not a joint model directory (no {CONFIG_FILE})")
        try:
            config = json.loads(cfg_path.read_text(encoding="utf-8"))
        except json.JSONDecodeError as exc:
            raise ModelFormatError(f"{cfg_path}: invalid JSON ({exc})") from exc
        weights = path / WEIGHTS_FILE
        if not weights.is_file():
            raise ModelFormatError(f"{path}: missing {WEIGHTS_FILE}")
        with np.load(weights, allow_pickle=False) as npz:
            params = {k: np.asarray(npz[k], dtype=np.float32) for k in npz.files}
        return cls(config, params, text_encoder=text_encoder, image_encoder=image_encoder,
                   source=str(path), runtime=runtime)

    # -- backbones (lazy) ---------------------------------------------------------------

    @property
    def text_encoder(self) -> TextEncoder:
        if self._text_encoder is None:
            from shopsearch.encode.registry import create_encoder

            self._text_encoder = create_encoder(self.text_backbone)  # type: ignore[assignment]
        return self._text_encoder  # type: ignore[return-value]

    @property
    def image_encoder(self) -> ImageEncoder:
        if self._image_encoder is None:
            from shopsearch.encode.registry import create_encoder

            self._image_encoder = create_encoder(self.image_backbone)  # type: ignore[assignment]
        return self._image_encoder  # type: ignore[return-value]

    @property
    def lexicon(self) -> Lexicon:
        if self._lexicon is None:
            self._lexicon = default_lexicon()
        return self._lexicon

    # -- features (backbones) -----------------------------------------------------------

    def normalize_query(self, text: str) -> str:
        """The query as the text head sees it (Chinese lexicon terms -> English)."""
        return self.lexicon.normalize_query(text) if self.normalize_queries else text

    def text_features(self, texts: Sequence[str], is_query: bool = True) -> np.ndarray:
        """Backbone text features, float32 (n, text_feature_dim).

        Queries are normalised through the bilingual lexicon first. Both sides use the e5
        ``query:`` prefix: the heads were trained on query-prefixed training texts, and
        product-side texts (titles, attribute phrases) are short like queries.
        """
        texts = [self.normalize_query(t) for t in texts] if is_query else list(texts)
        if not texts:
            return np.zeros((0, self.text_feature_dim), np.float32)
        return self.text_encoder.embed_queries(texts)

    def image_features(self, images: Sequence[ImageInput]) -> np.ndarray:
        """Backbone features plus extras (colour histogram), float32 (n, image_feature_dim)."""
        if not len(images):
            return np.zeros((0, self.image_feature_dim), np.float32)
        pil = [load_image(im) for im in images]
        return self.image_features_from(self.image_encoder.embed_images(pil), pil)

    def image_features_from(self, backbone: np.ndarray, images: Sequence[ImageInput]) -> np.ndarray:
        """:meth:`image_features` given the backbone's features of ``images`` already
        (float32 (n, backbone dim), as the image encoder returns them): the indexer computes
        them once for the image-to-image signal and reuses them here."""
        backbone = _as_2d(backbone, int(self.config["image_backbone"]["dim"]), "image backbone")
        parts = [backbone]
        if COLOR_FEATURE in self.image_extras:
            parts.append(np.stack([color_histogram(load_image(im)) for im in images])
                         if len(images) else np.zeros((0, _EXTRA_DIMS[COLOR_FEATURE]), np.float32))
        return np.concatenate(parts, axis=1).astype(np.float32)

    # -- projections (numpy) ------------------------------------------------------------

    def project_images(self, features: np.ndarray) -> np.ndarray:
        """Image features (n, image_feature_dim) -> joint space (n, dim), L2-normalised."""
        return self._project("image", _as_2d(features, self.image_feature_dim, "image"))

    def project_texts(self, features: np.ndarray) -> np.ndarray:
        """Text features (n, text_feature_dim) -> joint space (n, dim), L2-normalised."""
        return self._project("text", _as_2d(features, self.text_feature_dim, "text"))

    def _project(self, side: str, features: np.ndarray) -> np.ndarray:
        session = self._head_session(side)
        if session is None or features.shape[0] == 0:
            return project(self.params, side, features)
        return session.run(None, {"features": np.ascontiguousarray(features)})[0]

    def _head_session(self, side: str) -> Any:
        """The ONNX Runtime session of one head (built on first use), or None for numpy."""
        if self.runtime == "numpy":
            return None
        if side not in self._sessions:
            with self._session_lock:
                if side not in self._sessions:
                    self._sessions[side] = _onnx_session(self.params, side, required=self.runtime == "onnx")
        return self._sessions[side]

    # -- end to end -------------------------------------------------------------------

    def embed_queries(self, texts: Sequence[str]) -> np.ndarray:
        """Shopper queries (English or Chinese) -> float32 (n, dim)."""
        return self.project_texts(self.text_features(texts, is_query=True))

    def embed_texts(self, texts: Sequence[str]) -> np.ndarray:
        """Product-side texts -> float32 (n, dim), in the same space as the images."""
        return self.project_texts(self.text_features(texts, is_query=False))

    def embed_images(self, images: Sequence[ImageInput]) -> np.ndarray:
        """Images (paths, bytes or PIL) -> float32 (n, dim)."""
        return self.project_images(self.image_features(images))


def project(params: dict[str, np.ndarray], side: str, features: np.ndarray) -> np.ndarray:
    """The numpy forward of one head (see :mod:`shopsearch.training.heads`)."""
    x = (features.astype(np.float32) - params[f"{side}.mean"]) / params[f"{side}.std"]
    y = x @ params[f"{side}.w"] + params[f"{side}.b"]
    if f"{side}.w1" in params:
        h = x @ params[f"{side}.w1"] + params[f"{side}.b1"]
        h = 0.5 * h * (1.0 + np.tanh(0.7978845608028654 * (h + 0.044715 * h**3)))
        y = y + h @ params[f"{side}.w2"] + params[f"{side}.b2"]
    return l2_normalize(y)


def head_onnx_model(params: dict[str, np.ndarray], side: str) -> Any:
    """One head (``side`` = "text" or "image") as an ONNX graph (``onnx.ModelProto``) computing
    what :func:`project` computes: features float32 (n, in) -> (n, dim), L2-normalised."""
    import onnx
    from onnx import TensorProto, helper, numpy_helper

    def const(name: str, value: Any) -> Any:
        return numpy_helper.from_array(np.asarray(value, dtype=np.float32), name)

    p = {k[len(side) + 1:]: v for k, v in params.items() if k.startswith(side + ".")}
    if not {"mean", "std", "w", "b"} <= set(p):
        raise ValueError(f"params lack the {side!r} head (need {side}.mean, .std, .w, .b)")
    in_dim, dim = p["w"].shape
    inits = [const(n, p[n]) for n in ("mean", "std", "w", "b")]
    node = helper.make_node
    nodes = [node("Sub", ["features", "mean"], ["centred"]), node("Div", ["centred", "std"], ["x"]),
             node("MatMul", ["x", "w"], ["xw"]), node("Add", ["xw", "b"], ["linear"])]
    out = "linear"
    if "w1" in p:
        inits += [const(n, p[n]) for n in ("w1", "b1", "w2", "b2")]
        inits += [const("c_half", 0.5), const("c_one", 1.0), const("c_sqrt", 0.7978845608028654),
                  const("c_cube", 0.044715)]
        # gelu, tanh approximation: 0.5 h (1 + tanh(sqrt(2/pi) (h + 0.044715 h^3)))
        nodes += [node("MatMul", ["x", "w1"], ["xw1"]), node("Add", ["xw1", "b1"], ["h"]),
                  node("Mul", ["h", "h"], ["h2"]), node("Mul", ["h2", "h"], ["h3"]),
                  node("Mul", ["h3", "c_cube"], ["h3c"]), node("Add", ["h", "h3c"], ["inner"]),
                  node("Mul", ["inner", "c_sqrt"], ["inner_s"]), node("Tanh", ["inner_s"], ["t"]),
                  node("Add", ["t", "c_one"], ["t1"]), node("Mul", ["h", "t1"], ["ht"]),
                  node("Mul", ["ht", "c_half"], ["g"]), node("MatMul", ["g", "w2"], ["gw2"]),
                  node("Add", ["gw2", "b2"], ["mlp"]), node("Add", ["linear", "mlp"], ["y"])]
        out = "y"
    nodes.append(node("LpNormalization", [out], ["embeddings"], axis=1, p=2))
    graph = helper.make_graph(
        nodes, f"shopsearch-{side}-head", [helper.make_tensor_value_info("features", TensorProto.FLOAT, ["n", in_dim])],
        [helper.make_tensor_value_info("embeddings", TensorProto.FLOAT, ["n", dim])], initializer=inits)
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)], producer_name="shopsearch")
    onnx.checker.check_model(model)
    return model


def _onnx_session(params: dict[str, np.ndarray], side: str, required: bool) -> Any:
    """An ONNX Runtime session (one thread: the heads are small) for one head; None when ONNX
    Runtime is not installed and not ``required``."""
    try:
        import onnx  # noqa: F401
        import onnxruntime as ort
    except ImportError:
        if required:
            raise ImportError("runtime='onnx' needs: pip install onnxruntime onnx") from None
        return None
    options = ort.SessionOptions()
    options.intra_op_num_threads = 1
    options.inter_op_num_threads = 1
    options.log_severity_level = 3
    model = head_onnx_model(params, side).SerializeToString()
    return ort.InferenceSession(model, options, providers=["CPUExecutionProvider"])


def _as_2d(features: np.ndarray, dim: int, side: str) -> np.ndarray:
    arr = np.asarray(features, dtype=np.float32)
    if arr.ndim != 2 or arr.shape[1] != dim:
        raise ValueError(f"{side} features must have shape (n, {dim}), got {arr.shape}")
    return arr


def _check_config(config: dict[str, Any], params: dict[str, np.ndarray], source: str) -> None:
    from shopsearch.encode.registry import model_info

    if config.get("format") != FORMAT:
        raise ModelFormatError(f"{source}: format {config.get('format')!r}, expected {FORMAT!r}")
    if config.get("format_version") != FORMAT_VERSION:
        raise ModelFormatError(
            f"{source}: format version {config.get('format_version')!r} is not supported "
            f"(this shopsearch reads version {FORMAT_VERSION}); retrain or upgrade shopsearch"
        )
    for key in ("name", "version", "dim", "text_backbone", "image_backbone"):
        if key not in config:
            raise ModelFormatError(f"{source}: config.json lacks {key!r}")
    for side in ("text_backbone", "image_backbone"):
        bb = config[side]
        try:
            info = model_info(bb["name"])
        except ValueError as exc:
            raise ModelFormatError(f"{source}: {side}: {exc}") from None
        if info.dim != bb.get("dim"):
            raise ModelFormatError(
                f"{source}: {side} {bb['name']!r} is {info.dim}-d here but the model was "
                f"trained on {bb.get('dim')!r}-d features"
            )
    unknown = [e for e in config.get("image_extras", ()) if e not in _EXTRA_DIMS]
    if unknown:
        raise ModelFormatError(
            f"{source}: unknown image feature extras {unknown}; known: {sorted(_EXTRA_DIMS)}"
        )
    in_dims = {
        "image": config["image_backbone"]["dim"]
        + sum(_EXTRA_DIMS[e] for e in config.get("image_extras", ())),
        "text": config["text_backbone"]["dim"],
    }
    for side, in_dim in in_dims.items():
        for key in ("mean", "std", "w", "b"):
            if f"{side}.{key}" not in params:
                raise ModelFormatError(f"{source}: {WEIGHTS_FILE} lacks {side}.{key}")
        w = params[f"{side}.w"]
        if w.shape != (in_dim, config["dim"]):
            raise ModelFormatError(
                f"{source}: {side}.w has shape {w.shape}, expected ({in_dim}, {config['dim']})"
            )


# --------------------------------------------------------------------------- zero-shot

# A colour name for each chromatic histogram bin (hue bin of 30 degrees x saturation x value)
# and for the achromatic value bins, used to say an image's dominant colours in words.
_HUE_NAMES = ("red", "orange", "yellow", "yellow green", "green", "green", "teal", "blue",
              "blue", "purple", "magenta", "pink")
_DARK_HUE_NAMES = ("maroon", "brown", "olive", "olive", "green", "green", "teal", "navy blue",
                   "navy blue", "purple", "maroon", "maroon")
_GREY_NAMES = ("black", "charcoal", "grey", "light grey", "white")


def _color_bin_names() -> list[str]:
    names = []
    for h in range(HUE_BINS):
        for _s in range(SAT_BINS):
            for v in range(VAL_BINS):
                names.append(_DARK_HUE_NAMES[h] if v == 0 else _HUE_NAMES[h])
    return names + list(_GREY_NAMES)


def imagenet_labels() -> list[str]:
    """The 1000 ImageNet-1k class names, in class-index order (packaged data file)."""
    text = resources.files("shopsearch").joinpath("data", "imagenet_labels.txt").read_text("utf-8")
    labels = [line.strip() for line in text.splitlines() if line.strip() and not line.startswith("#")]
    if len(labels) != 1000:
        raise RuntimeError(f"imagenet_labels.txt has {len(labels)} labels, expected 1000")
    return labels


class ZeroShotLabelScorer:
    """Zero-shot image scoring for catalogues without a trained model.

    An image becomes a vector in the text encoder's space: the probability-weighted mean of
    the embeddings of its top-``k`` ImageNet labels, mixed (``color_weight``) with the
    histogram-weighted embeddings of its colour names. A query, embedded by the same text
    encoder (after lexicon normalisation), scores images by dot product. The caller fuses these
    scores with lexical and text signals.
    """

    def __init__(
        self, text_encoder: TextEncoder | None = None, image_encoder: Any = None, top_k: int = 5,
        color_weight: float = 0.5, lexicon: Lexicon | None = None,
    ) -> None:
        from shopsearch.encode.registry import create_encoder

        self.text_encoder: TextEncoder = text_encoder or create_encoder("e5-small")  # type: ignore[assignment]
        # Needs ``embed_with_logits`` (the EfficientNet encoder has it).
        self.image_encoder: Any = image_encoder or create_encoder("efficientnet-lite0")
        self.top_k = top_k
        self.color_weight = color_weight
        self.lexicon = lexicon or default_lexicon()
        self._label_emb: np.ndarray | None = None
        self._color_emb: np.ndarray | None = None

    def _tables(self) -> tuple[np.ndarray, np.ndarray]:
        if self._label_emb is None or self._color_emb is None:
            self._label_emb = self.text_encoder.embed_texts(imagenet_labels())
            names = _color_bin_names()
            uniq = sorted(set(names))
            emb = dict(zip(uniq, self.text_encoder.embed_texts([f"{n} colour" for n in uniq])))
            self._color_emb = np.stack([emb[n] for n in names])
        return self._label_emb, self._color_emb

    def image_vectors(self, logits: np.ndarray, colors: np.ndarray | None = None) -> np.ndarray:
        """ImageNet logits (n, 1000) [+ colour histograms (n, COLOR_DIM)] -> float32 (n, text dim)."""
        label_emb, color_emb = self._tables()
        z = logits - logits.max(axis=1, keepdims=True)
        p = np.exp(z)
        p /= p.sum(axis=1, keepdims=True)
        top = np.argsort(-p, axis=1)[:, : self.top_k]
        w = np.take_along_axis(p, top, axis=1)
        w /= w.sum(axis=1, keepdims=True)
        vec = l2_normalize(np.einsum("nk,nkd->nd", w, label_emb[top]))
        if colors is not None and self.color_weight > 0:
            hist = colors[:, : COLOR_DIM - 1] ** 2  # back from Hellinger to proportions
            hist /= np.maximum(hist.sum(axis=1, keepdims=True), 1e-12)
            cvec = l2_normalize(hist @ color_emb)
            vec = l2_normalize(vec + self.color_weight * cvec)
        return vec

    def embed_images(self, images: Sequence[ImageInput]) -> np.ndarray:
        """Images -> float32 (n, text dim) zero-shot vectors."""
        pil = [load_image(im) for im in images]
        _, logits = self.image_encoder.embed_with_logits(pil)
        colors = np.stack([color_histogram(im) for im in pil]) if pil else None
        return self.image_vectors(logits, colors)

    def embed_queries(self, texts: Sequence[str]) -> np.ndarray:
        """Queries -> float32 (n, text dim), lexicon-normalised first."""
        return self.text_encoder.embed_queries([self.lexicon.normalize_query(t) for t in texts])

    def score(self, query: str, image_vectors: np.ndarray) -> np.ndarray:
        """Scores float32 (n,) of one query against precomputed :meth:`image_vectors`."""
        return image_vectors @ self.embed_queries([query])[0]


def zero_shot_image_scores(
    query: str, images: Sequence[ImageInput], scorer: ZeroShotLabelScorer | None = None,
) -> np.ndarray:
    """One-call zero-shot scores float32 (len(images),) of ``images`` against ``query``."""
    scorer = scorer or ZeroShotLabelScorer()
    return scorer.score(query, scorer.embed_images(images))
