"""Evaluation reports in HTML (one self-contained file) and Markdown.

``build_report(runs)`` turns evaluated systems (:class:`~shopsearch.evaluation.results.RunResults`)
into a list of blocks - headings, paragraphs, tables, figures and example queries with the
thumbnails of their top results - and :func:`write_report` renders them:

* ``.html``: every figure and thumbnail embedded as a base64 data URI, so the page works
  offline and can be mailed around;
* ``.md``: figures and thumbnails written as files into ``<stem>_files/`` next to it.

Contents: a metrics table (with latency), paired comparisons against the first system (when
there are two or more on the same queries), recall@k curves, a per-query-type breakdown, a
latency histogram, example queries with thumbnails (green border = judged relevant), and the
per-query scores.
"""

from __future__ import annotations

import base64
import html
import io
import logging
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

from shopsearch.evaluation.compare import COMPARISON_HEADER, compare_reports, comparison_rows
from shopsearch.evaluation.plots import group_bars_png, latency_histogram_png, metric_bars_png, recall_curves_png
from shopsearch.evaluation.results import RunResults, recall_curve

__all__ = ["Block", "Example", "build_report", "render_html", "render_markdown", "write_report"]

logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class Example:
    """One example query and, per system, its top results ``(id, title, image path, relevant)``."""

    qid: str
    text: str | None
    image: str | None
    group: str
    n_relevant: int
    results: dict[str, list[tuple[str, str, str | None, bool]]]
    scores: dict[str, float]


@dataclass(frozen=True)
class Block:
    kind: Literal["h2", "p", "table", "figure", "examples", "details"]
    text: str = ""
    header: list[str] = field(default_factory=list)
    rows: list[list[str]] = field(default_factory=list)
    png: bytes = b""
    name: str = ""
    examples: list[Example] = field(default_factory=list)


def _fmt(x: float) -> str:
    return f"{x:.4f}"


def _group(row: dict[str, Any], key: str) -> str:
    value = row.get("meta", {}).get(key)
    if value is None:
        return row.get("modality", "(missing)") if key == "modality" else "(missing)"
    return str(value)


def _pick_examples(runs: Sequence[RunResults], n: int, group_by: str) -> list[str]:
    """Query ids to show: the biggest nDCG disagreements between the first two systems, then
    the first query of each query type in turn (deterministic)."""
    rows = runs[0].report.per_query
    metric = f"ndcg@{runs[0].report.k}"
    picked: list[str] = []
    if len(runs) >= 2:
        other = {r["qid"]: r["metrics"].get(metric, 0.0) for r in runs[1].report.per_query}
        diffs = sorted(rows, key=lambda r: -abs(r["metrics"].get(metric, 0.0) - other.get(r["qid"], 0.0)))
        picked += [r["qid"] for r in diffs[: n // 2] if abs(r["metrics"].get(metric, 0.0) - other.get(r["qid"], 0.0))]
    by_group: dict[str, list[str]] = {}
    for r in rows:
        by_group.setdefault(_group(r, group_by), []).append(r["qid"])
    queues = [by_group[g] for g in sorted(by_group)]
    depth = 0
    while len(picked) < n and any(depth < len(q) for q in queues):
        for q in queues:
            if depth < len(q) and q[depth] not in picked and len(picked) < n:
                picked.append(q[depth])
        depth += 1
    return picked


def _examples(runs: Sequence[RunResults], n: int, per_query: int, group_by: str) -> list[Example]:
    rows_by_run = [{r["qid"]: r for r in run.report.per_query} for run in runs]
    out = []
    for qid in _pick_examples(runs, n, group_by):
        base = rows_by_run[0][qid]
        results, scores = {}, {}
        for run, rows in zip(runs, rows_by_run, strict=True):
            row = rows.get(qid)
            if row is None:
                continue
            relevant = set(row.get("relevant", ()))
            items = []
            for pid in row["retrieved"][:per_query]:
                product = run.products.get(pid, {})
                items.append((pid, str(product.get("title", "")), product.get("image"), pid in relevant))
            results[run.name] = items
            scores[run.name] = float(row["metrics"].get(f"ndcg@{run.report.k}", 0.0))
        out.append(Example(qid, base.get("text"), base.get("image"), _group(base, group_by),
                           int(base.get("n_relevant", 0)), results, scores))
    return out


def build_report(
    runs: Sequence[RunResults],
    *,
    title: str = "shopsearch evaluation",
    group_by: str = "template",
    n_examples: int = 6,
    results_per_example: int = 5,
    n_samples: int = 10_000,
    seed: int = 0,
) -> list[Block]:
    """The report's blocks for ``runs`` (the first run is the baseline of comparisons)."""
    if not runs:
        raise ValueError("a report needs at least one evaluated run")
    k = runs[0].report.k
    names = list(runs[0].report.metric_names)
    blocks: list[Block] = []
    info = ", ".join(f"{r.name}: {int(r.report.metrics.get('n_queries', len(r.report.per_query)))} queries"
                     for r in runs)
    blocks.append(Block("p", f"{len(runs)} system(s), cut-off k={k}; {info}."))

    header = ["system", "n", *names, "ms mean", "ms p50", "ms p95"]
    rows = []
    for r in runs:
        lat = r.report.to_dict(per_query=False)["latency_ms"]
        rows.append([r.name, str(int(r.report.metrics.get("n_queries", 0))),
                     *(_fmt(r.report.metrics.get(m, 0.0)) for m in names),
                     f"{lat['mean']:.1f}", f"{lat['p50']:.1f}", f"{lat['p95']:.1f}"])
    blocks += [Block("h2", "Metrics"), Block("table", header=header, rows=rows),
               Block("figure", name="metrics", png=metric_bars_png({r.name: r.report.metrics for r in runs}, names),
                     text="Mean metrics per system")]

    if len(runs) >= 2:
        try:
            comps = compare_reports({r.name: r.report for r in runs}, metrics=names, n_samples=n_samples, seed=seed)
        except ValueError as exc:
            blocks += [Block("h2", "Comparison"), Block("p", f"No paired comparison: {exc}")]
        else:
            blocks += [Block("h2", f"Comparison with {runs[0].name}"),
                       Block("p", "Paired over queries: diff = system - baseline; 95% t interval and bootstrap "
                                  "percentile interval; p-values of the paired t-test (raw and Holm-adjusted) and "
                                  "the randomisation test; * = both < 0.05."),
                       Block("table", header=COMPARISON_HEADER, rows=comparison_rows(comps))]

    curves = {r.name: c for r in runs if (c := recall_curve(r.report)) is not None}
    if curves:
        blocks += [Block("h2", "Recall@k"), Block("figure", name="recall_curve", png=recall_curves_png(curves),
                                                  text="Mean recall@k against k")]

    metric = f"ndcg@{k}"
    by_group = {r.name: r.report.by_group(group_by) for r in runs}
    groups = sorted({g for v in by_group.values() for g in v})
    if groups:
        header = [group_by, "n", *(f"{r.name} {metric}" for r in runs), *(f"{r.name} recall@{k}" for r in runs)]
        rows = []
        for g in groups:
            first = next(v[g] for v in by_group.values() if g in v)
            rows.append([g, str(int(first["n_queries"])),
                         *(_fmt(by_group[r.name][g][metric]) if g in by_group[r.name] else "" for r in runs),
                         *(_fmt(by_group[r.name][g][f"recall@{k}"]) if g in by_group[r.name] else "" for r in runs)])
        png = group_bars_png({name: {g: m[metric] for g, m in v.items()} for name, v in by_group.items()}, metric)
        blocks += [Block("h2", f"By query type ({group_by})"), Block("table", header=header, rows=rows),
                   Block("figure", name="by_group", png=png, text=f"{metric} by {group_by}")]

    latencies = {r.name: [row.get("latency_ms", 0.0) for row in r.report.per_query] for r in runs}
    blocks += [Block("h2", "Latency"), Block("figure", name="latency", png=latency_histogram_png(latencies),
                                             text="Latency per query")]

    if n_examples > 0:
        blocks += [Block("h2", "Example queries"),
                   Block("p", "Top results per system; a green border marks a result judged relevant."),
                   Block("examples", examples=_examples(runs, n_examples, results_per_example, group_by))]

    header = ["qid", "query", group_by, *(f"{r.name} {metric}" for r in runs)]
    per_run = [{row["qid"]: row for row in r.report.per_query} for r in runs]
    rows = [[row["qid"], str(row.get("text") or row.get("image") or ""), _group(row, group_by),
             *(_fmt(pr[row["qid"]]["metrics"][metric]) if row["qid"] in pr else "" for pr in per_run)]
            for row in runs[0].report.per_query]
    blocks += [Block("h2", "Per query"), Block("details", text=f"{len(rows)} queries", header=header, rows=rows)]
    return blocks


# --------------------------------------------------------------------------- rendering


def _thumbnail(path: str | None, size: int) -> bytes | None:
    """JPEG bytes of a ``size``-pixel thumbnail, or None (missing file, URL, unreadable)."""
    if not path or path.startswith(("http://", "https://")):
        return None
    from PIL import Image, UnidentifiedImageError

    try:
        with Image.open(path) as img:
            rgb = img.convert("RGB")
            rgb.thumbnail((size, size))
            buf = io.BytesIO()
            rgb.save(buf, format="JPEG", quality=80)
            return buf.getvalue()
    except (OSError, UnidentifiedImageError) as exc:
        logger.warning("no thumbnail for %s: %s", path, exc)
        return None


def _data_uri(data: bytes, mime: str) -> str:
    return f"data:{mime};base64,{base64.b64encode(data).decode('ascii')}"


CSS = """
body{font-family:system-ui,-apple-system,Segoe UI,sans-serif;margin:24px;color:#222;max-width:1200px}
table{border-collapse:collapse;margin:8px 0 16px;font-size:13px}
th,td{border:1px solid #ccc;padding:3px 8px;text-align:right;white-space:nowrap}th{background:#f2f2f2}
td:first-child,th:first-child{text-align:left}
figure{margin:8px 0 20px}figcaption{font-size:12px;color:#666}
.ex{border-top:1px solid #ddd;padding:8px 0}.ex h3{font-size:15px;margin:4px 0}
.row{display:flex;gap:6px;align-items:flex-start;margin:4px 0}.sys{width:140px;font-size:12px;flex:none}
.card{width:104px;font-size:10px;text-align:center}.card img{border:3px solid #d33;width:96px;height:96px;
object-fit:contain;background:#fff}.card.rel img{border-color:#2a2}.noimg{display:inline-block;width:96px;
height:96px;border:3px solid #d33;background:#eee}.card.rel .noimg{border-color:#2a2}
"""


def render_html(blocks: Sequence[Block], *, title: str = "shopsearch evaluation", thumb_size: int = 96) -> str:
    """One self-contained HTML page (figures and thumbnails as data URIs)."""
    e = html.escape
    parts = [f"<!doctype html><html><head><meta charset='utf-8'><title>{e(title)}</title><style>{CSS}</style>"
             f"</head><body><h1>{e(title)}</h1>"]
    for b in blocks:
        if b.kind == "h2":
            parts.append(f"<h2>{e(b.text)}</h2>")
        elif b.kind == "p":
            parts.append(f"<p>{e(b.text)}</p>")
        elif b.kind in ("table", "details"):
            table = ("<table><tr>" + "".join(f"<th>{e(h)}</th>" for h in b.header) + "</tr>"
                     + "".join("<tr>" + "".join(f"<td>{e(c)}</td>" for c in row) + "</tr>" for row in b.rows)
                     + "</table>")
            parts.append(f"<details><summary>{e(b.text)}</summary>{table}</details>" if b.kind == "details"
                         else table)
        elif b.kind == "figure":
            parts.append(f"<figure><img alt='{e(b.text)}' src='{_data_uri(b.png, 'image/png')}'>"
                         f"<figcaption>{e(b.text)}</figcaption></figure>")
        elif b.kind == "examples":
            for ex in b.examples:
                query = e(ex.text or "")
                if ex.image:
                    thumb = _thumbnail(ex.image, thumb_size)
                    if thumb:
                        uri = _data_uri(thumb, "image/jpeg")
                        query += f" <img style='height:48px;vertical-align:middle' src='{uri}'>"
                parts.append(f"<div class='ex'><h3>{e(ex.qid)}: {query}</h3><div style='font-size:12px'>"
                             f"{e(ex.group)}; {ex.n_relevant} relevant</div>")
                for system, items in ex.results.items():
                    cards = []
                    for pid, name, image, rel in items:
                        thumb = _thumbnail(image, thumb_size)
                        pic = (f"<img alt='{e(pid)}' src='{_data_uri(thumb, 'image/jpeg')}'>" if thumb
                               else "<span class='noimg'></span>")
                        cards.append(f"<div class='card{' rel' if rel else ''}' title='{e(name)}'>{pic}<br>"
                                     f"{e(pid)}<br>{e(name[:40])}</div>")
                    parts.append(f"<div class='row'><div class='sys'><b>{e(system)}</b><br>nDCG "
                                 f"{ex.scores.get(system, 0.0):.3f}</div>{''.join(cards)}</div>")
                parts.append("</div>")
    parts.append("</body></html>")
    return "\n".join(parts)


def _md_cell(text: str) -> str:
    return text.replace("|", "\\|").replace("\n", " ")


def render_markdown(blocks: Sequence[Block], assets: Path, *, thumb_size: int = 96) -> str:
    """Markdown; figures and thumbnails are written into ``assets`` and linked relatively."""
    assets.mkdir(parents=True, exist_ok=True)
    rel = assets.name
    lines: list[str] = []
    for b in blocks:
        if b.kind == "h2":
            lines += [f"## {b.text}", ""]
        elif b.kind == "p":
            lines += [b.text, ""]
        elif b.kind in ("table", "details"):
            if b.kind == "details":
                lines += [f"<details><summary>{html.escape(b.text)}</summary>", ""]
            lines.append("| " + " | ".join(_md_cell(h) for h in b.header) + " |")
            lines.append("|" + "---|" * len(b.header))
            lines += ["| " + " | ".join(_md_cell(c) for c in row) + " |" for row in b.rows]
            lines.append("")
            if b.kind == "details":
                lines += ["</details>", ""]
        elif b.kind == "figure":
            (assets / f"{b.name}.png").write_bytes(b.png)
            lines += [f"![{b.text}]({rel}/{b.name}.png)", ""]
        elif b.kind == "examples":
            for ex in b.examples:
                lines += [f"### {ex.qid}: {ex.text or ''}", "", f"{ex.group}; {ex.n_relevant} relevant", ""]
                for system, items in ex.results.items():
                    cells = []
                    for pid, _name, image, is_rel in items:
                        thumb = _thumbnail(image, thumb_size)
                        mark = "✅" if is_rel else "❌"
                        if thumb:
                            fname = f"thumb_{pid}.jpg".replace("/", "_")
                            (assets / fname).write_bytes(thumb)
                            cells.append(f"![{pid}]({rel}/{fname}) {mark}`{pid}`")
                        else:
                            cells.append(f"{mark}`{pid}`")
                    lines += [f"- **{system}** (nDCG {ex.scores.get(system, 0.0):.3f}): " + " ".join(cells)]
                lines.append("")
    return "\n".join(lines)


def write_report(
    runs: Sequence[RunResults], out: str | Path, *, title: str = "shopsearch evaluation", **options: Any
) -> Path:
    """Build and write the report; the format follows the suffix (``.html``/``.htm`` or ``.md``)."""
    out = Path(out)
    suffix = out.suffix.lower()
    if suffix not in (".html", ".htm", ".md", ".markdown"):
        raise ValueError(f"report output must end in .html or .md, got {out.name!r}")
    thumb_size = int(options.pop("thumb_size", 96))
    blocks = build_report(runs, title=title, **options)
    out.parent.mkdir(parents=True, exist_ok=True)
    if suffix in (".html", ".htm"):
        out.write_text(render_html(blocks, title=title, thumb_size=thumb_size), encoding="utf-8")
    else:
        text = f"# {title}\n\n" + render_markdown(blocks, out.parent / f"{out.stem}_files", thumb_size=thumb_size)
        out.write_text(text, encoding="utf-8")
    return out
