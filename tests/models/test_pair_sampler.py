"""Invariants of the label-balanced batch sampler: balance, no self-pairs, O(n) memory."""

from __future__ import annotations

import math
import tracemalloc
from collections import Counter

import numpy as np
import pytest

from whichmodel.models.setfit.pair_sampler import LabelBalancedBatchSampler


def _labels(n_classes: int, per_class: int) -> np.ndarray:
    return np.repeat(np.arange(n_classes), per_class)


def test_batches_are_p_classes_times_k_examples():
    y = _labels(10, 20)
    sampler = LabelBalancedBatchSampler(y, batch_size=16, samples_per_class=4, rng=0)
    for _ in range(50):
        batch = sampler.next_batch()
        assert len(batch) == 16
        assert sorted(Counter(y[batch]).values()) == [4, 4, 4, 4]


def test_no_example_twice_in_a_batch_so_no_self_pairs():
    # Classes smaller than K (3 < 4) and wrap-arounds of each class's cycle included.
    y = np.concatenate([_labels(5, 3), 5 + _labels(3, 9)])
    sampler = LabelBalancedBatchSampler(y, batch_size=12, samples_per_class=4, rng=1)
    for _ in range(200):
        batch = sampler.next_batch()
        assert len(batch) == 12
        assert len(set(batch.tolist())) == len(batch)


def test_few_classes_fill_the_batch_evenly():
    y = _labels(2, 100)
    sampler = LabelBalancedBatchSampler(y, batch_size=64, samples_per_class=4, rng=0)
    assert sampler.samples_per_class == 32
    assert Counter(y[sampler.next_batch()].tolist()) == {0: 32, 1: 32}


def test_imbalanced_classes_still_fill_every_batch():
    # Two classes of 2 rows and one of 100: the balanced pass gives 2 + 2 + 22 (twice),
    # the top-up takes the rest from the large class; nothing repeats.
    y = np.array([0, 0, 1, 1] + [2] * 100)
    sampler = LabelBalancedBatchSampler(y, batch_size=64, samples_per_class=2, rng=0)
    for _ in range(20):
        batch = sampler.next_batch()
        assert len(batch) == 64 and len(set(batch.tolist())) == 64
        counts = Counter(y[batch].tolist())
        assert counts[0] == 2 and counts[1] == 2 and counts[2] == 60


def test_multi_label_overlap_fills_the_batch_when_rows_allow():
    # Every row carries both labels: the groups overlap completely.
    y = np.ones((80, 2), dtype=np.int64)
    sampler = LabelBalancedBatchSampler(y, batch_size=64, samples_per_class=2, rng=0)
    assert len(set(sampler.next_batch().tolist())) == 64


def test_small_data_gives_the_whole_set_each_batch():
    y = _labels(3, 4)
    sampler = LabelBalancedBatchSampler(y, batch_size=64, samples_per_class=4, rng=0)
    assert sorted(sampler.next_batch().tolist()) == list(range(12))


def test_an_epoch_of_batches_covers_every_example():
    y = _labels(16, 8)  # 128 examples, 16 per class-group of 4 per batch
    sampler = LabelBalancedBatchSampler(y, batch_size=32, samples_per_class=4, rng=3)
    seen = np.concatenate([sampler.next_batch() for _ in range(math.ceil(len(y) / 32))])
    assert len(set(seen.tolist())) == len(y)


def test_seed_controls_the_batches():
    y = _labels(10, 20)

    def batches(seed):
        sampler = LabelBalancedBatchSampler(y, batch_size=16, samples_per_class=4, rng=seed)
        return [sampler.next_batch().tolist() for _ in range(5)]

    assert batches(7) == batches(7)
    assert batches(7) != batches(8)


def test_multi_label_groups_and_empty_rows():
    y = np.zeros((60, 3), dtype=np.float32)
    y[:20, 0] = 1
    y[10:40, 1] = 1     # rows 10-19 carry labels 0 and 1
    y[40:50, 2] = 1     # rows 50-59 carry no label: their own group
    sampler = LabelBalancedBatchSampler(y, batch_size=16, samples_per_class=4, rng=0)
    assert sampler.n_groups == 4
    assert len(sampler.order) == 70  # one entry per (row, label) + one per empty row
    for _ in range(100):
        batch = sampler.next_batch()
        assert len(batch) == 16 and len(set(batch.tolist())) == 16


def test_memory_is_linear_in_n_not_quadratic():
    n, k = 200_000, 1_000
    y = np.random.default_rng(0).integers(0, k, size=n)
    tracemalloc.start()
    sampler = LabelBalancedBatchSampler(y, batch_size=64, samples_per_class=4, rng=0)
    for _ in range(200):
        sampler.next_batch()
    _, peak = tracemalloc.get_traced_memory()
    tracemalloc.stop()
    # n² pairs would be 4e10 entries; the sampler's state is a few int64 arrays of n or k.
    assert sampler.state_nbytes() <= 8 * (n + 3 * k + 8)
    assert peak < 64 * n, peak  # construction temporaries included: O(n) bytes
    assert not any(isinstance(v, (list, dict, set, tuple)) for v in vars(sampler).values())


@pytest.mark.parametrize("bad", [{"batch_size": 1}, {"samples_per_class": 0}])
def test_rejects_settings_that_cannot_form_pairs(bad):
    settings = {"batch_size": 16, "samples_per_class": 4, **bad}
    with pytest.raises(ValueError, match="must be at least"):
        LabelBalancedBatchSampler(_labels(3, 5), **settings)
