"""Metric-learning losses for the shop image model (torch).

Both take ``emb`` float (B, d), rows L2-normalised, and ``labels`` int (B,) — the product of
each photo view. Two families, both measured in ``benchmarks/photo_search.py``:

* :func:`proxy_softmax` — normalised softmax with an additive cosine margin (CosFace): one
  learned, L2-normalised proxy per product; ``loss = CE(scale * (cos(e, p) - margin * onehot))``.
  Proxy losses see every product in every step, so they converge in few epochs.
* :func:`batch_hard_triplet` — the seed design's triplet loss with batch-hard mining over a
  P x K batch (P products, K views each): for each anchor, its farthest positive and nearest
  negative in the batch, distance ``1 - cos``; ``loss = mean relu(d_pos - d_neg + margin)``.
"""

from __future__ import annotations

from typing import Any, Literal

ImageLoss = Literal["proxy", "triplet"]
IMAGE_LOSSES: tuple[str, ...] = ("proxy", "triplet")


def _torch() -> Any:
    try:
        import torch
    except ImportError as exc:  # pragma: no cover - the train extra
        raise ImportError("training needs torch: pip install 'shopsearch[train]'") from exc
    return torch


def proxy_softmax(emb: Any, labels: Any, proxies: Any, scale: float = 20.0, margin: float = 0.1) -> Any:
    """Normalised softmax with additive cosine margin; ``proxies`` float (n_products, d), any
    norm (normalised here). Mean over the batch."""
    torch = _torch()
    cos = emb @ torch.nn.functional.normalize(proxies, dim=-1).T
    onehot = torch.nn.functional.one_hot(labels, cos.shape[1]).to(cos.dtype)
    return torch.nn.functional.cross_entropy(scale * (cos - margin * onehot), labels)


def batch_hard_triplet(emb: Any, labels: Any, margin: float = 0.2) -> Any:
    """Batch-hard triplet loss (distance ``1 - cos``). Anchors without a positive or without a
    negative in the batch add 0 (and still count in the mean)."""
    torch = _torch()
    dist = 1.0 - emb @ emb.T
    same = labels[:, None] == labels[None, :]
    eye = torch.eye(len(labels), dtype=torch.bool, device=emb.device)
    pos_mask = same & ~eye
    neg_mask = ~same
    far_pos = dist.masked_fill(~pos_mask, float("-inf")).max(dim=1).values
    near_neg = dist.masked_fill(~neg_mask, float("inf")).min(dim=1).values
    valid = pos_mask.any(dim=1) & neg_mask.any(dim=1)
    per = torch.relu(far_pos - near_neg + margin)
    return torch.where(valid, per, torch.zeros_like(per)).mean()
