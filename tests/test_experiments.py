"""rot90 experiment: runs through the trainer, resumable, deterministic given the seed, a report."""

import json

import pytest

from rot90.cli import main
from rot90.lab.experiments import EXPERIMENTS, _width_for, run_experiment

ONLY = ["selective-copy,rule=minlstm,layers=1", "copy,rule=mingru"]


def numbers(results: dict) -> list:
    """What the report states, less wall-clock."""
    return [(r["run"], r["parameters"], r["steps"], r["dev"]) for g in results.values() for r in g]


def test_two_runs_with_the_same_seed_report_the_same_numbers(tmp_path):
    a = run_experiment("memory-tasks", tmp_path / "a", seed=3, quick=True, only=ONLY, progress=lambda m: None)
    b = run_experiment("memory-tasks", tmp_path / "b", seed=3, quick=True, only=ONLY, progress=lambda m: None)
    assert numbers(a) == numbers(b) and len(numbers(a)) == 2
    assert all(0.0 <= r["dev"]["accuracy"] <= 1.0 for g in a.values() for r in g)  # a fraction, not NaN or %
    c = run_experiment("memory-tasks", tmp_path / "c", seed=4, quick=True, only=ONLY, progress=lambda m: None)
    assert numbers(c) != numbers(a)  # the seed reaches the runs
    report = (tmp_path / "a" / "memory-tasks" / "report.md").read_text()
    assert "| selective-copy,rule=minlstm,layers=1 |" in report and "![" in report
    for group in ("group1.png", "group3.png"):
        assert (tmp_path / "a" / "memory-tasks" / group).read_bytes()[:4] == b"\x89PNG"


def test_a_finished_run_is_read_back_and_an_interrupted_one_resumes(tmp_path):
    quiet = dict(quick=True, only=ONLY[:1], progress=lambda m: None)
    first = run_experiment("memory-tasks", tmp_path, **quiet)
    run = tmp_path / "memory-tasks" / ONLY[0]
    stamp = (run / "result.json").stat().st_mtime_ns
    assert run_experiment("memory-tasks", tmp_path, **quiet) == first
    assert (run / "result.json").stat().st_mtime_ns == stamp  # not trained again
    (run / "result.json").unlink()  # as if stopped after the last checkpoint: resumes, same numbers
    assert numbers(run_experiment("memory-tasks", tmp_path, **quiet)) == numbers(first)


def test_translation_runs_report_test_bleu_and_speed(tmp_path):
    out = run_experiment("numbers", tmp_path, quick=True, only=["reverse_source=true"], progress=lambda m: None)
    (result,) = [r for g in out.values() for r in g]
    assert {"bleu", "chrf", "perplexity", "sentences_per_s"} <= set(result["test"])
    saved = json.loads((tmp_path / "numbers" / "results.json").read_text())
    assert saved["groups"]["Numbers in words: the reversal effect"][0]["test"]["sentences"] == 20


def test_an_equal_wall_clock_translation_group_plots_the_dev_metric_against_updates_and_time(tmp_path):
    run_experiment("translation", tmp_path, quick=True, only=["lstm,20min", "transformer,20min"],
                   progress=lambda m: None)
    report = (tmp_path / "translation" / "report.md").read_text()
    for x in ("step", "seconds"):
        assert f"(group1-dev-{x}.png)" in report and (tmp_path / "translation" / f"group1-dev-{x}.png").exists()


def test_the_updates_to_a_threshold_have_their_own_column_with_seeds(tmp_path):
    from rot90.lab.experiments import _reached

    out = run_experiment("numbers", tmp_path, quick=True, seeds=2, only=["reverse_source=false"],
                         progress=lambda m: None)
    (result,) = [r for g in out.values() for r in g]
    assert result["reached"] is None and result["unreached_seeds"] == [0, 1]  # 4 updates reach no BLEU of 90
    bleu = result["test_seeds"]["bleu"]  # the test columns have their interval too, not the first seed's alone
    assert bleu["n"] == 2 and bleu["low"] <= result["test"]["bleu"] <= bleu["high"]
    report = (tmp_path / "numbers" / "report.md").read_text()
    assert f"| {bleu['mean']:.2f} ({bleu['low']:.2f}–{bleu['high']:.2f}) |" in report
    assert "the mean (min–max) over the seeds" in report
    assert "updates to dev bleu ≥ 90 |" in report and "none; seed 0, 1 not within 4 |" in report
    many = {"reached": 250, "steps": 1000, "unreached_seeds": [3],
            "reached_seeds": {"n": 3, "mean": 300.0, "low": 250, "high": 350, "kind": "min–max"}}
    assert _reached(many) == "300 (250–350, 3 seeds, min–max); seed 3 not within 1,000"
    assert _reached({"reached": 250, "steps": 1000}) == "250"


def test_width_for_a_parameter_budget():
    from rot90.config import load
    from rot90.tasks import make_task

    for arch in ("rnn", "transformer"):
        cfg = load(None, ["data.task=copy", f"model.arch={arch}", "model.layers=2", "model.rule=lstm"])
        task = make_task(cfg)
        width = _width_for(task, cfg, 500_000)
        got = sum(p.numel() for p in task.build_model().parameters())
        assert width % 8 == 0 and abs(got - 500_000) < 0.1 * 500_000


def test_width_for_the_parameters_outside_the_embeddings():
    """body=True matches what grows with the cell, not the embeddings (which grow with the width too)."""
    from rot90.config import load
    from rot90.lab.experiments import _parameters
    from rot90.tasks import make_task

    lstm = make_task(cfg := load(None, ["data.task=numbers", "model.hidden=64", "model.layers=2"]))
    target = _parameters(lstm.build_model(), body=True)
    assert target < _parameters(lstm.build_model())
    task = make_task(cfg := load(None, ["data.task=numbers", "model.layers=2", "model.rule=minlstm"]))
    width = _width_for(task, cfg, target, body=True)
    near = []
    for w in (width - 8, width, width + 8):
        cfg.model.hidden = w
        near.append(abs(_parameters(task.build_model(), body=True) - target))
    assert width > 64 and near[1] == min(near)


def test_a_group_pairs_its_rows_with_the_baseline_on_the_whole_dev_loss(tmp_path):
    """translation-contrasts: each row against its baseline by seed on test BLEU, chrF and the dev loss (lower is
    better: baseline − row), each with its verdict."""
    out = run_experiment("translation-contrasts", tmp_path, quick=True, seeds=2, only=["lstm", "lstm,gates=input"],
                         progress=lambda m: None)
    base, row = out["What the minLSTM loses, isolated"]
    assert set(base["dev_by_seed"]) == set(row["dev_by_seed"]) == {"0", "1"}
    report = (tmp_path / "translation-contrasts" / "report.md").read_text()
    assert "| dev loss, baseline − row | verdict |" in report
    line = next(x for x in report.splitlines() if x.startswith("| lstm,gates=input | 0, 1 |"))
    d = [base["dev_by_seed"][k]["loss"] - row["dev_by_seed"][k]["loss"] for k in "01"]
    assert f"{sum(d) / 2:+.3f} (" in line and line.count("leans") + line.count("inconclusive") == 3  # 2 seeds
    assert "outside the embeddings" in report


def test_every_run_has_a_shipped_config_and_a_unique_name():
    from rot90.lab.experiments import CONFIGS

    for groups in EXPERIMENTS.values():
        # a name recurs only for the same run (a baseline two groups pair with): one folder, trained once
        runs = {r for g in groups for r in g.runs}
        assert len(runs) == len({r.name for r in runs})
        assert all((CONFIGS / f"{r.config}.toml").exists() for g in groups for r in g.runs)


@pytest.mark.parametrize("argv,message", [
    (["experiment", "nope"], "unknown experiment 'nope'"),
    (["experiment", "memory-tasks", "--only", "nope"], "--only: no run 'nope' in memory-tasks"),
])
def test_bad_input_gets_one_line_and_exit_2(argv, message, capsys, tmp_path):
    assert main([*argv, "--out", str(tmp_path)]) == 2
    err = capsys.readouterr().err
    assert message in err and len(err.strip().splitlines()) == 1


def test_list(capsys):
    assert main(["experiment", "--list"]) == 0
    out = capsys.readouterr().out
    assert all(name in out for name in EXPERIMENTS)


def test_depth_vs_time_reads_the_same_images_along_either_axis(tmp_path):
    out = run_experiment("depth-vs-time", tmp_path, quick=True, only=["depth,rule=resnet", "time,rule=minlstm"],
                         progress=lambda m: None)
    (results,) = out.values()
    assert [r["run"] for r in results] == ["depth,rule=resnet", "time,rule=minlstm"]
    assert all(0 <= r["dev"]["accuracy"] <= 1 and r["steps"] == 4 for r in results)


def test_gradient_flow_measures_both_axes_at_initialisation_and_trained(tmp_path):
    out = run_experiment("gradient-flow", tmp_path, quick=True, only=["depth,rule=plain", "depth,rule=resnet",
                                                                       "time,rule=lstm", "time,rule=lstm,chrono=784"],
                         progress=lambda m: None)
    (results,) = out.values()
    g = {r["run"]: r["gradients"] for r in results}
    assert len(g["depth,rule=plain"]["trained"]) == 100 and len(g["time,rule=lstm"]["trained"]) == 64  # digits
    # log10 norms: six decades apart 99 blocks back, three 63 steps back
    assert g["depth,rule=resnet"]["initialisation"][99] > 6 + g["depth,rule=plain"]["initialisation"][99]
    assert g["depth,rule=plain"]["trained"] != g["depth,rule=plain"]["initialisation"]  # the trained weights
    assert g["time,rule=lstm,chrono=784"]["initialisation"][63] > 3 + g["time,rule=lstm"]["initialisation"][63]
    where = tmp_path / "gradient-flow"
    assert "| depth,rule=resnet |" in (where / "report.md").read_text()
    assert (where / "group1-gradients.png").read_bytes()[:4] == b"\x89PNG"


def test_every_run_of_every_experiment_is_a_valid_config():
    """Full size and quick: every key in range, and none that its model family would silently ignore."""
    from pathlib import Path

    from rot90.config import load

    configs = Path(__file__).parent.parent / "configs"
    runs = [(g, r) for groups in EXPERIMENTS.values() for g in groups for r in g.runs]
    for g, r in runs:
        for quick in (False, True):
            load(configs / f"{r.config}.toml", [*r.overrides, "train.seed=0", *(g.quick if quick else ())])
        if r.match:  # the reference whose parameter count the run's width matches
            load(configs / f"{r.config}.toml", [*r.overrides, *r.match])
    assert len(runs) >= 50


def test_seeds_give_each_run_a_mean_and_an_interval(tmp_path):
    got = run_experiment("memory-tasks", tmp_path, seed=3, seeds=3, quick=True, only=ONLY[:1], progress=lambda m: None)
    (r,) = [r for g in got.values() for r in g]
    s = r["seeds"]
    assert s["n"] == 3 and s["kind"] == "min–max" and s["low"] <= s["mean"] <= s["high"]
    assert len(set(r["per_seed"])) > 1  # each seed trains its own run
    folder = tmp_path / "memory-tasks" / ONLY[0]
    assert (folder / "seed-4" / "export").is_dir() and (folder / "seed-5" / "export").is_dir()
    report = (tmp_path / "memory-tasks" / "report.md").read_text()
    assert "3 seeds, min–max" in report and "--seeds 3" in report


def test_a_95_percent_interval_from_five_seeds():
    from rot90.lab.experiments import spread

    s = spread([1.0, 2.0, 3.0, 4.0, 5.0])  # mean 3, sd sqrt(2.5), t(4) = 2.776
    half = 2.776 * (2.5 ** 0.5) / 5 ** 0.5
    assert s["kind"] == "95 % t-interval" and s["mean"] == 3.0
    assert (s["low"], s["high"]) == pytest.approx((3 - half, 3 + half))


def test_the_rotation_trains_every_rule_on_both_axes_and_fits_decays(tmp_path):
    only = [f"k100,{a},rule={r}" for a in ("depth", "time") for r in ("plain", "resnet", "lstm")] + ["k100,linear"]
    out = run_experiment("rotation", tmp_path, quick=True, seeds=2, only=only, progress=lambda m: None)
    results = [r for g in out.values() for r in g]
    by = {r["run"]: r for r in results}
    assert set(by) == set(only) and "gradients" not in by["k100,linear"]
    for axis in ("depth", "time"):  # conclusions at initialisation, on either axis and any machine
        decay = {r: by[f"k100,{axis},rule={r}"]["scalar_seeds"]["decay_initialisation"] for r in ("plain", "lstm",
                                                                                                   "resnet")}
        assert decay["plain"]["high"] < decay["lstm"]["low"] and decay["lstm"]["high"] < decay["resnet"]["low"]
        assert decay["plain"]["n"] == 2
    report = (tmp_path / "rotation" / "report.md").read_text()
    assert "| lstm | gated carry | default |" in report and "| linear | no blocks |" in report
    assert (tmp_path / "rotation" / "group1-rotation.png").read_bytes()[:4] == b"\x89PNG"


def test_the_rotation_arms_pair_each_switch_by_seed(tmp_path):
    arms = ["blocks=untied,input=once", "blocks=tied,input=once", "blocks=untied,input=every",
            "blocks=tied,input=every"]
    only = [f"k100,depth,rule=lstm,{a}" for a in arms] + ["k100,linear", "k1,depth,rule=resnet"]
    out = run_experiment("rotation-arms", tmp_path, quick=True, seeds=2, only=only, progress=lambda m: None)
    by = {r["run"]: r for g in out.values() for r in g}
    assert set(by) == set(only)
    params = [by[f"k100,depth,rule=lstm,{a}"]["parameters"] for a in arms]
    # tying keeps one block of 100; a pixel per block reads 1 number, not 100, but untied adds 99 input maps
    assert params[3] < params[1] < params[0] < params[2]
    report = (tmp_path / "rotation-arms" / "report.md").read_text()
    assert report.count("| lstm |") == 2 and "the time layer against the depth stack" in report
    assert "| k1,depth,rule=resnet |" in report and "2 pairs]" in report  # the control, against k100,linear
    assert (tmp_path / "rotation-arms" / "group1-arms.png").read_bytes()[:4] == b"\x89PNG"


def test_the_carry_sets_how_far_back_the_gradient_reaches_on_both_axes(tmp_path):
    rows = [("depth", "highway"), ("time", "lstm"), ("time", "minlstm")]
    only = [f"k100,{a},rule={r},f0={f}" for a, r in rows for f in ("0.5", "0.98")]
    out = run_experiment("carry", tmp_path, quick=True, only=only + ["k100,depth,rule=resnet,f0=1",
                                                                     "k100,depth,rule=resnet,f0=1,i=0.02"],
                         progress=lambda m: None)
    results = [r for g in out.values() for r in g]
    far = {r["run"]: r["scalars"]["far_initialisation"] for r in results}
    for a, r in rows:  # log10 of the gradient K - 1 back grows with the carry
        assert far[f"k100,{a},rule={r},f0=0.98"] > far[f"k100,{a},rule={r},f0=0.5"] + 1
    assert far["k100,depth,rule=resnet,f0=1"] > far["k100,depth,rule=highway,f0=0.98"]
    report = (tmp_path / "carry" / "report.md").read_text()
    assert "| highway@depth |" in report and "f0 = chrono" in report
    assert "| (no gate, i = 0.02)@depth |" in report  # f = 1 at the write scale f0 = 0.98 starts with
    assert (tmp_path / "carry" / "group1-carry.png").read_bytes()[:4] == b"\x89PNG"


def test_a_seed_that_diverges_is_recorded_and_the_experiment_goes_on(tmp_path):
    # fault injection: NaN losses from step 2 on; the trainer's guard stops each seed at 2 in a row
    got = run_experiment("memory-tasks", tmp_path, seed=3, seeds=2, quick=True, only=ONLY[:1], progress=lambda m: None,
                         extra=("train.max_nonfinite=2", "train.nonfinite_at=[2, 3, 4, 5, 6]"))
    (r,) = [r for g in got.values() for r in g]
    assert r["diverged_seeds"] == [3, 4] and r["dev"] == {}
    saved = json.loads((tmp_path / "memory-tasks" / ONLY[0] / "seed-4" / "result.json").read_text())
    assert "aborting at step 3" in saved["diverged"]
    assert "seed 3, 4 diverged" in (tmp_path / "memory-tasks" / "report.md").read_text()


def test_a_run_with_seeds_is_drawn_as_their_mean_and_a_band(tmp_path):
    from rot90.report import pyplot, seed_band

    folders = []
    for k, values in enumerate(([1.0, 2.0, 3.0], [3.0, 4.0])):  # the second seed stopped after two evaluations
        folders.append(tmp_path / f"seed-{k}")
        folders[-1].mkdir()
        (folders[-1] / "metrics.jsonl").write_text("".join(
            json.dumps({"step": 10 * (i + 1), "seconds": 1.0 * k + i, "dev_bleu": v}) + "\n"
            for i, v in enumerate(values)))
    fig, ax = pyplot().subplots()
    seed_band(ax, folders, "dev_bleu", "step", label="run")
    (line,) = ax.get_lines()
    assert list(line.get_ydata()) == [2.0, 3.0, 3.0] and list(line.get_xdata()) == [10, 20, 30]
    (band,) = ax.collections
    low_high = band.get_paths()[0].vertices[:, 1]
    assert min(low_high) == 1.0 and max(low_high) == 4.0
    fig, ax = pyplot().subplots()  # against time: interpolated to common times, over the span both cover
    seed_band(ax, folders, "dev_bleu", "seconds", label="run")
    (line,) = ax.get_lines()
    assert list(line.get_xdata()) == [1.0, 2.0] and list(line.get_ydata()) == [2.5, 3.5]


def test_every_figure_colours_a_rule_by_its_role_and_the_transformer_apart():
    from rot90.report import ROLES, rule_style

    colours = {rule: rule_style(rule)["color"] for rule in ROLES}
    assert rule_style("LSTM, chrono init")["marker"] == rule_style("lstm")["marker"]
    assert rule_style("minlstm,20min")["color"] == colours["minlstm"]  # minlstm is not read as lstm
    assert rule_style("transformer,20min")["color"] not in colours.values()
    assert rule_style("linear") == {}


def test_a_figure_tells_every_run_apart_and_logs_a_perplexity_that_spans_decades():
    from rot90.report import line_styles, wants_log

    rules = line_styles(["lstm", "LSTM, chrono init", "gru", "lstm,dropout=0.3"])  # a rule's runs: one colour
    assert rules[0]["color"] == rules[3]["color"] and rules[0]["ls"] != rules[3]["ls"]
    search = [f"transformer,lr={lr}" for lr in (1, 2, 4, 8, 16)]  # more runs of one rule than line styles
    pairs = {(s["color"], s["ls"]) for s in line_styles(search)}
    assert len(pairs) == len(search) and len({c for c, _ in pairs}) == len(search)
    assert len({(s["color"], s["ls"]) for s in line_styles([f"run{i}" for i in range(25)])}) == 25
    assert wants_log("dev_perplexity", [819.0, 40.0]) and not wants_log("dev_perplexity", [60.0, 40.0])
    assert not wants_log("dev_bleu", [0.1, 30.0]) and not wants_log("loss", [0.0, 5.0])


def test_rows_are_paired_with_the_baseline_seed_by_seed():
    """The report's paired table: differences on the seeds both rows have, with the decision rule's verdict."""
    from rot90.lab.catalogue import Group
    from rot90.lab.experiments import _paired

    group = Group("g", "", "bleu", (), baseline="base", test=True)
    scores = lambda *bleu: {str(k): {"bleu": b, "chrf": 10 * b} for k, b in enumerate(bleu)}  # noqa: E731
    rows = [{"run": "base", "test_by_seed": scores(10.0, 11.0, 12.0)},
            {"run": "better", "test_by_seed": scores(11.0, 12.1, 12.9)},
            {"run": "two seeds", "test_by_seed": scores(12.0, 13.0)}]
    lines = _paired(group, rows)
    better = next(line for line in lines if line.startswith("| better |"))
    assert "| 0, 1, 2 | +1.00 (+0.75 to +1.25) | held |" in better and "+10.00" in better
    two = next(line for line in lines if line.startswith("| two seeds |"))
    assert "| 0, 1 | +2.00" in two and "| leans |" in two and "held" not in two  # 2 pairs never hold
    assert not any(line.startswith("| base |") for line in lines)
    assert _paired(group, rows[1:]) == []  # no baseline among the rows: no table


def test_the_duel_counts_flops_per_token_and_plots_against_tokens(tmp_path):
    """lstm-vs-transformer (issue 33): stage B's nine recipes per arm, the current one first and the draw fixed by
    its seed; each run reports FLOPs per target token and achieved FLOP/s; the dev curves against tokens too."""
    from rot90.lab.catalogue import _trials

    for arm, rate in (("lstm", 8e-3), ("transformer", 2e-3)):
        trials = _trials(arm)
        assert len(set(trials)) == 9 and trials[0] == (rate, 100, "cosine", 0.999) and trials == _trials(arm)
    only = ["lstm,width=256,lr=0.008,warmup=100,cosine",
            "transformer,d=192,layers=2,lr=0.002,warmup=100,cosine,b2=0.999"]
    out = run_experiment("lstm-vs-transformer", tmp_path, quick=True, only=only, progress=lambda m: None)
    rows = out["Stage A: each arm's size at its current recipe"]
    assert sorted(r["run"] for r in rows) == only
    for r in rows:
        assert r["flops_per_token"] > 0 and r["matmul_gflops"] > 0
        assert abs(r["achieved_gflops"] - r["flops_per_token"] * r["tokens_per_s"] / 1e9) < 1e-9
    where = tmp_path / "lstm-vs-transformer"
    assert (where / "group1-dev-tokens.png").exists()
    rows = [json.loads(x) for x in (where / only[0] / "metrics.jsonl").read_text().splitlines()]
    tokens = [r["tokens"] for r in rows if "loss" in r]
    assert tokens == sorted(tokens) and tokens[0] > 0 and all("tokens" in r for r in rows)
    assert "training GFLOPs per target token" in (where / "report.md").read_text()


def test_the_duel_is_decided_stage_by_stage_from_the_runs_on_disk(tmp_path, capsys):
    """rot90.lab.duel: stage A picks each arm's size by seed-0 whole-dev BLEU (ties: fewer parameters), stage B its
    recipe once all nine have run, stage C pairs the two by seed on test scores and on dev loss at equal tokens."""
    from rot90.lab import duel

    groups = EXPERIMENTS[duel.EXPERIMENT]

    def put(name, seed, bleu, params=100, test=None, losses=None):
        folder = tmp_path / name if seed == 0 else tmp_path / name / f"seed-{seed}"
        folder.mkdir(parents=True, exist_ok=True)
        row = {"run": name, "parameters": params, "dev": {"bleu": bleu}, **({"test": test} if test else {})}
        (folder / "result.json").write_text(json.dumps(row))
        if losses:
            (folder / "metrics.jsonl").write_text("".join(json.dumps({"step": i, "tokens": 1000 * i, "dev_loss": v})
                                                          + "\n" for i, v in enumerate(losses, 1)))

    a = [r.name for r in groups[0].runs]
    assert duel.next_runs(groups, tmp_path) == (1, sorted(a))  # the first round: the eight sizes
    assert duel.next_run(groups, tmp_path) == (1, sorted(a)[0])  # scripts/duel's: one run a process
    put(a[0], 0, 5.0)
    assert "stage A has 1 of its" in "\n".join(duel.section(groups, tmp_path))
    assert duel.next_runs(groups, tmp_path) == (1, sorted(a[1:]))
    for k, name in enumerate(a):  # the LSTM: width 384 best; the Transformer: d=256,layers=2 ties d=256,layers=3
        bleu = {"width=384": 12.0, "d=256,layers=2": 11.0, "d=256,layers=3": 11.0}.get(duel._size(name), 5.0)
        put(name, 0, bleu, params=k)
    text = "\n".join(duel.section(groups, tmp_path))
    assert "lstm: stage A chose width=384" in text and "transformer: stage A chose d=256,layers=2" in text
    assert "has 1 of its 9 recipes" in text and "stage C" not in text
    seeds, only = duel.next_runs(groups, tmp_path)
    assert seeds == 1 and len(only) == 16 and not set(only) & set(a)  # both arms' eight other recipes at once
    for arm, size in (("lstm", "width=384"), ("transformer", "d=256,layers=2")):
        trials = next(g for g in groups if g.title == f"Stage B: the {arm} recipe at {size}").runs
        assert trials[0].name in a  # the current recipe at that size is the stage-A run itself
        for j, r in enumerate(trials[1:], 1):
            put(r.name, 0, 20.0 if j == 4 else 10.0)
    best = {arm: next(g for g in groups if g.title.startswith(f"Stage B: the {arm}") and size in g.title).runs[4].name
            for arm, size in (("lstm", "width=384"), ("transformer", "d=256,layers=2"))}
    text = "\n".join(duel.section(groups, tmp_path))
    assert f"--seeds 5 --only {best['lstm']} {best['transformer']}" in text and "| test BLEU |" not in text
    assert duel.next_runs(groups, tmp_path) == (5, [best["lstm"], best["transformer"]])
    assert duel.next_run(groups, tmp_path) == (2, best["lstm"])  # seed 0 is stage B's: --seeds 2 trains seed 1
    put(best["lstm"], 1, 20.0)
    assert duel.next_run(groups, tmp_path, seeds=2) == (2, best["transformer"])
    for k in range(3):  # stage C: the LSTM 1.0 BLEU ahead on every seed, chrF level; its dev loss 0.1 lower
        put(best["lstm"], k, 20.0, test={"bleu": 15.0 + k, "chrf": 40.0 + k}, losses=[5.0, 4.0, 3.0])
        put(best["transformer"], k, 20.0, test={"bleu": 14.0 + k, "chrf": 40.0 + k - (k - 1) * 0.1},
            losses=[5.1, 4.1, 3.1])
    text = "\n".join(duel.section(groups, tmp_path))
    assert "| test BLEU | 0, 1, 2 | +1.00 (+1.00 to +1.00) | held |" in text
    assert "| test chrF | 0, 1, 2 | +0.00" in text and "inconclusive" in text
    assert "| 10/10 | 3 | +0.100 (+0.100 to +0.100) | held |" in text
    assert duel.next_runs(groups, tmp_path, seeds=3) is None and duel.next_runs(groups, tmp_path)[0] == 5
    assert duel.next_run(groups, tmp_path, seeds=3) is None and duel.next_run(groups, tmp_path) == (4, best["lstm"])
    duel.main(["--next", str(tmp_path), "--one"])
    assert capsys.readouterr().out == f"--seeds 4 --only {best['lstm']}\n"


def test_each_cell_gets_a_rate_of_its_own_chosen_on_seed_0_then_seeded_and_paired(tmp_path):
    """rot90.lab.ownrate: six trials a row at seed 0, the lowest whole-dev loss chosen (a diverged trial never), the
    chosen trials run with 3 seeds, each minLSTM row paired with the LSTM's choice: held when the row's loss is lower
    on every seed, reversed when higher."""
    from rot90.lab import ownrate

    (group,) = EXPERIMENTS[ownrate.EXPERIMENT]
    assert sorted(r.name for r in group.runs) == sorted(n for row in ownrate.ROWS for n in ownrate.trials(row))
    wider = next(r for r in group.runs if r.name.startswith("minlstm,wider,"))
    assert wider.body and wider.match == ("model.rule=lstm",)  # made as large as in translation-contrasts
    assert "optim.lr=0.002" in next(r for r in group.runs if r.name == "minlstm,lr=0.002,warmup=400").overrides
    run_experiment(ownrate.EXPERIMENT, tmp_path / "quick", quick=True, only=["minlstm,lr=0.002,warmup=400"],
                   progress=lambda m: None)  # trains, and its report says what is left
    assert "23 seed-0 trials to run" in (tmp_path / "quick" / ownrate.EXPERIMENT / "report.md").read_text()

    def put(name, seed, loss, diverged=False):
        folder = tmp_path / name if seed == 0 else tmp_path / name / f"seed-{seed}"
        folder.mkdir(parents=True, exist_ok=True)
        row = {"run": name, "dev": {"loss": loss}, **({"diverged": "at step 101"} if diverged else {})}
        (folder / "result.json").write_text(json.dumps(row))

    assert ownrate.next_runs(tmp_path) == (1, [n for row in ownrate.ROWS for n in ownrate.trials(row)])
    best = {"lstm": "lstm,lr=0.008,warmup=100", "minlstm": "minlstm,lr=0.004,warmup=400",
            "minlstm,wider": "minlstm,wider,lr=0.002,warmup=100",
            "minlstm,deeper": "minlstm,deeper,lr=0.002,warmup=400"}
    first = {"lstm": 4.0, "minlstm": 4.5, "minlstm,wider": 3.9, "minlstm,deeper": 4.0}  # the chosen, at seed 0
    for row in ownrate.ROWS:
        for name in ownrate.trials(row):
            put(name, 0, first[row] if name == best[row] else 5.0)
        put(f"{row},lr=0.008,warmup=400", 0, 1.0, diverged=True)  # the lowest loss, but diverged: never chosen
    assert "24 seed-0" not in "\n".join(ownrate.section(tmp_path))
    assert ownrate.next_runs(tmp_path) == (3, [best[row] for row in ownrate.ROWS])
    assert f"Next: `rot90 experiment {ownrate.EXPERIMENT} --seeds 3 --only" in "\n".join(ownrate.section(tmp_path))
    for k in (1, 2):  # the LSTM 4.0 on every seed; minLSTM worse by 0.5-0.7, wider better by 0.1-0.12, deeper mixed
        put(best["lstm"], k, 4.0)
        put(best["minlstm"], k, 4.5 + 0.1 * k)
        put(best["minlstm,wider"], k, 3.9 - 0.01 * k)
        put(best["minlstm,deeper"], k, 4.0 + (0.2 if k == 1 else -0.2))
    assert ownrate.next_runs(tmp_path) is None
    text = "\n".join(ownrate.section(tmp_path))
    assert "| minlstm | 0, 1, 2 | -0.600" in text and "reversed" in text
    assert "| minlstm,wider | 0, 1, 2 | +0.110" in text and "| held |" in text
    assert "| minlstm,deeper | 0, 1, 2 | +0.000" in text and "inconclusive" in text


def test_the_spike_is_a_rise_of_the_mean_training_loss_above_its_lowest_so_far(tmp_path):
    """ownrate.setback: a hard batch (one update a nat up) barely moves a 20-update mean; a spike that lasts does,
    and is placed where the mean peaks."""
    from rot90.lab import ownrate

    def losses(values):
        rows = [{"step": i + 1, "loss": v} for i, v in enumerate(values)] + [{"step": len(values), "dev_loss": 1.0}]
        (tmp_path / "metrics.jsonl").write_text("".join(json.dumps(r) + "\n" for r in rows))
        return ownrate.setback(tmp_path)

    falling = [10.0 - 0.01 * i for i in range(100)]
    assert losses(falling) == (0.0, 20)
    hard_batch = [*falling[:50], falling[50] + 1.0, *falling[51:]]
    assert 0 < losses(hard_batch)[0] < 0.05  # one nat over 20 updates, less the fall of the mean meanwhile
    spike = [*falling[:50], *[v + 3.0 for v in falling[50:70]], *falling[70:]]
    rise, at = losses(spike)
    assert 2.5 < rise < 3.0 and at == 70
    assert losses(falling[:10]) is None
