"""Multi-turn refinement: a follow-up edits the session's query instead of replacing it.

"red dress" then "cheaper", "for women", "不要黑色", "再便宜一点", "换成运动款", "more like the
second one". A turn is a follow-up when it says so (a cue such as "in", "for", "but", "换成",
"不要", a comparison such as "cheaper", an ordinal reference) or when it only names attribute
values ("red", "女款"); a turn with words of its own, or that names another kind of product
without a cue ("black shoes" after "red dress"), starts a new query. Feedback (likes and
dislikes) survives new queries within the session; "start over" / "重新开始" clears everything.
"""

from __future__ import annotations

import re
import statistics
from collections.abc import Callable, Sequence
from dataclasses import dataclass

from shopsearch.preprocess.query import Constraint, ParsedQuery
from shopsearch.preprocess.text import normalize
from shopsearch.rank.session import SessionState, constraint_from_dict, constraint_to_dict

TYPE_FIELDS = frozenset({"article_type", "sub_category", "master_category", "category"})

_RESET = re.compile(r"^\s*(?:start over|reset|new search|clear(?: all)?)\b|重新开始|重新搜索|清空|重置", re.I)
_CHEAPER = re.compile(r"\b(?:cheaper|less expensive|lower price[sd]?|more affordable|not so expensive)\b"
                      r"|便宜一?点|便宜些|更便宜|再便宜|便宜的|太贵", re.I)
_PRICIER = re.compile(r"\b(?:pricier|more expensive|higher end|better quality)\b|贵一?点|更贵|高档一?点|好一点的",
                      re.I)
_MORE_LIKE = re.compile(r"\b(?:more like|similar to|like the|same as|looks? like|like that|like this)\b"
                        r"|像|类似|一样|差不多|相似", re.I)
_CUE = re.compile(r"^\s*(?:in|for|but|and|only|just|make it|show me|without|no|not|except|with|any|also|maybe)\b"
                  r"|^\s*(?:要|换成|换个|换|只要|不要|还是|再|来点|改成|有没有|不是|别|除了|给我)", re.I)
_ORDINALS = {
    "first": 0, "1st": 0, "second": 1, "2nd": 1, "third": 2, "3rd": 2, "fourth": 3, "4th": 3, "fifth": 4,
    "5th": 4, "sixth": 5, "6th": 5, "last": -1,
}
_ZH_DIGITS = {"一": 1, "二": 2, "两": 2, "三": 3, "四": 4, "五": 5, "六": 6, "七": 7, "八": 8, "九": 9, "十": 10}
_ORDINAL_EN = re.compile(r"\b(" + "|".join(_ORDINALS) + r")\b|(?:number|no\.?|#)\s*(\d{1,2})\b", re.I)
_ORDINAL_ZH = re.compile(r"第\s*([一二两三四五六七八九十]|\d{1,2})\s*(?:个|款|件|张|条|双)?|最后一(?:个|款|件)")
_STOP_EN = frozenset(
    "in for but and only just make it show me with without no not except any also maybe a an the one ones some "
    "please something more like similar to same as looks look that this these those them cheaper less expensive "
    "lower price prices priced pricier higher end better quality what about how do you have i want need instead "
    "rather version style colour color of on option options same kind type number no. affordable so".split()
)
_ZH_STOP_WORDS = (
    "的 要 换成 换个 换 只要 不要 不是 还是 再 来点 改成 有没有 吗 呢 吧 了 我想 我要 想要 看看 一下 一点 "
    "一些 些 款 个 第 像 类似 一样 差不多 相似 更 便宜 贵 太 和 跟 那个 这个 那款 这款 别 除了 给我 好一点 点"
).split()
_STOP_ZH = re.compile("|".join(sorted(_ZH_STOP_WORDS, key=len, reverse=True)))
_TOKEN = re.compile(r"[a-z0-9]+(?:[-'][a-z0-9]+)*|[\u3400-\u9fff]+")


@dataclass(frozen=True)
class Turn:
    """What one utterance did: ``kind`` is new, refine or reset; ``text`` and ``parsed`` are
    what to retrieve with; ``required`` the constraints that must hold."""

    kind: str
    text: str | None
    parsed: ParsedQuery | None
    required: tuple[Constraint, ...]
    anchor: str | None


def refine(
    state: SessionState, utterance: str | None, parse: Callable[[str], ParsedQuery],
    price_of: Callable[[str], float | None], matches: Callable[[str, Sequence[Constraint]], bool],
) -> Turn:
    """Apply ``utterance`` to ``state`` (edited in place) and return what to search for.

    ``price_of(id)`` is a product's price (None when unknown); ``matches(id, constraints)``
    whether a product meets the attribute constraints (for "cheaper than these")."""
    if utterance is None:  # a photo on its own: a new visual query, feedback kept
        _start(state, "", ())
        state.turns.append("[photo]")
        return Turn("new", None, None, (), None)
    state.note = None
    text = utterance.strip()
    kind = "refine"
    if _RESET.search(text):
        state.clear()
        text = _RESET.sub(" ", text).strip(" ,.;，。")
        kind = "reset"
        if not text:
            state.turns.append(utterance)
            return Turn("reset", None, None, (), None)
    parsed = parse(text)
    content = content_words(text, parsed)
    cheaper, pricier = bool(_CHEAPER.search(text)), bool(_PRICIER.search(text))
    ordinal = _ordinal(text)
    cue = bool(_CUE.search(text)) or cheaper or pricier or (ordinal is not None and bool(_MORE_LIKE.search(text)))
    current_types = {f for c in _loads(state.constraints) for f in c.fields if f in TYPE_FIELDS}
    new_types = {f for c in parsed.constraints if c.op == "eq" for f in c.fields if f in TYPE_FIELDS}
    # an utterance with nothing in it the parser or a cue understands (an emoji, "xyzzy") is not
    # a follow-up: it starts a query of its own (which may find nothing) instead of re-running the last
    only_values = not content and bool(parsed.constraints) and not (new_types and current_types)
    follow_up = bool(state.turns) and kind != "reset" and (cue or ordinal is not None or only_values)
    state.turns.append(utterance)
    if not follow_up:
        _start(state, " ".join(content), parsed.constraints)
        return Turn("new" if kind != "reset" else "reset", text, parsed, (), None)

    constraints, required = _loads(state.constraints), _loads(state.required)
    for c in parsed.constraints:
        constraints, required = _merge(constraints, required, c)
    if cheaper or pricier:
        wanted = [c for c in constraints if c.op == "eq"]
        like_these = [pid for pid in state.shown if matches(pid, wanted)] or state.shown
        required = _relative_price(state, like_these, required, price_of, cheaper)
    if ordinal is not None and (_MORE_LIKE.search(text) or not content):
        if state.shown and -len(state.shown) <= ordinal < len(state.shown):
            state.anchor = state.shown[ordinal]
        else:
            state.note = f"there is no result number {ordinal + 1 if ordinal >= 0 else 'last'} to compare with"
    elif _MORE_LIKE.search(text) and (state.liked or state.clicked):
        state.anchor = (state.liked or state.clicked)[-1]
    if content:
        state.base = " ".join(dict.fromkeys((state.base + " " + " ".join(content)).split()))
    state.constraints = [constraint_to_dict(c) for c in constraints]
    state.required = [constraint_to_dict(c) for c in required]
    return compose(state, parse)


def compose(state: SessionState, parse: Callable[[str], ParsedQuery] | None = None) -> Turn:
    """The query a session's state stands for: its attribute values followed by its free words.
    With ``parse``, the text the signals search is written in catalogue words as a fresh
    query's would be (so a further page searches what its first page searched)."""
    constraints = _loads(state.constraints)
    words = [str(c.value) for c in constraints if c.op == "eq"] + state.base.split()
    text = " ".join(dict.fromkeys(w for w in words if w)) or None
    normalized = (parse(text).normalized if parse is not None else text) if text else ""
    parsed = ParsedQuery(text or "", normalized, tuple(c for c in constraints if c.op != "ne")) if text else None
    required = tuple(_loads(state.required)) + tuple(c for c in constraints if c.op == "ne")
    return Turn("refine", text, parsed, required, state.anchor)


def content_words(text: str, parsed: ParsedQuery) -> list[str]:
    """The words of ``text`` that are neither constraint values, cues nor stop words."""
    # the words as the parser read them, where the constraints' spans come from
    lowered = re.sub(r"(?<=[a-z])'s\b", " ", normalize(parsed.read or parsed.normalized))  # women's -> women
    for c in sorted(parsed.constraints, key=lambda c: -len(c.text)):
        for part in {c.text, c.text.removeprefix("not ")}:
            if part:
                lowered = lowered.replace(part.lower(), " ")
    for pattern in (_CHEAPER, _PRICIER, _MORE_LIKE, _ORDINAL_EN, _ORDINAL_ZH):
        lowered = pattern.sub(" ", lowered)
    lowered = _STOP_ZH.sub(" ", lowered)
    return [w for w in _TOKEN.findall(lowered) if w not in _STOP_EN and not w.isdigit()]


def _ordinal(text: str) -> int | None:
    m = _ORDINAL_EN.search(text)
    if m:
        return _ORDINALS[m.group(1).lower()] if m.group(1) else int(m.group(2)) - 1
    m = _ORDINAL_ZH.search(text)
    if m:
        if m.group(1) is None:
            return -1
        raw = m.group(1)
        return (int(raw) if raw.isdigit() else _ZH_DIGITS[raw]) - 1
    return None


def _loads(items: list[dict]) -> list[Constraint]:  # type: ignore[type-arg]
    return [constraint_from_dict(d) for d in items]


def _start(state: SessionState, base: str, constraints: tuple[Constraint, ...]) -> None:
    state.base = base
    state.constraints = [constraint_to_dict(c) for c in constraints]
    state.required = []
    state.anchor = None


def _overlaps(a: Constraint, b: Constraint) -> bool:
    if set(a.fields) & set(b.fields):
        return True
    return bool(set(a.fields) & TYPE_FIELDS and set(b.fields) & TYPE_FIELDS)


def _same_value(a: Constraint, b: Constraint) -> bool:
    def norm(c: Constraint) -> set[str]:
        return {str(v).casefold() for v in (c.values or (c.value,))}

    return bool(norm(a) & norm(b))


def _merge(
    constraints: list[Constraint], required: list[Constraint], c: Constraint,
) -> tuple[list[Constraint], list[Constraint]]:
    """Fold one follow-up constraint into the session's: a new value replaces the old one on
    the same attribute; a negation drops a wish for that value and must hold from now on."""
    if c.fields[0] == "price":
        constraints = [x for x in constraints if x.fields[0] != "price"]
        required = [x for x in required if x.fields[0] != "price"] + [c]
    elif c.op == "eq":
        constraints = [x for x in constraints if not (x.op == "eq" and _overlaps(x, c))] + [c]
        required = [x for x in required if not (x.op == "ne" and _overlaps(x, c) and _same_value(x, c))]
    elif c.op == "ne":
        constraints = [x for x in constraints if not (_overlaps(x, c) and _same_value(x, c))]
        required = [x for x in required if not (x.op == "ne" and x.fields == c.fields and _same_value(x, c))] + [c]
    return constraints, required


def _relative_price(
    state: SessionState, shown: Sequence[str], required: list[Constraint], price_of: Callable[[str], float | None],
    cheaper: bool,
) -> list[Constraint]:
    """"cheaper" / "再便宜一点": below the median price of the products just shown that fit the
    query (and below any budget already set); "pricier": above it."""
    prices = [p for p in (price_of(pid) for pid in shown) if p is not None and p > 0]
    if not prices:
        state.note = "no prices to compare: the results shown have no price"
        return required
    median = statistics.median(prices)
    step = 0.01 if median >= 1 else median * 0.01  # strictly cheaper (dearer) than the middle one
    if cheaper:
        budget = round(median - step, 2)
        for x in required:
            if x.fields[0] == "price" and x.op == "le":
                budget = min(budget, round(float(x.value) - step, 2))  # type: ignore[arg-type]
        c = Constraint(("price",), budget, "le", "cheaper", 0.95)
    else:
        c = Constraint(("price",), round(median + step, 2), "ge", "pricier", 0.95)
    return [x for x in required if x.fields[0] != "price"] + [c]
