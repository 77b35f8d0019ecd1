"""Batches built ahead of the model in worker processes (``--data-workers N``), in draw order.

The draws (which image, where, which flip, which degradation seed) are made in the training process from the
sampler's generator, exactly as without workers; workers only materialise them (``PatchSampler.build`` is a pure
function of the draws). The state saved in a checkpoint is the generator's state before the oldest batch not yet
handed to the model, so ``--resume`` continues exactly, with or without workers, and with any number of them.
"""

from __future__ import annotations

import collections
from concurrent.futures import Future, ProcessPoolExecutor
from typing import Any

import numpy as np

from edgesr.train.data import PatchSampler

_SAMPLER: PatchSampler | None = None  # the worker's copy (sent once, at start)


def _init(sampler: PatchSampler) -> None:
    global _SAMPLER
    _SAMPLER = sampler


def _build(draws: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    assert _SAMPLER is not None
    return _SAMPLER.build(draws)


def _as_built(x: np.ndarray) -> np.ndarray:
    """The memory layout ``PatchSampler.build`` gives (NHWC in memory, seen as NCHW), which pickling loses: the
    model's convolutions take another path, with other rounding, for another layout."""
    return np.ascontiguousarray(x.transpose(0, 2, 3, 1)).transpose(0, 3, 1, 2)


class BatchFeed:
    """``next_batch()`` for the training loop: in-process (``workers=0``) or from ``workers`` processes."""

    def __init__(self, sampler: PatchSampler, batch: int, rank: int, world: int, workers: int) -> None:
        self.sampler, self.batch, self.rank, self.world = sampler, batch, rank, world
        self.pool: ProcessPoolExecutor | None = None
        self.pending: collections.deque[tuple[dict[str, Any], Future[tuple[np.ndarray, np.ndarray]]]] = (
            collections.deque()
        )
        if workers > 0:
            import multiprocessing

            self.pool = ProcessPoolExecutor(workers, mp_context=multiprocessing.get_context("spawn"),
                                            initializer=_init, initargs=(sampler,))
            self.ahead = 2 * workers

    def _draws(self) -> np.ndarray:
        d = self.sampler.draw(self.batch * self.world)
        return d[self.rank * self.batch : (self.rank + 1) * self.batch]

    def next_batch(self) -> tuple[np.ndarray, np.ndarray]:
        if self.pool is None:
            return self.sampler.build(self._draws())
        while len(self.pending) < self.ahead:
            before = self.sampler.state()
            self.pending.append((before, self.pool.submit(_build, self._draws())))
        lr, hr = self.pending.popleft()[1].result()
        return _as_built(lr), _as_built(hr)

    def state(self) -> dict[str, Any]:
        """The generator's state before the first batch the model has not had yet."""
        return dict(self.pending[0][0]) if self.pending else self.sampler.state()

    def close(self) -> None:
        if self.pool is not None:
            for _, fut in self.pending:
                fut.cancel()
            self.pool.shutdown(wait=True, cancel_futures=True)
            self.pool = None
