"""The AutoML job's own records, apart from a search."""

from __future__ import annotations

import numpy as np

from kiln.automl._job import peak_memory_mb


def _touch(megabytes: int) -> int:
    block = np.ones(megabytes * 131_072)  # 8-byte floats, written: resident
    return int(block.sum())


def test_peak_memory_counts_the_fit_workers_that_are_still_alive():
    # joblib keeps its loky workers for the next call: RUSAGE_CHILDREN, which counts ended
    # children only, said 0 MB for the workers of every AutoML job.
    from joblib import Parallel, delayed

    with Parallel(n_jobs=2, backend="loky") as parallel:
        parallel(delayed(_touch)(300) for _ in range(2))
    assert peak_memory_mb()["workers"] >= 300
