"""What makes a cold ``shopsearch train`` faster without changing what it learns (issue 19):
positives per field, batches drawn in a second thread, one decode per photo, and the embedding
cache shared with indexing."""

from __future__ import annotations

import argparse
import threading
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest

from shopsearch.encode.cache import EmbeddingCache, content_digest, image_key
from shopsearch.preprocess.color import COLOR_DIM, color_histogram
from shopsearch.preprocess.image import load_image
from shopsearch.training import pipeline
from shopsearch.training.config import TrainConfig
from shopsearch.training.texts import FIELDS, TextBank
from shopsearch.types import Product

from .conftest import FakeImageEncoder, FakeTextEncoder


def _random_bank(rng: np.random.Generator, n_products: int, n_texts: int) -> TextBank:
    codes = rng.integers(0, 3, (n_products, len(FIELDS))).astype(np.int32)
    constraints = rng.integers(-1, 3, (n_texts, len(FIELDS))).astype(np.int32)
    constraints[:, 0] = -1  # a field no text names is skipped: its answer must not change
    return TextBank(texts=[f"t{i}" for i in range(n_texts)], kinds=["partial"] * n_texts,
                    constraints=constraints, product_codes=codes, product_texts=[], vocab={})


@pytest.mark.parametrize(("n_products", "n_texts"), [(40, 30), (1, 7), (5, 0), (0, 5)])
def test_positives_match_the_reference_cube(n_products: int, n_texts: int) -> None:
    bank = _random_bank(np.random.default_rng(n_products + n_texts), max(n_products, 1), max(n_texts, 1))
    rng = np.random.default_rng(1)
    prod = rng.integers(0, len(bank.product_codes), n_products)
    text = rng.integers(0, len(bank.texts), n_texts)
    p = bank.product_codes[prod][:, None, :]
    t = bank.constraints[text][None, :, :]
    expected = np.all((t < 0) | (t == p), axis=-1)  # the definition: every named field agrees
    got = bank.positives(prod, text)
    assert got.dtype == bool and got.shape == (n_products, n_texts)
    np.testing.assert_array_equal(got, expected)


# --------------------------------------------------------------------------- prefetch


def _alive_prefetchers() -> list[threading.Thread]:
    return [t for t in threading.enumerate() if t.name == "batch-prefetch"]


def test_prefetch_keeps_items_and_order() -> None:
    from shopsearch.training.batches import prefetch

    assert list(prefetch(iter(range(50)), depth=2)) == list(range(50))
    assert list(prefetch(iter([]))) == []
    assert not _alive_prefetchers()


def test_prefetch_raises_the_producers_error_after_its_items() -> None:
    from shopsearch.training.batches import prefetch

    def items() -> Iterator[int]:
        yield 1
        yield 2
        raise ValueError("product index 7 has no training text")

    seen = []
    with pytest.raises(ValueError, match="product index 7"):
        for x in prefetch(items()):
            seen.append(x)
    assert seen == [1, 2]
    assert not _alive_prefetchers()


def test_leaving_the_loop_early_stops_the_producer() -> None:
    from shopsearch.training.batches import prefetch

    drawn = []

    def endless() -> Iterator[int]:
        i = 0
        while True:
            drawn.append(i)
            yield i
            i += 1

    it = prefetch(endless(), depth=2)
    assert [next(it) for _ in range(3)] == [0, 1, 2]
    it.close()  # what a `break` out of the for loop does
    assert not _alive_prefetchers()
    assert len(drawn) <= 3 + 2 + 1  # what was taken, the queue's depth, one in hand


def test_fit_is_the_same_with_batches_drawn_inline(tiny_products, monkeypatch) -> None:  # type: ignore[no-untyped-def]
    pytest.importorskip("torch")
    from shopsearch.training import trainer
    from shopsearch.training.config import validation_split

    cfg = TrainConfig(epochs=3, batch_size=8, rounds=2, dim=8, hidden=16, val_fraction=0.25, max_val_queries=20,
                      shopper_prob=0.3, augment_flip=True, grouped_fraction=0.5)
    data = pipeline.prepare(tiny_products, cfg, text_encoder=FakeTextEncoder(), image_encoder=FakeImageEncoder())
    tr, va = validation_split([p.id for p in data.products], cfg)

    def fit() -> trainer.FitResult:
        return trainer.fit_heads(data.image_views, data.text_feats, data.bank, tr, va, cfg, data.codeswitch,
                                 data.shopper)

    threaded = fit()
    monkeypatch.setattr(trainer, "prefetch", lambda batches: batches)
    inline = fit()
    assert threaded.history == inline.history
    for key in inline.params:
        np.testing.assert_array_equal(threaded.params[key], inline.params[key])


# --------------------------------------------------------------------------- photos


@pytest.fixture()
def decodes(monkeypatch) -> list[str]:  # type: ignore[no-untyped-def]
    """Every photo the training pipeline decodes, by path."""
    seen: list[str] = []

    def counting(source, *args, **kwargs):  # type: ignore[no-untyped-def]
        seen.append(str(source))
        return load_image(source, *args, **kwargs)

    monkeypatch.setattr(pipeline, "load_image", counting)
    return seen


@pytest.mark.parametrize("chunk", [256, 5])
def test_each_photo_is_decoded_once(tiny_products, decodes, monkeypatch, chunk: int) -> None:  # type: ignore[no-untyped-def]
    monkeypatch.setattr(pipeline, "IMAGE_CHUNK", chunk)
    paths = [p.images[0] for p in tiny_products]
    enc = FakeImageEncoder()
    feats = pipeline.image_view_features(paths, enc, None, color=True)
    assert sorted(decodes) == sorted(paths)
    expected = np.concatenate([enc.embed_images(paths),
                               np.stack([color_histogram(load_image(p)) for p in paths])], axis=1)
    assert feats.dtype == np.float32 and feats.shape == (len(paths), enc.dim + COLOR_DIM)
    np.testing.assert_array_equal(feats, expected)


def test_mirrored_view_keeps_the_photos_colours(tiny_products) -> None:  # type: ignore[no-untyped-def]
    from PIL import ImageOps

    paths = [p.images[0] for p in tiny_products[:6]]
    enc = FakeImageEncoder()
    flipped = pipeline.image_view_features(paths, enc, None, color=True, flip=True)
    np.testing.assert_array_equal(flipped[:, :enc.dim],
                                  enc.embed_images([ImageOps.mirror(load_image(p)) for p in paths]))
    np.testing.assert_array_equal(flipped[:, enc.dim:], np.stack([color_histogram(load_image(p)) for p in paths]))


class _NoImages(FakeImageEncoder):
    def embed_images(self, images):  # type: ignore[no-untyped-def]
        raise AssertionError(f"{len(images)} photos embedded again; the cache held them")


def test_training_reuses_photo_features_an_index_cached(tiny_products: list[Product], tmp_path: Path) -> None:
    # `shopsearch index` keys a photo by model name and file content (shopsearch.index.builder)
    cache = EmbeddingCache(tmp_path / "embeddings.sqlite")
    paths = [p.images[0] for p in tiny_products]
    keys = [image_key(FakeImageEncoder.name, p, content_digest(p)) for p in paths]  # same photo, same key
    rng = np.random.default_rng(0)
    stored = {k: rng.random(FakeImageEncoder.dim).astype(np.float32) for k in keys}
    cache.put_many(stored)
    feats = pipeline.image_view_features(paths, _NoImages(), cache, color=True)
    cache.close()
    np.testing.assert_array_equal(feats[:, :FakeImageEncoder.dim], np.stack([stored[k] for k in keys]))
    np.testing.assert_array_equal(feats[:, FakeImageEncoder.dim:],
                                  np.stack([color_histogram(load_image(p)) for p in paths]))


# --------------------------------------------------------------------------- the CLI's cache


def _args(*flags: str) -> argparse.Namespace:
    from shopsearch.training.cli import add_train_parser

    parser = argparse.ArgumentParser()
    add_train_parser(parser.add_subparsers(dest="cmd"))
    return parser.parse_args(["train", "c.jsonl", "--out", "m", *flags])


def test_train_uses_the_indexers_cache_by_default(monkeypatch, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    from shopsearch.config import IndexConfig
    from shopsearch.training.cli import cache_path

    monkeypatch.setenv("SHOPSEARCH_CACHE", str(tmp_path / "shared.sqlite"))
    assert cache_path(_args()) == tmp_path / "shared.sqlite" == IndexConfig().cache_path
    assert cache_path(_args("--cache", str(tmp_path / "own.sqlite"))) == tmp_path / "own.sqlite"
    assert cache_path(_args("--no-cache")) is None
    with pytest.raises(SystemExit, match="--cache and --no-cache"):
        cache_path(_args("--no-cache", "--cache", "x.sqlite"))
