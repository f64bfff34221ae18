"""Alignment losses over an in-batch similarity matrix (torch).

Both losses take ``sim`` float (B_img, B_txt) — cosine similarities of L2-normalised image and
text embeddings — and ``pos`` bool of the same shape: ``pos[i, j]`` says text j describes
image i. Pair i (image i, text i) is always a positive, so ``pos`` has a true diagonal when the
batch is square. Several products can share one text ("Black Tshirts"), so rows and columns may
hold several positives.
"""

from __future__ import annotations

from typing import Any, Literal

LossName = Literal["infonce", "triplet"]


def _torch() -> Any:
    try:
        import torch
    except ImportError as exc:  # pragma: no cover - the train extra
        raise ImportError("training needs torch: pip install 'shopsearch[train]'") from exc
    return torch


def multi_positive_infonce(sim: Any, pos: Any, logit_scale: Any) -> Any:
    """Symmetric multi-positive InfoNCE (CLIP loss generalised to several positives).

    For each image (row) the loss is the mean, over its positive texts, of ``-log softmax``
    of the scaled similarities along the row; likewise for each text (column) along the
    column. The result is the mean of the two directions, each averaged over rows/columns
    that have at least one positive. With ``pos`` the identity this is the CLIP loss.
    ``logit_scale`` is the (learnable) log inverse temperature.
    """
    torch = _torch()
    logits = sim * logit_scale.exp()
    posf = pos.to(logits.dtype)

    def one_side(lg: Any, pf: Any) -> Any:
        logp = torch.log_softmax(lg, dim=1)
        n_pos = pf.sum(dim=1)
        has = n_pos > 0
        per_row = -(logp * pf).sum(dim=1)[has] / n_pos[has]
        return per_row.mean()

    return 0.5 * (one_side(logits, posf) + one_side(logits.t(), posf.t()))


def triplet_hardest(sim: Any, pos: Any, margin: float = 0.2) -> Any:
    """Symmetric triplet loss with the hardest in-batch negative (VSE++ style).

    For each pair i (image i, text i; needs a square batch) the positive similarity is
    ``sim[i, i]``; the hardest negative text is the most similar text j with ``pos[i, j]``
    false, the hardest negative image the most similar image with ``pos[j, i]`` false. Loss =
    mean over pairs of ``relu(margin - s_pos + s_neg)`` for both directions, halved.
    Anchors with no negative in the batch add 0.
    """
    torch = _torch()
    if sim.shape[0] != sim.shape[1]:
        raise ValueError(f"triplet loss needs a square batch, got {tuple(sim.shape)}")
    diag = sim.diagonal()
    neg_inf = torch.finfo(sim.dtype).min
    masked = sim.masked_fill(pos, neg_inf)
    hard_txt = masked.max(dim=1).values  # per image: hardest negative text
    hard_img = masked.max(dim=0).values  # per text: hardest negative image
    valid_t = hard_txt > neg_inf
    valid_i = hard_img > neg_inf
    zero = sim.new_zeros(())
    loss_t = torch.where(valid_t, torch.relu(margin - diag + hard_txt), zero)
    loss_i = torch.where(valid_i, torch.relu(margin - diag + hard_img), zero)
    return 0.5 * (loss_t.mean() + loss_i.mean())
