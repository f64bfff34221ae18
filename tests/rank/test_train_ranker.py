"""train-ranker end to end on the tiny index: simulate a log, train, load into the Ranker, search."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

import shopsearch
from shopsearch.cli import main
from shopsearch.rank.events import EventLog
from shopsearch.rank.simulate import SimConfig, simulate_log
from shopsearch.rank.train import train_ranker

SIM = SimConfig(min_type_products=1, shuffle_prob=0.3, p_chinese=0.0, seed=0)
FAST = {"num_boost_round": 20, "cf_params": {"factors": 4, "iterations": 5},
        "graph_params": {"dim": 8, "epochs": 5}}


@pytest.fixture(scope="module")
def trained(tiny_index: Path, tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path, dict]:
    root = tmp_path_factory.mktemp("ranker")
    engine = shopsearch.load(tiny_index)
    summary = simulate_log(engine, root / "log.db", users=8, sessions=6, days=20.0, config=SIM)
    assert summary["simulated"] and summary["events"]["click"] > 0
    card = train_ranker(root / "log.db", None, root / "models", engine=engine, note="simulated test log", **FAST)
    return root / "log.db", root / "models", card


def test_writes_three_models_and_a_card(trained):
    _, models, card = trained
    for sub, name in (("cf", "cf.json"), ("graph", "graph.json"), ("ltr", "model.txt"), ("ltr", "ltr.json")):
        assert (models / sub / name).is_file()
    on_disk = json.loads((models / "model.json").read_text(encoding="utf-8"))
    assert on_disk == card
    assert card["note"] == "simulated test log" and card["users"] == 8
    assert card["split"]["ltr_searches"] > 0 and card["position_bias"]["method"] == "ipw"
    assert len(card["position_bias"]["propensities"]["theta"]) == 10
    assert card["ltr"]["features"] and card["cf"]["users"] > 0 and card["graph"]["users"] > 0


def test_the_ranker_loads_the_models_and_personalises(trained, tiny_index):
    from shopsearch.rank.ltr import LTRModel
    from shopsearch.rank.ranker import FEATURES, Ranker

    log_path, models, card = trained
    engine = shopsearch.load(tiny_index)
    ranker = Ranker(engine, log=EventLog(log_path), models_dir=models).attach()
    assert ranker.cf is not None and ranker.graph is not None and ranker.ltr is not None
    assert ranker.ltr.feature_names == card["ltr"]["features"]
    LTRModel.load(models / "ltr", feature_names=list(FEATURES))
    user = EventLog(log_path).read(event_types=["click"])[0].user_id
    result = engine.search("shirt", k=5, user_id=user)
    assert result.hits
    names, X = ranker.features("shirt", [h.product_id for h in result.hits], user_id=user)
    assert X.shape == (len(result.hits), len(names))


def test_refuses_a_log_without_searches(tmp_path, tiny_index):
    log = EventLog(tmp_path / "empty.db")
    log.append([{"event": "click", "product_id": "p1", "user_id": "u", "ts": 1.0}])
    with pytest.raises(ValueError, match="no searches"):
        train_ranker(log, tiny_index, tmp_path / "out")
    with pytest.raises(FileNotFoundError):
        train_ranker(tmp_path / "missing.db", tiny_index, tmp_path / "out")


def test_cli_simulate_import_and_train(tiny_index, tmp_path, capsys):
    out = tmp_path / "sim.jsonl"
    assert main(["simulate", str(tiny_index), "--users", "4", "--sessions", "3", "--out", str(out)]) == 0
    assert "SIMULATED" in capsys.readouterr().out
    assert main(["events", "import", str(tmp_path / "log.db"), str(out)]) == 0
    assert "imported" in capsys.readouterr().out and EventLog(tmp_path / "log.db").count()["impression"] > 0
    assert main(["train-ranker", str(tmp_path / "log.db"), "--index", str(tiny_index), "--out",
                 str(tmp_path / "models"), "--note", "simulated"]) == 0
    assert "trained cf/, graph/, ltr/" in capsys.readouterr().out and (tmp_path / "models" / "ltr").is_dir()
    bad = tmp_path / "bad.jsonl"
    bad.write_text('{"event": "click"}\n', encoding="utf-8")
    assert main(["events", "import", str(tmp_path / "log.db"), str(bad)]) == 1
    assert "product_id" in capsys.readouterr().err
