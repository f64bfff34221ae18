"""A large, seeded pool of distinct shopper-style text queries for load tests (``http_load.py``).

Why: the service keeps an LRU cache of query vectors, so a load test that repeats a few texts
measures cache hits, not searches. The pool holds the hand-written benchmark queries
(``benchmarks/queries/*.jsonl``, English and Chinese) and queries generated from the catalogue's
facet values (colour, product type, gender, usage, season) and the brands that begin its titles,
worded the way shoppers type in English and Chinese ("black running shoes for men",
"mens slim fit white shirt", "nike black sports shoes", "男士黑色运动鞋", "卫衣男款 灰色 宽松",
"耐克 白色运动鞋"), with modifiers (material, fit, occasion, price words).

Every text in a pool is distinct after case-folding and collapsing spaces (:func:`text_key`);
the order is a seeded shuffle, so a load test walks it from the start and never repeats a text
unless it runs past the end. The service's cache key is the *parsed* query (catalogue words), which
can map two different texts to one key; ``http_load.py`` parses the pool with the engine and drops
such collisions before sending (and reports them).

The shopper words below are written for load (many plausible, varied texts), not for relevance
evaluation: nothing here judges results. The Chinese colour and type words come from the
benchmarks' own table (``_zh_queries.ZH``), kept apart from the product lexicon.
"""

from __future__ import annotations

import itertools
import json
import math
import random
import re
from collections import Counter
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Generic, Literal, TypeVar, get_args

from _zh_queries import ZH

Language = Literal["en", "zh"]
Source = Literal["benchmark", "generated"]
LANGUAGES: tuple[Language, ...] = get_args(Language)
QUERY_DIR = Path(__file__).resolve().parent / "queries"
FACETS = ("gender", "article_type", "base_colour", "usage", "season")
MAX_MISSES = 10_000  # generate() gives up after this many duplicate draws in a row
_CJK = re.compile(r"[\u3400-\u9fff]")


@dataclass(frozen=True)
class PoolQuery:
    """One query text, its language and where it comes from."""

    text: str
    lang: Language
    source: Source


@dataclass(frozen=True)
class Facets:
    """The catalogue values queries are built from: facet values by field (``gender``,
    ``article_type``, ``base_colour``, ``usage``, ``season``), brand names as the titles spell
    them, and optionally how many products carry each value (``counts[field][value]``; a type or
    colour is then drawn with weight sqrt(count), so common ones come up more often and the long
    tail still appears; without counts, uniformly)."""

    values: Mapping[str, tuple[str, ...]]
    brands: tuple[str, ...]
    counts: Mapping[str, Mapping[str, int]] | None = None

    def __post_init__(self) -> None:
        for name in ("article_type", "base_colour"):
            if not self.values.get(name):
                raise ValueError(f"Facets.values[{name!r}] must list at least one value, got {self.values.get(name)!r}")


def text_key(text: str) -> str:
    """What makes two texts the same query here: case-folded, spaces collapsed."""
    return " ".join(text.casefold().split())


def language_of(text: str) -> Language:
    """``zh`` when the text has any CJK ideograph, else ``en``."""
    return "zh" if _CJK.search(text) else "en"


# --------------------------------------------------------------------------- shopper words

# article_type -> how shoppers write it (English); types not listed use the facet value, lower-cased
EN_TYPES: dict[str, tuple[str, ...]] = {
    "Tshirts": ("t shirt", "tshirt", "t-shirt", "tee", "tees"), "Shirts": ("shirt", "shirts"),
    "Casual Shoes": ("casual shoes", "sneakers", "canvas shoes"), "Sports Shoes": ("running shoes", "sports shoes",
                                                                                   "trainers", "gym shoes"),
    "Formal Shoes": ("formal shoes", "office shoes", "oxford shoes"), "Tops": ("top", "tops"),
    "Kurtas": ("kurta", "kurtas"), "Kurtis": ("kurti",), "Watches": ("watch", "wrist watch", "analog watch"),
    "Heels": ("heels", "high heels", "stilettos"), "Handbags": ("handbag", "purse", "shoulder bag"),
    "Sunglasses": ("sunglasses", "shades", "aviators"), "Sweaters": ("sweater", "pullover", "cardigan"),
    "Wallets": ("wallet",), "Sandals": ("sandals",), "Flip Flops": ("flip flops", "slippers", "chappal"),
    "Sweatshirts": ("sweatshirt", "hoodie"), "Belts": ("belt",), "Trousers": ("trousers", "pants", "chinos"),
    "Jeans": ("jeans", "denims"), "Socks": ("socks",), "Jackets": ("jacket", "windcheater"),
    "Flats": ("flats", "ballerinas"), "Backpacks": ("backpack", "school bag", "rucksack"),
    "Briefs": ("briefs", "underwear"), "Shorts": ("shorts", "bermudas"), "Innerwear Vests": ("vest", "banian"),
    "Caps": ("cap", "baseball cap"), "Ties": ("tie", "necktie"), "Track Pants": ("track pants", "joggers"),
    "Dresses": ("dress", "frock"), "Skirts": ("skirt",), "Laptop Bag": ("laptop bag",),
    "Perfume and Body Mist": ("perfume", "body mist"), "Deodorant": ("deo", "deodorant"),
}
EN_GENDER: dict[str, tuple[tuple[str, ...], tuple[str, ...]]] = {  # (before the type, after the type)
    "Men": (("mens", "men's", "men", "gents"), ("for men", "for him", "men", "for guys")),
    "Women": (("womens", "women's", "ladies", "women"), ("for women", "for her", "for ladies", "for girls")),
    "Boys": (("boys", "kids"), ("for boys", "for kids")),
    "Girls": (("girls",), ("for girls", "for kids")),
    "Unisex": (("unisex",), ("unisex", "for couples")),
}
EN_MODIFIERS = (
    "cheap", "casual", "formal", "slim fit", "regular fit", "cotton", "leather", "denim", "printed", "striped",
    "checked", "plain", "solid", "floral", "party wear", "office", "sports", "running", "gym", "new",
    "latest", "branded", "stylish", "trendy", "comfortable", "lightweight", "waterproof", "summer", "winter",
    "under 500", "under 1000", "below 2000", "v neck", "round neck", "full sleeve", "half sleeve", "long",
    "short", "small", "large", "xl", "combo", "original", "best",
)
ZH_TYPES_EXTRA: dict[str, tuple[str, ...]] = {  # more ways to say a type, and types the table lacks
    "Tshirts": ("t恤", "短袖", "T恤衫"), "Sports Shoes": ("跑鞋", "跑步鞋"), "Casual Shoes": ("板鞋", "帆布鞋"),
    "Handbags": ("包包", "女包"), "Jeans": ("牛仔裤",), "Leggings": ("打底裤",), "Sweatshirts": ("帽衫",),
    "Sunglasses": ("墨镜",), "Watches": ("腕表",), "Backpacks": ("背包", "书包"), "Flip Flops": ("拖鞋",),
    "Trousers": ("裤子", "西裤"), "Shirts": ("衬衣",), "Jackets": ("外套",), "Wallets": ("皮夹",),
    "Kurtis": ("短款库尔塔",), "Tracksuits": ("运动套装",), "Trunk": ("平角内裤",), "Messenger Bag": ("斜挎包",),
}
ZH_COLOURS_EXTRA: dict[str, str] = {"Yellow": "黄色", "Gold": "金色", "Khaki": "卡其色", "Magenta": "玫红色",
                                    "Off White": "米白色", "Lavender": "薰衣草紫", "Teal": "墨绿色", "Tan": "棕褐色"}
ZH_GENDER: dict[str, tuple[tuple[str, ...], tuple[str, ...]]] = {  # (before, after)
    "Men": (("男士", "男", "男生", "男款"), ("男", "男款", "男士", "男生")),
    "Women": (("女士", "女", "女生", "女款"), ("女", "女款", "女士", "女生")),
    "Boys": (("男童", "儿童"), ("男童", "儿童")),
    "Girls": (("女童", "儿童"), ("女童", "儿童")),
    "Unisex": (("情侣", "男女同款"), ("男女同款", "情侣款")),
}
ZH_MODIFIERS = (
    "新款", "宽松", "修身", "纯棉", "透气", "百搭", "韩版", "加绒", "夏季", "冬季", "休闲", "正装", "运动", "大码",
    "学生", "潮流", "时尚", "复古", "简约", "高腰", "短款", "长款", "防水", "轻便", "真皮", "印花", "条纹", "格子",
    "纯色", "便宜", "正品", "2024新款", "ins风", "网红", "上班", "通勤", "百元以内", "500元以下",
)
# brand as the catalogue's titles begin -> how shoppers write it: English words, Chinese names
BRAND_WORDS: dict[str, tuple[tuple[str, ...], tuple[str, ...]]] = {
    "Nike": (("nike",), ("耐克",)), "ADIDAS": (("adidas",), ("阿迪达斯", "阿迪")), "Puma": (("puma",), ("彪马",)),
    "Levis": (("levis", "levi's"), ("李维斯",)), "Wrangler": (("wrangler",), ("威格",)), "Lee": (("lee",), ()),
    "Reebok": (("reebok",), ("锐步",)), "Fila": (("fila",), ("斐乐",)), "Timberland": (("timberland",), ("添柏岚",)),
    "Clarks": (("clarks",), ("其乐",)), "Fastrack": (("fastrack",), ()), "Casio": (("casio",), ("卡西欧",)),
    "Esprit": (("esprit",), ("埃斯普利特",)), "Arrow": (("arrow",), ()), "Peter England": (("peter england",), ()),
    "United Colors of Benetton": (("benetton", "ucb"), ("贝纳通",)), "Spykar": (("spykar",), ()),
    "Hanes": (("hanes",), ("恒适",)), "Converse": (("converse",), ("匡威",)), "Vans": (("vans",), ("万斯",)),
    "Skechers": (("skechers",), ("斯凯奇",)), "Lotto": (("lotto",), ("乐途",)), "Red Tape": (("red tape",), ()),
    "Guess": (("guess",), ()), "Baggit": (("baggit",), ()), "Catwalk": (("catwalk",), ()),
    "Flying Machine": (("flying machine",), ()), "Quiksilver": (("quiksilver",), ("极速骑板",)),
    "Murcia": (("murcia",), ()), "Gini": (("gini and jony",), ()), "Scullers": (("scullers",), ()),
}


# --------------------------------------------------------------------------- catalogue and query sets


def facets_from_rows(rows: Iterable[Mapping[str, object]]) -> Facets:
    """The facet values of catalogue rows (``products.jsonl`` records) and the known brands
    (:data:`BRAND_WORDS`) whose name begins at least one title."""
    counts: dict[str, Counter[str]] = {f: Counter() for f in FACETS}
    titles: list[str] = []
    for row in rows:
        for f in FACETS:
            v = row.get(f)
            if isinstance(v, str) and v.strip():
                counts[f][v.strip()] += 1
        t = row.get("title")
        if isinstance(t, str):
            titles.append(t.casefold())
    brands = tuple(b for b in BRAND_WORDS if any(t.startswith(b.casefold() + " ") for t in titles))
    return Facets({f: tuple(sorted(c)) for f, c in counts.items()}, brands, {f: dict(c) for f, c in counts.items()})


def read_catalog_facets(products_jsonl: Path) -> Facets:
    """:func:`facets_from_rows` of a ``products.jsonl`` file."""
    with products_jsonl.open(encoding="utf-8") as f:
        return facets_from_rows(json.loads(line) for line in f if line.strip())


def benchmark_queries(folder: Path = QUERY_DIR) -> list[PoolQuery]:
    """The hand-written query texts of every ``*.jsonl`` set in ``folder``, in file order, first
    occurrence of each text kept."""
    out: list[PoolQuery] = []
    seen: set[str] = set()
    for path in sorted(folder.glob("*.jsonl")):
        for line in path.read_text(encoding="utf-8").splitlines():
            if not line.strip():
                continue
            text = str(json.loads(line)["query"]).strip()
            if text and text_key(text) not in seen:
                seen.add(text_key(text))
                out.append(PoolQuery(text, language_of(text), "benchmark"))
    return out


# --------------------------------------------------------------------------- generation


T = TypeVar("T")


class _Weighted(Generic[T]):
    """Items drawn with fixed weights."""

    def __init__(self, items: Sequence[T], weights: Sequence[float]) -> None:
        self.items = list(items)
        self.cum = list(itertools.accumulate(weights))

    def draw(self, rng: random.Random) -> T:
        return rng.choices(self.items, cum_weights=self.cum)[0]


def _weights(facets: Facets, field: str, values: Sequence[str]) -> list[float]:
    """sqrt(product count) per value (1 each without counts)."""
    counts = (facets.counts or {}).get(field, {})
    return [math.sqrt(counts.get(v, 1)) if counts else 1.0 for v in values]


class _Generator:
    """Draws one shopper-style query at a time from ``facets`` with ``rng``."""

    def __init__(self, facets: Facets, rng: random.Random) -> None:
        self.rng = rng
        self.genders = [g for g in facets.values.get("gender", ()) if g in EN_GENDER] or list(EN_GENDER)
        types, colours = facets.values["article_type"], facets.values["base_colour"]
        en_types = [EN_TYPES.get(t, (t.lower(),)) for t in types]
        self.en_types = _Weighted(en_types, _weights(facets, "article_type", types))
        self.en_colours = _Weighted([c.lower() for c in colours], _weights(facets, "base_colour", colours))
        zh_types: dict[str, tuple[str, ...]] = {t: (z,) for t, z in ZH["article_type"].items()}
        for t, extra in ZH_TYPES_EXTRA.items():
            zh_types[t] = zh_types.get(t, ()) + extra
        zh_t = [t for t in types if t in zh_types]
        self.zh_types = _Weighted([zh_types[t] for t in zh_t], _weights(facets, "article_type", zh_t))
        zh_colours = {**ZH["base_colour"], **ZH_COLOURS_EXTRA}
        zh_c = [c for c in colours if c in zh_colours]
        self.zh_colours = _Weighted([zh_colours[c] for c in zh_c], _weights(facets, "base_colour", zh_c))
        if not zh_t or not zh_c:
            raise ValueError("the catalogue's types and colours have no Chinese words in the table "
                             f"(types {facets.values['article_type'][:5]}, colours {facets.values['base_colour'][:5]})")
        self.en_usage = [u.lower() for u in facets.values.get("usage", ())]
        self.en_season = [s.lower() for s in facets.values.get("season", ())]
        self.zh_usage = [ZH["usage"][u] for u in facets.values.get("usage", ()) if u in ZH["usage"]]
        self.zh_season = [ZH["season"][s] for s in facets.values.get("season", ()) if s in ZH["season"]]
        self.brands = [BRAND_WORDS[b] for b in facets.brands]
        self.zh_brands = [b for b in self.brands if b[1]]

    def pick(self, options: Sequence[T]) -> T:
        return options[self.rng.randrange(len(options))]

    def maybe(self, p: float) -> bool:
        return self.rng.random() < p

    def en_modifier(self) -> str:
        r = self.rng.random()
        if r < 0.15 and self.en_usage:
            return self.pick(self.en_usage)
        if r < 0.25 and self.en_season:
            return self.pick(self.en_season)
        return self.pick(EN_MODIFIERS)

    def zh_modifier(self) -> str:
        r = self.rng.random()
        if r < 0.15 and self.zh_usage:
            return self.pick(self.zh_usage)
        if r < 0.25 and self.zh_season:
            return self.pick(self.zh_season)
        return self.pick(ZH_MODIFIERS)

    def modifiers(self, draw: Callable[[], str]) -> list[str]:
        """None, one or two different modifiers."""
        mods: list[str] = []
        for _ in range(self.rng.choice((0, 1, 1, 2))):
            m = draw()
            if m not in mods:
                mods.append(m)
        return mods

    def english(self) -> str:
        kind = self.en_types.draw(self.rng)
        noun = self.pick(kind)
        colour = self.en_colours.draw(self.rng) if self.maybe(0.75) else ""
        gender = self.pick(self.genders) if self.maybe(0.6) else ""
        brand = self.pick(self.pick(self.brands)[0]) if self.brands and self.maybe(0.25) else ""
        mods = self.modifiers(self.en_modifier)
        before, after = EN_GENDER[gender] if gender else ((), ())
        pattern = self.rng.randrange(4)
        if pattern == 0:    # "mens slim fit black shirt"
            words = [self.pick(before) if before else "", brand, *mods, colour, noun]
        elif pattern == 1:  # "black shirt for men slim fit"
            words = [brand, colour, noun, self.pick(after) if after else "", *mods]
        elif pattern == 2:  # "shirt black mens"
            words = [brand, noun, colour, self.pick(before) if before else "", *mods]
        else:               # "slim fit shirts for him in black"
            words = [*mods, brand, noun, self.pick(after) if after else "", f"in {colour}" if colour else ""]
        return " ".join(w for w in words if w)

    def chinese(self) -> str:
        noun = self.pick(self.zh_types.draw(self.rng))
        colour = self.zh_colours.draw(self.rng) if self.maybe(0.75) else ""
        gender = self.pick(self.genders) if self.maybe(0.6) else ""
        brand = ""
        if self.zh_brands and self.maybe(0.25):
            en, zh = self.pick(self.zh_brands)
            brand = self.pick(zh) if self.maybe(0.7) else self.pick(en)  # "耐克" or code-switched "nike"
        mods = self.modifiers(self.zh_modifier)
        before, after = ZH_GENDER[gender] if gender else ((), ())
        pattern = self.rng.randrange(4)
        if pattern == 0:    # 男士黑色运动鞋
            head = (self.pick(before) if before else "") + colour + noun
            parts = [brand, head, *mods]
        elif pattern == 1:  # 黑色运动鞋 男
            parts = [brand, colour + noun, self.pick(after) if after else "", *mods]
        elif pattern == 2:  # 运动鞋男款 黑色 宽松
            parts = [brand + noun + (self.pick(after) if after else ""), colour, *mods]
        else:               # 宽松 男生 黑色运动鞋
            parts = [*mods, self.pick(before) if before else "", brand + colour + noun]
        sep = " " if self.maybe(0.7) else ""
        return sep.join(p for p in parts if p)


def generate(facets: Facets, n: int, seed: int = 0, zh_share: float = 0.4,
             exclude: Iterable[str] = ()) -> list[PoolQuery]:
    """``n`` distinct generated queries (:func:`text_key`), about ``zh_share`` of them Chinese,
    none equal to a text in ``exclude``; the same ``facets`` and ``seed`` give the same list.
    ``ValueError`` when the facets cannot make ``n`` distinct texts."""
    if n < 0 or not 0.0 <= zh_share <= 1.0:
        raise ValueError(f"generate: n must be >= 0 and zh_share in [0, 1], got n={n}, zh_share={zh_share}")
    rng = random.Random(seed)
    gen = _Generator(facets, rng)
    seen = {text_key(t) for t in exclude}
    out: list[PoolQuery] = []
    misses = 0  # draws in a row that gave a text already made
    while len(out) < n:
        lang: Language = "zh" if rng.random() < zh_share else "en"
        text = gen.chinese() if lang == "zh" else gen.english()
        key = text_key(text)
        if not key or key in seen:
            misses += 1
            if misses > MAX_MISSES:
                raise ValueError(f"generate: only {len(out)} distinct queries from these facets, asked for {n}")
            continue
        misses = 0
        seen.add(key)
        out.append(PoolQuery(text, lang, "generated"))
    return out


def query_pool(facets: Facets, size: int, seed: int = 0, benchmark: Sequence[PoolQuery] | None = None,
               zh_share: float = 0.4, spread: int = 30_000) -> list[PoolQuery]:
    """``size`` distinct queries: the hand-written ``benchmark`` queries (default:
    :func:`benchmark_queries`; all of them when ``size`` allows, else a seeded sample) at seeded
    random places among the first ``spread`` (or ``size``, if smaller), generated ones in every
    other place, in the order they were made. The first ``n`` queries are therefore the same
    whatever the ``size`` >= ``n`` (with the same ``spread``), so a larger pool only adds queries
    after them, and a load test's mix of written and generated queries does not change with it."""
    if size < 1:
        raise ValueError(f"query_pool: size must be >= 1, got {size}")
    rng = random.Random(seed)
    written = list(benchmark_queries() if benchmark is None else benchmark)
    if len(written) > size:
        written = rng.sample(written, size)
    else:
        rng.shuffle(written)
    generated = iter(generate(facets, size - len(written), seed=seed + 1, zh_share=zh_share,
                              exclude=[q.text for q in written]))
    places = dict(zip(sorted(rng.sample(range(min(size, max(spread, len(written)))), len(written))), written,
                      strict=True))
    return [places[i] if i in places else next(generated) for i in range(size)]


def pool_summary(pool: Sequence[PoolQuery]) -> dict[str, int]:
    """Counts by language and source, and the number of distinct texts."""
    out = {"queries": len(pool), "distinct": len({text_key(q.text) for q in pool})}
    for lang in LANGUAGES:
        out[lang] = sum(q.lang == lang for q in pool)
    for source in ("benchmark", "generated"):
        out[source] = sum(q.source == source for q in pool)
    return out
