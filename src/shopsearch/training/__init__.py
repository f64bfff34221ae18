"""Training: the text<->image alignment heads (datasets, losses, loop, export, CLI).

Heavy parts (torch) are imported where they are used; ``pip install 'shopsearch[train]'``.

>>> from shopsearch.training import TrainConfig, train        # doctest: +SKIP
>>> train(products, "models/my-joint", TrainConfig(epochs=30))  # doctest: +SKIP
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from shopsearch.training.config import TrainConfig, split_ids

__all__ = ["TrainConfig", "split_ids", "train"]

if TYPE_CHECKING:
    from shopsearch.training.trainer import FitResult


def train(*args: Any, **kwargs: Any) -> FitResult:
    """See :func:`shopsearch.training.pipeline.train`."""
    from shopsearch.training.pipeline import train as _train

    return _train(*args, **kwargs)
