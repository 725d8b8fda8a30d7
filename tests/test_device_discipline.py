"""Every place where data meets a model puts the data on the model's device (issue 30): training with dev
evaluations, every task's evaluate, rot90 translate and rot90 eval, and the lab's probes, each run under a
DeviceGuard (tests/device_guard.py), which records where a tensor never moved to the model's device meets it,
the op at which a GPU run would stop."""

import pytest
from device_guard import DeviceGuard

from rot90.cli import main

pytest.importorskip("sentencepiece")

SMALL = ["train.steps=4", "train.eval_every=2", "train.eval_batches=1", "train.checkpoint_every=2"]
TASKS = {
    "copy": ["data.task=copy", "data.length=6", "data.k=3", "data.batch_size=8", "model.hidden=8"],
    "adding": ["data.task=adding", "data.length=6", "data.batch_size=8", "model.hidden=8"],
    "digits-time": ["data.task=digits", "data.batch_size=8", "model.hidden=8"],
    "digits-depth": ["data.task=digits", "data.batch_size=8", "model.hidden=8", "model.axis=depth",
                     "model.layers=2", "model.rule=resnet"],
    "numbers-rnn": ["data.task=numbers", "data.numbers_high=999", "data.vocab_size=80", "data.batch_tokens=256",
                    "model.hidden=8", "model.attention=general"],
    "numbers-transformer": ["data.task=numbers", "data.numbers_high=999", "data.vocab_size=80",
                            "data.batch_tokens=256", "model.hidden=8", "model.arch=transformer", "model.heads=2"],
    "lm": ["data.task=lm", "data.length=8", "data.batch_size=4", "model.hidden=8", "data.path={text}"],
}


def sets(items):
    return [a for s in items for a in ("--set", s)]


@pytest.mark.parametrize("task", list(TASKS))
def test_training_and_evaluation_keep_data_on_the_models_device(task, tmp_path):
    (tmp_path / "text").mkdir()
    for split in ("train", "dev"):
        (tmp_path / "text" / f"{split}.txt").write_text("to be or not to be, that is the question. " * 40)
    items = [s.format(text=tmp_path / "text") for s in TASKS[task]] + SMALL
    with DeviceGuard() as guard:
        assert main(["train", "--out", str(tmp_path / "run"), *sets(items)]) == 0
    assert guard.violations == [], guard.violations[:3]
    if task.startswith("numbers"):
        (tmp_path / "in.txt").write_text("forty-two\nseven hundred\n")
        with DeviceGuard() as guard:
            assert main(["translate", "--model", str(tmp_path / "run"), "--input", str(tmp_path / "in.txt")]) == 0
            assert main(["eval", "--model", str(tmp_path / "run"), "--limit", "8", "--split", "dev"]) == 0
        assert guard.violations == [], guard.violations[:3]


def test_the_guard_sees_a_tensor_that_was_never_moved():
    import torch

    model = torch.nn.Linear(3, 2)
    with DeviceGuard() as guard:
        model.to("cpu")
        model(torch.randn(4, 3).to("cpu"))  # moved: fine
        assert guard.violations == []
        model(torch.randn(4, 3))  # never moved: where a GPU run stops
    assert len(guard.violations) == 1 and "(4, 3)" in guard.violations[0]
