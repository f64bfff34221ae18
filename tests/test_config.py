"""One settings file for every stage: ``[search]`` and ``[rank]`` tables read the same way by
the library, ``shopsearch search --config`` and ``shopsearch serve --config`` (issue 17)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from shopsearch.config import DENSE_KINDS, FUSION_METHODS, IndexConfig, SearchConfig, read_section
from shopsearch.rank import RankConfig
from tests.optional import need_module

TOML = """
[search]
fusion = "minmax"
candidates = 50
weights = { lexical = 2.0 }

[rank]
depth = 20
out_of_stock = "filter"

[[rank.rules]]
name = "nike"
match = { brand = "Nike" }
weight = 0.1
"""


def test_search_and_rank_tables_of_one_file(tmp_path: Path) -> None:
    path = tmp_path / "shopsearch.toml"
    path.write_text(TOML, encoding="utf-8")
    search = SearchConfig.load(path)
    assert (search.fusion, search.candidates, search.weights) == ("minmax", 50, {"lexical": 2.0})
    rank = RankConfig.load(path)
    assert rank.depth == 20 and rank.out_of_stock == "filter" and len(rank.rules) == 1


def test_a_file_of_one_stage_is_read_whole_and_json_works(tmp_path: Path) -> None:
    path = tmp_path / "search.json"
    path.write_text(json.dumps({"rrf_k": 10, "aggregation": "mean"}), encoding="utf-8")
    assert SearchConfig.load(path) == SearchConfig(rrf_k=10, aggregation="mean")
    assert RankConfig.load(path) == RankConfig()  # no [rank] table: the defaults


def test_unknown_and_invalid_settings_name_the_file_and_the_key(tmp_path: Path) -> None:
    path = tmp_path / "bad.toml"
    path.write_text('[search]\nfuson = "rrf"\n', encoding="utf-8")
    with pytest.raises(ValueError, match=r"bad\.toml: unknown \[search\] setting\(s\) \['fuson'\]; valid: .*fusion"):
        SearchConfig.load(path)
    path.write_text('[search]\nfusion = "max"\n', encoding="utf-8")
    with pytest.raises(ValueError, match=r"SearchConfig\.fusion must be one of rrf, minmax, zscore, dbsf"):
        SearchConfig.load(path)
    path.write_text("[search\n", encoding="utf-8")
    with pytest.raises(ValueError, match=r"settings file .*bad\.toml"):
        read_section(path, "search", SearchConfig)


def test_vocabularies_are_defined_once() -> None:
    from shopsearch.index.dense import DENSE_KINDS as index_kinds
    from shopsearch.retrieve.fusion import FUSION_METHODS as fusion_methods

    assert index_kinds is DENSE_KINDS and fusion_methods is FUSION_METHODS
    with pytest.raises(ValueError, match="dense_index must be one of auto, flat, hnsw, fp16, sq8, pq"):
        IndexConfig(dense_index="ivf")  # type: ignore[arg-type]


def test_serve_takes_search_settings_from_the_file(tiny_index: Path, tmp_path: Path,
                                                   monkeypatch: pytest.MonkeyPatch) -> None:
    need_module("serve", "fastapi")
    from fastapi.testclient import TestClient

    from shopsearch.service import Settings, create_app

    path = tmp_path / "shopsearch.toml"
    path.write_text(TOML, encoding="utf-8")
    settings = Settings(index_dir=tiny_index, data_dir=tmp_path, search_config=path, rank_config=path,
                        voice=False, warmup=False)
    for name, value in settings.to_env().items():  # what each worker process reads
        monkeypatch.setenv(name, value)
    assert Settings.from_env().search_config == path
    app = create_app(settings)
    with TestClient(app):
        engine = app.state.service.engine
        assert engine.config.fusion == "minmax" and engine.config.candidates == 50
        assert engine.ranker.config.depth == 20


def test_text_threads_reach_the_query_time_text_model(tiny_index: Path) -> None:
    import shopsearch

    for bad in (-1, 1.5, True):
        with pytest.raises(ValueError, match=r"SearchConfig\.text_threads must be an integer >= 0"):
            SearchConfig(text_threads=bad)  # type: ignore[arg-type]
    engine = shopsearch.load(tiny_index)  # the default: one thread per query
    text = engine.encoders.get("text")
    if text._onnx is not None:  # the ONNX backend (the default when onnxruntime is installed)
        assert text._onnx.session.get_session_options().intra_op_num_threads == 1
    two = shopsearch.load(tiny_index, config=SearchConfig(text_threads=2)).encoders.get("text")
    if two._onnx is not None:
        assert two._onnx.session.get_session_options().intra_op_num_threads == 2
    assert engine.search("red shirt", k=3).hits
