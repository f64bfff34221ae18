"""Training configuration (frozen, validated) and the seeded product split."""

from __future__ import annotations

import hashlib
from collections.abc import Sequence
from dataclasses import asdict, dataclass, fields
from typing import Any, Literal

import numpy as np

HeadName = Literal["linear", "mlp"]
LossChoice = Literal["infonce", "triplet"]


@dataclass(frozen=True)
class TrainConfig:
    """Everything that decides a trained model; stored in the model directory's config.json.

    ``rounds``: training pairs drawn per product per epoch. ``title_prob``: chance a pair uses
    the title rather than a partial text. ``color``: append colour histograms to the image
    features. ``augment_flip``: also train on horizontally flipped images' features.
    ``codeswitch_prob``: chance a partial text is rewritten with Chinese lexicon terms.
    ``shopper_prob``: chance a partial text is replaced by its shopper-worded variant
    (:mod:`shopsearch.training.augment`: "black tee for guys" for "Men Black Tshirts").
    ``grouped_fraction``: share of each batch drawn as a run of one article type (hard
    negatives that differ in colour, gender, usage).
    """

    head: HeadName = "mlp"
    loss: LossChoice = "infonce"
    dim: int = 256
    hidden: int = 512
    dropout: float = 0.4
    epochs: int = 40
    patience: int = 6
    batch_size: int = 256
    rounds: int = 4
    lr: float = 1e-3
    weight_decay: float = 1e-4
    temperature: float = 0.05
    learn_temperature: bool = True
    margin: float = 0.2
    title_prob: float = 0.3
    grouped_fraction: float = 0.0
    color: bool = True
    augment_flip: bool = False
    codeswitch_prob: float = 0.3
    shopper_prob: float = 0.0
    val_fraction: float = 0.1
    max_val_queries: int = 600
    seed: int = 0

    def __post_init__(self) -> None:
        if self.head not in ("linear", "mlp"):
            raise ValueError(f"head must be 'linear' or 'mlp', got {self.head!r}")
        if self.loss not in ("infonce", "triplet"):
            raise ValueError(f"loss must be 'infonce' or 'triplet', got {self.loss!r}")
        for name in ("dim", "hidden", "epochs", "batch_size", "rounds", "max_val_queries"):
            value = getattr(self, name)
            if not isinstance(value, int) or isinstance(value, bool) or value < 1:
                raise ValueError(f"{name} must be an integer >= 1, got {value!r}")
        if self.patience < 0:
            raise ValueError(f"patience must be >= 0, got {self.patience!r}")
        for name in ("dropout", "title_prob", "codeswitch_prob", "shopper_prob", "grouped_fraction"):
            value = getattr(self, name)
            if not 0.0 <= value <= 1.0:
                raise ValueError(f"{name} must be in [0, 1], got {value!r}")
        if not 0.0 < self.val_fraction < 1.0:
            raise ValueError(f"val_fraction must be in (0, 1), got {self.val_fraction!r}")
        if self.lr <= 0 or self.temperature <= 0 or self.margin < 0 or self.weight_decay < 0:
            raise ValueError(
                "lr and temperature must be > 0, margin and weight_decay >= 0; got "
                f"lr={self.lr!r} temperature={self.temperature!r} margin={self.margin!r} "
                f"weight_decay={self.weight_decay!r}"
            )

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> TrainConfig:
        """Inverse of :meth:`to_dict`; unknown keys raise ``ValueError``."""
        valid = {f.name for f in fields(cls)}
        unknown = sorted(set(data) - valid)
        if unknown:
            raise ValueError(f"unknown training config keys {unknown}; valid: {sorted(valid)}")
        return cls(**data)


def split_ids(
    ids: Sequence[str], fraction: float, seed: int, salt: str = "",
) -> tuple[np.ndarray, np.ndarray]:
    """Seeded split by product id: (kept indices, held-out indices), int64, ascending.

    A product is held out when the SHA-256 of ``"<salt><seed>:<id>"`` maps below ``fraction``;
    the decision depends only on the id, seed and salt, not on catalogue order or size.
    Nested splits need different salts: with the same salt and seed, the products kept by
    a 20% split all hash above 0.2, so a 10% split of them would be empty.
    """
    if not 0.0 <= fraction < 1.0:
        raise ValueError(f"fraction must be in [0, 1), got {fraction!r}")
    u = np.array(
        [int.from_bytes(hashlib.sha256(f"{salt}{seed}:{i}".encode()).digest()[:8], "big") / 2**64
         for i in ids]
    )
    held = u < fraction
    return np.flatnonzero(~held), np.flatnonzero(held)


VAL_SALT = "val:"


def validation_split(ids: Sequence[str], config: TrainConfig) -> tuple[np.ndarray, np.ndarray]:
    """(train indices, validation indices) for training: ``config.val_fraction``, seeded by
    ``config.seed``, salted apart from evaluation hold-out splits."""
    return split_ids(ids, config.val_fraction, config.seed, salt=VAL_SALT)
