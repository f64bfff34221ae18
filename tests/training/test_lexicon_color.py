"""The bilingual lexicon (query normalisation, code-switching) and colour histograms.

(These test shopsearch.preprocess modules that exist for the alignment model.)
"""

from __future__ import annotations

import random
from pathlib import Path

import numpy as np
import pytest
from PIL import Image, ImageDraw

from shopsearch.preprocess.color import COLOR_DIM, HUE_BINS, SAT_BINS, VAL_BINS, color_histogram
from shopsearch.preprocess.lexicon import Lexicon, default_lexicon


@pytest.mark.parametrize(
    ("zh", "en"),
    [
        ("男士黑色运动鞋", "Men Black sneakers"),  # the shopper lexicon reads sneakers as casual or sports shoes
        ("女士休闲手拿包", "Women Casual Clutches"),
        ("藏青色双肩包", "Navy Blue Backpacks"),
        ("夏季休闲T恤", "Summer Casual Tshirts"),
        ("男童 牛仔裤", "Boys Jeans"),
        ("白色的平底鞋", "White Flats"),
        ("Men Black Shoes", "Men Black Shoes"),
        ("红色 hoodie", "Red hoodie"),
    ],
)
def test_normalize_query(zh: str, en: str) -> None:
    assert default_lexicon().normalize_query(zh) == en


def test_packaged_lexicon_covers_shopper_vocabulary() -> None:
    lex = default_lexicon()
    assert len(lex) > 300
    for zh in ("红色", "黑色", "藏青", "连衣裙", "T恤", "衬衫", "牛仔裤", "运动鞋", "手提包", "手表",
               "男", "男士", "女", "女士", "男童", "女童", "夏季", "冬季", "休闲", "正装", "运动",
               "纯棉", "真皮"):
        assert lex.translate_term(zh), zh


def test_to_chinese_code_switches() -> None:
    lex = default_lexicon()
    assert lex.to_chinese("Men Black Sports Shoes") == "男士黑色跑鞋"
    mixed = lex.to_chinese("Summer Casual Tshirts for Women", random.Random(0), p=0.5)
    assert mixed != "Summer Casual Tshirts for Women"


def test_malformed_lexicon_names_line(tmp_path: Path) -> None:
    path = tmp_path / "lex.tsv"
    path.write_text("# comment\n红色\tRed\tcolour\n蓝色\tBlue\n绿色\tGreen\tshade\n", encoding="utf-8")
    with pytest.raises(ValueError, match=r"lex.tsv:3: expected 3.*\n.*lex.tsv:4: kind 'shade'"):
        Lexicon.from_file(path)


def test_conflicting_entries_refused() -> None:
    from shopsearch.preprocess.lexicon import LexiconEntry

    with pytest.raises(ValueError, match="maps to both"):
        Lexicon([LexiconEntry("红", "Red", "colour"), LexiconEntry("红", "Pink", "colour")])


def _drawn(rgb: tuple[int, int, int]) -> Image.Image:
    img = Image.new("RGB", (100, 100), (255, 255, 255))
    ImageDraw.Draw(img).rectangle([20, 20, 80, 80], fill=rgb)
    return img


def test_color_histogram_sees_product_not_background() -> None:
    red = color_histogram(_drawn((200, 20, 20)))
    assert red.shape == (COLOR_DIM,) and red.dtype == np.float32
    n_chroma = HUE_BINS * SAT_BINS * VAL_BINS
    assert np.argmax(red[:n_chroma]) // (SAT_BINS * VAL_BINS) == 0  # hue bin 0: red
    # white background ignored: only the resampled edge ring is pale (squares = proportions)
    assert float((red[:n_chroma] ** 2).sum()) > 0.9
    assert 0.3 < red[-1] < 0.45  # foreground fraction (61x61 of 100x100)
    black = color_histogram(np.asarray(_drawn((10, 10, 10))))
    assert np.argmax(black[:-1]) == n_chroma  # darkest grey bin
    assert float(red[:-1] @ black[:-1]) < 0.1


def test_color_histogram_rejects_bad_array() -> None:
    with pytest.raises(ValueError, match="uint8"):
        color_histogram(np.zeros((4, 4), np.float32))
