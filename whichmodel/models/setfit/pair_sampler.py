"""Label-balanced batches drawn on the fly, for contrastive training on in-batch pairs.

Why not a list of pairs (what the reference `setfit` library builds): a pair list grows
with n², holds self-pairs and is shuffled with a seed the user does not control. Here a
batch is P label groups × K examples; the loss scores every one of the B·(B−1)/2 pairs
inside the batch from one forward pass per sentence, so the sampler only ever holds

* the example indices grouped by label (one int64 array of length n + labels assigned,
  kept in CSR form: ``order`` plus ``offsets``), reshuffled group by group in place, and
* one cursor per group and one permutation of the groups,

which is O(n + k) memory however long training runs. Every example index appears at most
once in a batch, so no pair is a self-pair. Groups are visited in a shuffled cycle and each
group's examples in a shuffled cycle, so every group is visited equally often: on
balanced data every example is seen about once per ``ceil(n / B)`` batches (an "epoch");
on imbalanced data small classes are seen more often than that, large ones less (which
is the point of balancing).

Multi-label: a group is "the rows carrying label j" (rows with no label form one extra
group). A row can therefore be drawn through any of its labels; the batch never repeats
it. Which pairs count as similar is the loss's decision (see `contrastive_losses`).
"""

from __future__ import annotations

import math
from collections.abc import Iterator

import numpy as np


class LabelBalancedBatchSampler:
    """Yields batches of distinct example indices: P label groups × K examples each.

    ``y``: class ids (n,) or a 0/1 label matrix (n, k). ``samples_per_class`` is the
    K wanted; with few groups K grows so that a batch is still ``batch_size`` long
    (2 classes and B=64 give 2 × 32). A group smaller than K contributes all its rows.
    When n ≤ ``batch_size`` every batch is the whole data set, in a fresh order.
    """

    def __init__(self, y: np.ndarray, batch_size: int, samples_per_class: int = 2,
                 rng: np.random.Generator | int | None = 0) -> None:
        if batch_size < 2:
            raise ValueError(f"batch_size must be at least 2 to form pairs, got {batch_size}")
        if samples_per_class < 1:
            raise ValueError(f"samples_per_class must be at least 1, got {samples_per_class}")
        self.rng = rng if isinstance(rng, np.random.Generator) else np.random.default_rng(rng)
        y = np.asarray(y)
        self.n = int(y.shape[0])
        self.batch_size = min(int(batch_size), self.n)
        if y.ndim == 1:
            labels = y.astype(np.int64)
            rows = np.arange(self.n, dtype=np.int64)
        else:  # multi-label: one (row, label) entry per assigned label; empty rows → group k
            rows, labels = np.nonzero(y > 0)
            empty = np.flatnonzero(~(y > 0).any(axis=1))
            rows = np.concatenate([rows, empty]).astype(np.int64)
            labels = np.concatenate([labels, np.full(len(empty), y.shape[1])]).astype(np.int64)
        sort = np.argsort(labels, kind="stable")
        group_ids, counts = np.unique(labels[sort], return_counts=True)
        self.order = rows[sort]                     # CSR data: row indices grouped by label
        self.offsets = np.concatenate([[0], np.cumsum(counts)]).astype(np.int64)
        self.n_groups = len(group_ids)
        self.cursors = np.zeros(self.n_groups, dtype=np.int64)
        for g in range(self.n_groups):
            self._shuffle_group(g)
        per_group = max(int(samples_per_class), math.ceil(self.batch_size / self.n_groups))
        self.samples_per_class = min(per_group, self.batch_size)
        self.group_cycle = self.rng.permutation(self.n_groups)
        self.group_cursor = 0

    def _shuffle_group(self, g: int) -> None:
        start, stop = self.offsets[g], self.offsets[g + 1]
        self.order[start:stop] = self.rng.permutation(self.order[start:stop])
        self.cursors[g] = 0

    def _next_group(self, used: set[int]) -> int:
        if self.group_cursor == self.n_groups:
            # A new cycle starts mid-batch: the groups already in this batch go last, so
            # a batch holds P distinct groups whenever there are at least P.
            cycle = self.rng.permutation(self.n_groups)
            late = np.isin(cycle, np.fromiter(used, dtype=np.int64, count=len(used)))
            self.group_cycle = np.concatenate([cycle[~late], cycle[late]])
            self.group_cursor = 0
        g = int(self.group_cycle[self.group_cursor])
        self.group_cursor += 1
        return g

    def _take(self, g: int, k: int, chosen: set[int]) -> list[int]:
        """Up to ``k`` rows of group ``g`` not yet in the batch, in the group's cycle."""
        start, stop = int(self.offsets[g]), int(self.offsets[g + 1])
        size = stop - start
        out: list[int] = []
        looked = 0
        # Each row of the group is looked at most once per call: no repeats, bounded work.
        while len(out) < k and looked < size:
            if self.cursors[g] == size:
                self._shuffle_group(g)
            row = int(self.order[start + self.cursors[g]])
            self.cursors[g] += 1
            looked += 1
            if row not in chosen:
                chosen.add(row)
                out.append(row)
        return out

    def next_batch(self) -> np.ndarray:
        """One batch: ``batch_size`` distinct row indices (``batch_size`` is min(B, n)).

        Balanced first (P groups × K), then topped up from the larger groups when small
        groups cannot fill it, so a step always sees a full batch."""
        if self.batch_size == self.n:
            return self.rng.permutation(self.n)
        chosen: set[int] = set()
        batch: list[int] = []
        used: set[int] = set()
        visited = 0
        # Visiting every group once without filling the batch can only happen when the
        # multi-label groups overlap heavily; then a second round tops the batch up.
        while len(batch) < self.batch_size and visited < 2 * self.n_groups:
            want = min(self.samples_per_class, self.batch_size - len(batch))
            group = self._next_group(used)
            used.add(group)
            batch.extend(self._take(group, want, chosen))
            visited += 1
        # Small groups can leave the batch short (classes of 2, 2 and 100 rows with B=64
        # give 2 + 2 + 22 twice = 48): the groups that still have rows top it up beyond
        # K, visited in a seeded random order. A pass looks at each row about once.
        while len(batch) < self.batch_size:
            before = len(batch)
            for group in self.rng.permutation(self.n_groups):
                batch.extend(self._take(int(group), self.batch_size - len(batch), chosen))
                if len(batch) == self.batch_size:
                    break
            if len(batch) == before:  # every row is already in the batch
                break
        return np.asarray(batch, dtype=np.int64)

    def __iter__(self) -> Iterator[np.ndarray]:
        while True:
            yield self.next_batch()

    def state_nbytes(self) -> int:
        """Bytes held by the sampler's arrays: grows with n + labels, never with n²."""
        return sum(a.nbytes for a in (self.order, self.offsets, self.cursors, self.group_cycle))
