"""Random cut forest (Guha et al., 2016) for anomaly scores.

scikit-learn has isolation forest but no random cut forest, and the PyPI implementation scores one
point at a time in Python; this one builds the trees the same way (a cut's dimension is chosen in
proportion to the bounding box's range along it) and scores whole batches with NumPy.

The score of a point is its expected displacement: walking down each tree, the chance that a random
cut of the node's box extended by the point separates the point from the node's sample, times the
number of sample points that would be displaced (the node's size), plus the largest sibling/child
size ratio seen above (the "collusive" part of CoDisp). Averaged over trees; higher: more unusual.
"""

from __future__ import annotations

import numpy as np
from sklearn.base import BaseEstimator, OutlierMixin
from sklearn.utils.validation import check_is_fitted, validate_data


class _Tree:
    """One robust random cut tree, stored as flat arrays."""

    def __init__(self, points: np.ndarray, rng: np.random.Generator):
        self.left: list[int] = []
        self.right: list[int] = []
        self.dim: list[int] = []
        self.cut: list[float] = []
        self.low: list[np.ndarray] = []
        self.high: list[np.ndarray] = []
        self.size: list[int] = []
        self._build(points, rng)
        self.left_ = np.array(self.left)
        self.right_ = np.array(self.right)
        self.dim_ = np.array(self.dim)
        self.cut_ = np.array(self.cut)
        self.low_ = np.array(self.low)
        self.high_ = np.array(self.high)
        self.size_ = np.array(self.size, dtype=float)

    def _new(self, points: np.ndarray) -> int:
        self.left.append(-1)
        self.right.append(-1)
        self.dim.append(-1)
        self.cut.append(0.0)
        self.low.append(points.min(axis=0))
        self.high.append(points.max(axis=0))
        self.size.append(len(points))
        return len(self.size) - 1

    def _build(self, points: np.ndarray, rng: np.random.Generator) -> None:
        root = self._new(points)
        stack = [(root, points)]
        while stack:
            node, rows = stack.pop()
            ranges = self.high[node] - self.low[node]
            total = ranges.sum()
            if len(rows) <= 1 or total <= 0:
                continue  # a leaf (identical points stay together)
            dim = int(rng.choice(len(ranges), p=ranges / total))
            cut = rng.uniform(self.low[node][dim], self.high[node][dim])
            goes_left = rows[:, dim] <= cut
            if goes_left.all() or not goes_left.any():
                continue
            left, right = self._new(rows[goes_left]), self._new(rows[~goes_left])
            self.left[node], self.right[node] = left, right
            self.dim[node], self.cut[node] = dim, cut
            stack += [(left, rows[goes_left]), (right, rows[~goes_left])]

    def displacement(self, X: np.ndarray) -> np.ndarray:
        n = len(X)
        node = np.zeros(n, dtype=int)
        unseparated = np.ones(n)  # probability the point has not been cut off yet
        score = np.zeros(n)
        collusive = np.zeros(n)  # largest sibling/child ratio on the path so far
        active = np.ones(n, dtype=bool)
        while active.any():
            idx = np.flatnonzero(active)
            current = node[idx]
            low, high = self.low_[current], self.high_[current]
            x = X[idx]
            extension = np.maximum(x - high, 0) + np.maximum(low - x, 0)
            span = (np.maximum(high, x) - np.minimum(low, x)).sum(axis=1)
            separate = np.divide(
                extension.sum(axis=1), span, out=np.zeros(len(idx)), where=span > 0
            )
            size = self.size_[current]
            score[idx] += unseparated[idx] * separate * np.maximum(size, collusive[idx])
            unseparated[idx] *= 1 - separate
            leaf = self.left_[current] < 0
            # At a leaf the point sits beside identical or nearly identical points.
            score[idx[leaf]] += unseparated[idx[leaf]] * np.maximum(1.0, collusive[idx[leaf]])
            active[idx[leaf]] = False
            inner = idx[~leaf]
            if len(inner) == 0:
                continue
            parent = node[inner]
            go_left = X[inner, self.dim_[parent]] <= self.cut_[parent]
            child = np.where(go_left, self.left_[parent], self.right_[parent])
            sibling = np.where(go_left, self.right_[parent], self.left_[parent])
            ratio = self.size_[sibling] / (self.size_[child] + 1)
            collusive[inner] = np.maximum(collusive[inner], ratio)
            node[inner] = child
        return score


class RandomCutForest(OutlierMixin, BaseEstimator):
    """Anomaly scores from a forest of robust random cut trees.

    Parameters
    ----------
    num_trees : number of trees.
    sample_size : points sampled (without replacement) for each tree.
    contamination : share of training points flagged as anomalies; sets ``threshold_``.
    random_state : seed.
    """

    def __init__(self, num_trees=100, sample_size=256, contamination=0.05, random_state=None):
        self.num_trees = num_trees
        self.sample_size = sample_size
        self.contamination = contamination
        self.random_state = random_state

    def fit(self, X, y=None):
        X = validate_data(self, X, dtype=float, accept_sparse=False)
        rng = np.random.default_rng(self.random_state)
        size = min(self.sample_size, len(X))
        self.trees_ = [
            _Tree(X[rng.choice(len(X), size=size, replace=False)], rng)
            for _ in range(self.num_trees)
        ]
        scores = self.score_samples(X)
        self.threshold_ = float(np.quantile(scores, 1 - self.contamination))
        return self

    def score_samples(self, X) -> np.ndarray:
        """Anomaly score per row: higher is more anomalous."""
        check_is_fitted(self, "trees_")
        X = validate_data(self, X, dtype=float, reset=False)
        return np.mean([tree.displacement(X) for tree in self.trees_], axis=0)

    def anomaly_score(self, X) -> np.ndarray:
        """Same as ``score_samples``: higher is more anomalous."""
        return self.score_samples(X)

    def decision_function(self, X) -> np.ndarray:
        """Positive for anomalies, like ``score_samples - threshold_``."""
        return self.score_samples(X) - self.threshold_

    def predict(self, X) -> np.ndarray:
        """-1 for anomalies, 1 for normal points (scikit-learn's outlier convention)."""
        return np.where(self.decision_function(X) > 0, -1, 1)
