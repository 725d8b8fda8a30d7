"""The lexical shortlist: Dice-ranked partners per source token, counted once per sentence; a batch's candidates."""

import torch

from rot90.data.shortlist import build, candidates


def test_partners_are_ranked_by_dice_and_a_token_counts_once_per_sentence():
    # source 1 is in 3 sentences: with 4 in all 3 (Dice 2*3/(3+3) = 1), with 6 in 1 (2/(3+1) = 0.5), with 5 in 1
    # (2/(3+2) = 0.4); source 3: 5 in 2 of 2 (1), 7 (2/3), 4 (0.4). The repeated 1 and 4 count once.
    pairs = [([1, 2, 3, 1], [4, 5, 4]), ([1, 2], [4, 6]), ([3], [7, 5]), ([1], [4])]
    table, frequent = build(pairs, 8, best=3, frequent=2)
    assert table[1].tolist() == [4, 6, 5] and table[3].tolist() == [5, 7, 4]
    assert table[0].tolist() == [-1, -1, -1] and table[2].tolist() == [4, 6, 5]
    assert frequent.tolist() == [4, 5]  # 4 in 3 sentences, 5 in 2 (6 and 7 in 1)
    table, _ = build(pairs, 8, best=1, frequent=2)
    assert table[1].tolist() == [4] and table[3].tolist() == [5]


def test_candidates_are_the_frequent_the_partners_and_the_always_sorted_once():
    table, frequent = build([([1, 2, 3], [4, 5]), ([3], [7, 5])], 8, best=2, frequent=1)
    # source 3: 5 (Dice 1), then 4 and 7 tied (2/3: the smaller id first); source 0 has no partners
    assert candidates(table, frequent, torch.tensor([[3, 3], [0, 0]]), always=(2,)).tolist() == [2, 4, 5]
    assert candidates(table, frequent, torch.tensor([], dtype=torch.long)).tolist() == frequent.tolist()
    empty, top = build([], 8)
    assert (empty == -1).all() and len(top) == 8
