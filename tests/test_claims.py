"""docs/results.md §0's derived table: up to date, and judged by the decision rule from the per-seed results."""

import json

from rot90.lab import claims


def test_the_committed_table_is_what_the_results_give():
    text = claims.RESULTS.read_text(encoding="utf-8")
    block = text.split(claims.BEGIN, 1)[1].split(claims.END, 1)[0]
    assert block == "\n" + claims.table(), "docs/results.md is out of date: python -m rot90.lab.claims --write"


def test_a_seed_that_diverged_is_left_out_of_the_pairs_not_shifted(tmp_path):
    rows = [{"run": "a", "per_seed": [0.9, 0.8], "diverged_seeds": [1]},  # seeds 0 and 2
            {"run": "b", "per_seed": [0.5, 0.1, 0.7]}]
    folder = tmp_path / "docs" / "experiments" / "x"
    folder.mkdir(parents=True)
    (folder / "results.json").write_text(json.dumps({"seed": 0, "seeds": 3, "groups": {"g": rows}}))
    claim = claims.Claim("a beats b", "§1", "x", (("a", "b"),))
    got = claims.judge(claim, tmp_path)["contrasts"][0]
    assert got["seeds"] == [0, 2] and got["differences"] == [0.9 - 0.5, 0.8 - 0.7]
    assert got["verdict"] == "leans"  # two pairs never hold


def test_a_metric_better_low_is_judged_the_right_way_round(tmp_path):
    rows = [{"run": "low", "per_seed": [2.0, 2.1, 2.2]}, {"run": "high", "per_seed": [3.0, 3.05, 3.2]}]
    folder = tmp_path / "docs" / "experiments" / "x"
    folder.mkdir(parents=True)
    (folder / "results.json").write_text(json.dumps({"seed": 0, "groups": {"g": rows}}))
    better = claims.judge(claims.Claim("low wins", "§1", "x", (("low", "high"),), lower=True), tmp_path)
    worse = claims.judge(claims.Claim("high wins", "§1", "x", (("high", "low"),), lower=True), tmp_path)
    assert better["verdict"] == "held" and worse["verdict"] == "reversed"


def test_the_peer_comparisons_rows_pair_the_toolkits_on_each_test_metric(tmp_path):
    """scripts/peer-opennmt's results.json (a row per toolkit and seed) paired by seed on BLEU and on chrF."""
    rows = [{"toolkit": t, "seed": k, "bleu": b, "chrf": c}
            for k, (ours, theirs) in enumerate([((14.0, 41.0), (12.0, 40.0)), ((15.0, 42.0), (12.5, 41.5)),
                                                 ((16.0, 43.0), (13.0, 44.0))])
            for t, (b, c) in (("ours", ours), ("peer", theirs))]
    folder = tmp_path / "docs" / "experiments" / "peer"
    folder.mkdir(parents=True)
    (folder / "results.json").write_text(json.dumps(rows))
    got = claims.judge(claims.Claim("ours beats peer", "§3", "peer", (("ours", "peer"),), metrics=("bleu", "chrf")),
                       tmp_path)
    bleu, chrf = got["contrasts"]
    assert (bleu["metric"], chrf["metric"]) == ("bleu", "chrf")
    assert bleu["differences"] == [2.0, 2.5, 3.0] and bleu["verdict"] == "held"
    assert chrf["differences"] == [1.0, 0.5, -1.0] and chrf["verdict"] == "leans"
    assert got["verdict"] == "held 1 of 2, leans 1 of 2"


def test_archived_run_folders_are_read_seed_by_seed(tmp_path):
    """An experiment archived as its runs' own result.json (runs/RUN/ and runs/RUN/seed-K/) is paired by seed on
    the claim's dev metric; a run without that metric is not read for it."""
    runs = tmp_path / "docs" / "experiments" / "x" / "runs"
    for name, values in (("a", [0.9, 0.8, 0.85]), ("b", [0.5, 0.6, 0.55])):
        for k, v in enumerate(values):
            folder = runs / name / (f"seed-{k}" if k else "")
            folder.mkdir(parents=True, exist_ok=True)
            (folder / "result.json").write_text(json.dumps({"dev": {"accuracy": v, "loss": 1 - v}}))
    (runs / "c").mkdir()
    (runs / "c" / "result.json").write_text(json.dumps({"dev": {"loss": 0.1}}))
    got = claims.judge(claims.Claim("a beats b", "§7", "x", (("a", "b"),), metrics=("accuracy",)), tmp_path)
    assert got["contrasts"][0]["seeds"] == [0, 1, 2] and got["verdict"] == "held"
    lower = claims.judge(claims.Claim("c beats b", "§7", "x", (("c", "b"),), metrics=("loss",), lower=True), tmp_path)
    assert lower["contrasts"][0]["seeds"] == [0] and lower["verdict"] == "leans"
