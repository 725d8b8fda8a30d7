"""Generated tasks: deterministic, answers where they should be, numbers in words."""

import pytest
import torch

from rot90.data.io import DataError
from rot90.data.synthetic import adding_task, copy_task, number_pairs, number_splits, selective_copy


def test_copy_task_layout():
    b = copy_task(4, T=10, k=3, vocab=5, seed=1)
    assert b.x.shape == (4, 3 + 10 + 3) and b.answer_from == 13
    assert torch.equal(b.y, b.x[:, :3]) and (b.x[:, 3:13] == 0).all() and (b.x[:, 13] == 1).all()
    assert torch.equal(copy_task(4, 10, 3, 5, seed=1).x, b.x)  # deterministic
    assert not torch.equal(copy_task(4, 10, 3, 5, seed=2).x, b.x)


def test_adding_task_answer():
    b = adding_task(5, T=20, seed=0)
    values, marks = b.x[..., 0], b.x[..., 1]
    assert (marks.sum(1) == 2).all()
    assert (marks[:, :10].sum(1) == 1).all()  # one mark in each half
    torch.testing.assert_close(b.y, (values * marks).sum(1))


def test_selective_copy_keeps_order():
    b = selective_copy(3, T=30, k=4, vocab=6, seed=0)
    assert b.x.shape == (3, 30 + 4) and b.answer_from == 30
    for row, want in zip(b.x[:, :30], b.y):
        assert row[row >= 2].tolist() == want.tolist()
    with pytest.raises(DataError, match="5 symbols do not fit in 4 positions"):
        selective_copy(1, T=4, k=5)


def test_a_seed_gives_the_same_batch():
    for make in (copy_task, selective_copy):
        assert torch.equal(make(2, 5, k=2, seed=3).x, make(2, 5, k=2, seed=3).x)
        assert not torch.equal(make(2, 5, k=2, seed=3).x, make(2, 5, k=2, seed=4).x)


def test_numbers_in_words():
    pairs = dict(number_pairs("de", n=100, low=0, high=99, seed=0))
    assert pairs["forty-five"] == "fünfundvierzig"
    assert dict(number_pairs("fr", n=100, low=0, high=99))["ninety"] == "quatre-vingt-dix"
    splits = number_splits("fr", low=0, high=999, dev=50, test=50, seed=0)
    sets = {k: {en for en, _ in v} for k, v in splits.items()}
    assert len(sets["train"]) == 900 and not (sets["train"] & sets["test"]) and not (sets["dev"] & sets["test"])
    with pytest.raises(DataError, match="range of 10"):
        number_pairs("fr", n=11, low=0, high=9)
