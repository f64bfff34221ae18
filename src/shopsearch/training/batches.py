"""The batches of the heads' training: what each step draws, and drawing them a step ahead.

:class:`BatchSampler` draws an epoch's batches from cached backbone features (products in a
seeded order, one text per product, a view); :func:`prefetch` runs it in a second thread, so
the next batch is drawn (numpy and Python) while the current one trains (torch, which
releases the GIL). Every random draw comes from one generator in a fixed order, so the
batches, and the trained model, are the same either way.
"""

from __future__ import annotations

import queue
import threading
from collections.abc import Iterator
from dataclasses import dataclass
from typing import NamedTuple, TypeVar

import numpy as np

from shopsearch.training.config import TrainConfig
from shopsearch.training.texts import TextBank

T = TypeVar("T")


class Batch(NamedTuple):
    """One training step's inputs, as numpy arrays the step wraps with ``torch.from_numpy``.

    ``image_feats`` float32 (B, F): each product's features (from its drawn view);
    ``text_feats`` float32 (B, T): the drawn texts' features; ``positives`` bool (B, B):
    text j describes product i.
    """

    image_feats: np.ndarray
    text_feats: np.ndarray
    positives: np.ndarray


@dataclass
class BatchSampler:
    """Draws the batches of one epoch: products in a seeded order, a text per product
    (title or partial, maybe swapped for its code-switched or shopper-worded variant), a view.

    Every random draw comes from ``rng`` in a fixed order, so a run is reproducible
    wherever the batches are drawn (:func:`prefetch` draws them in a second thread).
    """

    bank: TextBank
    views: list[np.ndarray]
    text_feats: np.ndarray
    train_idx: np.ndarray
    titles: np.ndarray
    partial_lists: list[np.ndarray]
    group_codes: np.ndarray
    config: TrainConfig
    steps: int
    codeswitch: np.ndarray | None
    shopper: np.ndarray | None
    rng: np.random.Generator

    def epoch(self) -> Iterator[Batch]:
        """The epoch's ``steps`` batches (its product order is drawn when the first is asked for)."""
        c, rng = self.config, self.rng
        order = np.concatenate([
            _epoch_order(self.train_idx, self.group_codes, c.grouped_fraction, c.batch_size, rng)
            for _ in range(c.rounds)
        ])
        for s in range(self.steps):
            prod = order[s * c.batch_size:(s + 1) * c.batch_size]
            text = _sample_texts(prod, self.titles, self.partial_lists, c.title_prob, rng)
            pos = self.bank.positives(prod, text)
            if self.codeswitch is not None and c.codeswitch_prob > 0:
                alt = self.codeswitch[text]
                use = (alt >= 0) & (rng.random(len(text)) < c.codeswitch_prob)
                text = np.where(use, alt, text)
            if self.shopper is not None and c.shopper_prob > 0:
                shopper = self.shopper
                in_bank = text < len(shopper)  # not already replaced by a code-switched variant
                alt = np.where(in_bank, shopper[np.minimum(text, len(shopper) - 1)], -1)
                use = (alt >= 0) & (rng.random(len(text)) < c.shopper_prob)
                text = np.where(use, alt, text)
            view = rng.integers(0, len(self.views), len(prod))
            if len(self.views) > 1:
                feats = np.stack([self.views[v][p] for v, p in zip(view, prod)])
            else:
                feats = self.views[0][prod]
            yield Batch(feats, self.text_feats[text], pos)


_DONE = object()


def prefetch(batches: Iterator[T], depth: int = 2) -> Iterator[T]:
    """``batches``, drawn in a background thread up to ``depth`` ahead of the consumer.

    Drawing a batch is numpy and Python work; the training step is torch work that releases
    the GIL, so the next batch is drawn while the current one trains (about a tenth of an
    epoch's time on one core). The items and their order are unchanged. An error in the
    producer is raised here; leaving the loop early stops the producer.
    """
    q: queue.Queue[object] = queue.Queue(maxsize=depth)
    stop = threading.Event()

    def put(item: object) -> bool:
        while not stop.is_set():
            try:
                q.put(item, timeout=0.1)
                return True
            except queue.Full:
                continue
        return False

    def produce() -> None:
        try:
            for item in batches:
                if not put(item):
                    return
        except BaseException as exc:  # handed to the consumer, which raises it
            put(_Raised(exc))
            return
        put(_DONE)

    worker = threading.Thread(target=produce, name="batch-prefetch", daemon=True)
    worker.start()
    try:
        while True:
            item = q.get()
            if item is _DONE:
                return
            if isinstance(item, _Raised):
                raise item.error
            yield item  # type: ignore[misc]
    finally:
        stop.set()
        worker.join()


@dataclass
class _Raised:
    error: BaseException


def _epoch_order(
    train_idx: np.ndarray, group_codes: np.ndarray, grouped_fraction: float, batch_size: int,
    rng: np.random.Generator,
) -> np.ndarray:
    """A permutation of ``train_idx`` in which ``grouped_fraction`` of each batch is a run of
    products of the same article type (hard negatives: same type, other colour/gender/...)
    and the rest is random."""
    perm = rng.permutation(train_idx)
    if grouped_fraction <= 0:
        return perm
    n_grouped = round(len(perm) * grouped_fraction)
    grouped, rest = perm[:n_grouped], perm[n_grouped:]
    grouped = grouped[np.lexsort((rng.random(len(grouped)), group_codes[grouped]))]
    per_batch = max(1, round(batch_size * grouped_fraction))
    chunks = [grouped[i:i + per_batch] for i in range(0, len(grouped), per_batch)]
    rng.shuffle(chunks)  # type: ignore[arg-type]
    fill = batch_size - per_batch
    out: list[np.ndarray] = []
    for k, chunk in enumerate(chunks):
        out += [chunk, rest[k * fill:(k + 1) * fill]]
    out.append(rest[len(chunks) * fill:])
    return np.concatenate(out)


def _sample_texts(
    prod: np.ndarray, titles: np.ndarray, partial_lists: list[np.ndarray], title_prob: float,
    rng: np.random.Generator,
) -> np.ndarray:
    out = np.empty(len(prod), dtype=np.int64)
    use_title = rng.random(len(prod)) < title_prob
    for k, p in enumerate(prod):
        partial = partial_lists[p]
        if (use_title[k] or len(partial) == 0) and titles[p] >= 0:
            out[k] = titles[p]
        elif len(partial):
            out[k] = partial[rng.integers(len(partial))]
        else:
            raise ValueError(f"product index {p} has no training text (no title, no facets)")
    return out
