"""The joint model's heads exported to ONNX compute what the numpy forward computes."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from shopsearch.encode.joint import JointEncoder, project
from shopsearch.training.export import heads_to_onnx


def _session(path: Path):  # type: ignore[no-untyped-def]
    import onnxruntime as ort  # a base dependency: never skipped
    options = ort.SessionOptions()
    options.intra_op_num_threads = 1
    return ort.InferenceSession(str(path), options, providers=["CPUExecutionProvider"])


@pytest.mark.parametrize("side", ["text", "image"])
def test_packaged_heads_onnx_parity(side: str, tmp_path: Path) -> None:
    joint = JointEncoder.load()
    dim = joint.text_feature_dim if side == "text" else joint.image_feature_dim
    x = np.random.default_rng(0).standard_normal((64, dim)).astype(np.float32)
    out = _session(heads_to_onnx(joint.params, side, tmp_path / f"{side}.onnx")).run(None, {"features": x})[0]
    ref = project(joint.params, side, x)
    assert out.shape == (64, joint.dim) and out.dtype == np.float32
    assert np.sum(out * ref, axis=1).min() >= 0.995
    np.testing.assert_allclose(out, ref, atol=1e-4)


def test_linear_head_and_missing_side(tmp_path: Path) -> None:
    rng = np.random.default_rng(1)
    params = {"text.mean": rng.standard_normal(8).astype(np.float32), "text.std": np.full(8, 2.0, np.float32),
              "text.w": rng.standard_normal((8, 4)).astype(np.float32), "text.b": np.zeros(4, np.float32)}
    x = rng.standard_normal((5, 8)).astype(np.float32)
    out = _session(heads_to_onnx(params, "text", tmp_path / "t.onnx")).run(None, {"features": x})[0]
    np.testing.assert_allclose(out, project(params, "text", x), atol=1e-5)
    with pytest.raises(ValueError, match="lack the 'image' head"):
        heads_to_onnx(params, "image", tmp_path / "i.onnx")


def test_joint_encoder_runs_heads_in_onnx_runtime_by_default() -> None:
    onnx_enc, numpy_enc = JointEncoder.load(), JointEncoder.load(runtime="numpy")
    rng = np.random.default_rng(2)
    for dim, fn in ((onnx_enc.text_feature_dim, "project_texts"), (onnx_enc.image_feature_dim, "project_images")):
        x = rng.standard_normal((7, dim)).astype(np.float32)
        a, b = getattr(onnx_enc, fn)(x), getattr(numpy_enc, fn)(x)
        assert np.sum(a * b, axis=1).min() >= 0.995
        np.testing.assert_allclose(a, b, atol=1e-4)
        assert getattr(onnx_enc, fn)(x[:0]).shape == (0, onnx_enc.dim)
    assert onnx_enc._head_session("text") is not None and numpy_enc._head_session("text") is None
    with pytest.raises(ValueError, match="runtime must be"):
        JointEncoder.load(runtime="tensorrt")  # type: ignore[arg-type]
