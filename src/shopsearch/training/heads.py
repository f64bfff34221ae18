"""Projection heads (torch, for training) that export to the numpy parameters JointEncoder reads.

A head maps backbone features (F,) to the joint space (dim,):
``x = (f - mean) / std``; ``y = x @ w + b`` (linear), plus ``gelu(x @ w1 + b1) @ w2 + b2`` for
the MLP head (a residual MLP branch on top of the linear map); then L2 normalisation.
GELU is the tanh approximation so the numpy forward in
:mod:`shopsearch.encode.joint` reproduces it exactly.
"""

from __future__ import annotations

from typing import Any, Literal

import numpy as np

HeadKind = Literal["linear", "mlp"]


def build_head(
    kind: HeadKind, in_dim: int, out_dim: int, hidden: int, mean: np.ndarray, std: np.ndarray,
    dropout: float = 0.0,
) -> Any:
    """A torch module for one side; ``mean``/``std`` (in_dim,) standardise the input features."""
    import torch
    from torch import nn

    if kind not in ("linear", "mlp"):
        raise ValueError(f"head must be 'linear' or 'mlp', got {kind!r}")

    class Head(nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.kind = kind
            self.register_buffer("mean", torch.as_tensor(mean, dtype=torch.float32))
            self.register_buffer("std", torch.as_tensor(std, dtype=torch.float32))
            self.drop = nn.Dropout(dropout)
            self.lin = nn.Linear(in_dim, out_dim)
            if kind == "mlp":
                self.fc1 = nn.Linear(in_dim, hidden)
                self.fc2 = nn.Linear(hidden, out_dim)
                nn.init.zeros_(self.fc2.weight)  # start as the linear head
                nn.init.zeros_(self.fc2.bias)

        def forward(self, f: torch.Tensor) -> torch.Tensor:
            x = self.drop((f - self.mean) / self.std)  # type: ignore[operator]
            y = self.lin(x)
            if self.kind == "mlp":
                y = y + self.fc2(self.drop(nn.functional.gelu(self.fc1(x), approximate="tanh")))
            return nn.functional.normalize(y, dim=-1)

    return Head()


def export_head(head: Any, side: str) -> dict[str, np.ndarray]:
    """Numpy parameters of a trained head, keyed ``<side>.<name>`` (float32, x @ w layout)."""
    out = {
        f"{side}.mean": head.mean.detach().numpy().astype(np.float32),
        f"{side}.std": head.std.detach().numpy().astype(np.float32),
        f"{side}.w": head.lin.weight.detach().numpy().T.astype(np.float32),
        f"{side}.b": head.lin.bias.detach().numpy().astype(np.float32),
    }
    if head.kind == "mlp":
        out[f"{side}.w1"] = head.fc1.weight.detach().numpy().T.astype(np.float32)
        out[f"{side}.b1"] = head.fc1.bias.detach().numpy().astype(np.float32)
        out[f"{side}.w2"] = head.fc2.weight.detach().numpy().T.astype(np.float32)
        out[f"{side}.b2"] = head.fc2.bias.detach().numpy().astype(np.float32)
    return out


def feature_stats(features: np.ndarray, floor_ratio: float = 0.5) -> tuple[np.ndarray, np.ndarray]:
    """Per-column mean and std, float32; the std is floored at ``floor_ratio`` times the mean
    std, so near-constant columns are not blown up into noise."""
    mean = features.mean(axis=0).astype(np.float32)
    std = features.std(axis=0)
    floor = max(float(std.mean()) * floor_ratio, 1e-8)
    return mean, np.maximum(std, floor).astype(np.float32)
