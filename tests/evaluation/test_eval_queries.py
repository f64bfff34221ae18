"""load_queries: parsing, path resolution, and collected error reporting."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from shopsearch.evaluation import EvalQuery, QueryFileError, load_queries


def _write(path: Path, lines: list[object]) -> Path:
    text = "\n".join(
        line if isinstance(line, str) else json.dumps(line, ensure_ascii=False) for line in lines
    )
    path.write_text(text + "\n", encoding="utf-8")
    return path


def test_loads_text_image_and_meta(tmp_path: Path) -> None:
    (tmp_path / "imgs").mkdir()
    (tmp_path / "imgs" / "q2.jpg").write_bytes(b"fake")
    path = _write(
        tmp_path / "queries.jsonl",
        [
            {
                "qid": "q1",
                "query": "红色连衣裙",
                "relevant": ["p1", 2, "p1"],
                "template": "colour",
                "attributes": {"colour": "red"},
            },
            "",
            {"qid": 7, "image": "imgs/q2.jpg", "relevant": []},
            {
                "qid": "q3",
                "query": "same in blue",
                "image": "https://x.test/a.jpg",
                "relevant": ["p9"],
            },
        ],
    )
    queries = load_queries(path)
    assert [q.qid for q in queries] == ["q1", "7", "q3"]
    q1, q2, q3 = queries
    assert q1 == EvalQuery(
        qid="q1",
        relevant=("p1", "2"),
        text="红色连衣裙",
        image=None,
        meta={"template": "colour", "attributes": {"colour": "red"}},
    )
    assert q1.modality == "text"
    assert q2.image == str((tmp_path / "imgs" / "q2.jpg").resolve())
    assert Path(q2.image).is_absolute()
    assert q2.text is None and q2.relevant == () and q2.modality == "image"
    assert q3.image == "https://x.test/a.jpg" and q3.modality == "text+image"


def test_relative_image_resolves_against_queries_file_not_cwd(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    sub = tmp_path / "set"
    sub.mkdir()
    (sub / "a.png").write_bytes(b"fake")
    path = _write(sub / "q.jsonl", [{"qid": "q", "image": "a.png", "relevant": ["p"]}])
    monkeypatch.chdir(tmp_path)
    assert load_queries(Path("set/q.jsonl"))[0].image == str((sub / "a.png").resolve())
    assert path.exists()


def test_collects_every_problem_with_file_line_and_field(tmp_path: Path) -> None:
    path = _write(
        tmp_path / "bad.jsonl",
        [
            {"qid": "ok", "query": "fine", "relevant": ["p1"]},  # line 1: good
            {"query": "no id", "relevant": []},  # line 2: qid missing
            {"qid": "", "query": "empty id", "relevant": []},  # line 3: qid empty
            {"qid": "ok", "query": "dup", "relevant": []},  # line 4: duplicate qid
            "{not json",  # line 5: bad JSON
            {"qid": "q6", "relevant": ["p1"]},  # line 6: neither query nor image
            {"qid": "q7", "query": "x", "relevant": "p1"},  # line 7: relevant not a list
            {"qid": "q8", "query": "x"},  # line 8: relevant missing
            {"qid": "q9", "image": "missing.jpg", "relevant": []},  # line 9: image not found
            {"qid": "q10", "query": 5, "relevant": [None]},  # line 10: two problems
            "[1, 2]",  # line 11: not an object
        ],
    )
    with pytest.raises(QueryFileError) as info:
        load_queries(path)
    problems = info.value.problems
    assert isinstance(info.value, ValueError)
    expected = [
        (2, "field 'qid'"),
        (3, "field 'qid'"),
        (4, "field 'qid': duplicate 'ok'"),
        (5, "invalid JSON"),
        (6, "field 'query/image'"),
        (7, "field 'relevant': must be a list"),
        (8, "field 'relevant': missing"),
        (9, "field 'image': file not found"),
        (10, "field 'query'"),
        (10, "field 'relevant': item 0"),
        (11, "expected a JSON object"),
    ]
    assert len(problems) == len(expected), problems
    for problem, (line, text) in zip(problems, expected):
        assert problem.startswith(f"{path}:{line}: "), problem
        assert text in problem, problem
    assert f"{len(expected)} problem(s)" in str(info.value)


def test_empty_file_is_an_error(tmp_path: Path) -> None:
    path = tmp_path / "empty.jsonl"
    path.write_text("\n\n", encoding="utf-8")
    with pytest.raises(ValueError, match="no queries"):
        load_queries(path)


def test_missing_file_raises_file_not_found(tmp_path: Path) -> None:
    with pytest.raises(FileNotFoundError):
        load_queries(tmp_path / "nope.jsonl")


def test_evalquery_validates() -> None:
    with pytest.raises(ValueError, match="text, image or both"):
        EvalQuery(qid="q", relevant=())
    with pytest.raises(ValueError, match="qid"):
        EvalQuery(qid=" ", relevant=(), text="x")
