"""Loss functions against values computed by hand."""

from __future__ import annotations

import math

import pytest

torch = pytest.importorskip("torch")

from shopsearch.training.losses import multi_positive_infonce, triplet_hardest  # noqa: E402

L = math.log(1 + math.e)  # log(e^1 + e^0)


def t(x: list[list[float]]) -> torch.Tensor:
    return torch.tensor(x, dtype=torch.float64)


def test_infonce_single_positive_is_clip_loss() -> None:
    sim = t([[1.0, 0.0], [0.0, 1.0]])
    pos = torch.eye(2, dtype=torch.bool)
    loss = multi_positive_infonce(sim, pos, torch.tensor(0.0, dtype=torch.float64))
    # every row and column: -log(e^1 / (e^1 + e^0)) = L - 1
    assert float(loss) == pytest.approx(L - 1, abs=1e-9)


def test_infonce_multi_positive_by_hand() -> None:
    sim = t([[1.0, 0.0], [0.0, 1.0]])
    pos = torch.tensor([[True, True], [False, True]])
    loss = multi_positive_infonce(sim, pos, torch.tensor(0.0, dtype=torch.float64))
    # rows: row0 mean(L-1, L) = L-0.5, row1 L-1 -> L-0.75; columns: col0 L-1,
    # col1 mean(L, L-1) = L-0.5 -> L-0.75; mean of both directions: L-0.75
    assert float(loss) == pytest.approx(L - 0.75, abs=1e-9)


def test_infonce_temperature_scales_logits() -> None:
    sim = t([[0.5, 0.0], [0.0, 0.5]])
    pos = torch.eye(2, dtype=torch.bool)
    loss = multi_positive_infonce(sim, pos, torch.tensor(math.log(2.0), dtype=torch.float64))
    assert float(loss) == pytest.approx(L - 1, abs=1e-9)  # 2 * 0.5 = 1: same as above


def test_triplet_hardest_negative_by_hand() -> None:
    sim = t([[0.5, 0.6], [0.4, 0.7]])
    pos = torch.eye(2, dtype=torch.bool)
    loss = triplet_hardest(sim, pos, margin=0.2)
    # images: relu(.2-.5+.6)=.3, relu(.2-.7+.4)=0 -> .15; texts: relu(.2-.5+.4)=.1,
    # relu(.2-.7+.6)=.1 -> .1; half the sum: .125
    assert float(loss) == pytest.approx(0.125, abs=1e-9)


def test_triplet_shared_text_is_not_a_negative() -> None:
    sim = t([[0.5, 0.6], [0.4, 0.7]])
    pos = torch.tensor([[True, True], [False, True]])
    loss = triplet_hardest(sim, pos, margin=0.2)
    # image 0 and text 1 have no negative (add 0); image 1: relu(.2-.7+.4)=0;
    # text 0: relu(.2-.5+.4)=.1 -> (0 + 0)/2 and (.1 + 0)/2 -> .025
    assert float(loss) == pytest.approx(0.025, abs=1e-9)


def test_triplet_needs_square_batch() -> None:
    with pytest.raises(ValueError, match="square"):
        triplet_hardest(t([[0.1, 0.2, 0.3]]), torch.ones(1, 3, dtype=torch.bool))


def test_losses_have_gradients() -> None:
    sim = t([[0.3, 0.1], [0.2, 0.4]]).requires_grad_(True)
    scale = torch.tensor(1.0, dtype=torch.float64, requires_grad=True)
    multi_positive_infonce(sim, torch.eye(2, dtype=torch.bool), scale).backward()
    assert sim.grad is not None and scale.grad is not None
