"""Built-in unsupervised algorithms: clustering, anomaly detection, dimensionality reduction and
topic models, plus the TF-IDF text classifier. Each is an ``Algorithm`` like the supervised ones."""

from __future__ import annotations

import math

import numpy as np
from sklearn.base import BaseEstimator, ClusterMixin
from sklearn.neighbors import NearestNeighbors
from sklearn.utils.validation import check_is_fitted, validate_data

from kiln.algorithms._algorithm import Algorithm, default_threads
from kiln.algorithms._params import Param
from kiln.problems import (
    ANOMALY_DETECTION,
    BINARY,
    CLUSTERING,
    DIMENSIONALITY_REDUCTION,
    MULTICLASS,
    TOPIC_MODELING,
)


class DBSCANClusterer(ClusterMixin, BaseEstimator):
    """DBSCAN that can label new points: a new point joins the cluster of its nearest core
    sample within ``eps``, else it is noise (-1). scikit-learn's DBSCAN only labels its own
    training rows."""

    def __init__(self, eps=0.5, min_samples=5):
        self.eps = eps
        self.min_samples = min_samples

    def fit(self, X, y=None):
        from sklearn.cluster import DBSCAN

        X = validate_data(self, X, dtype=float)
        model = DBSCAN(eps=self.eps, min_samples=self.min_samples, n_jobs=default_threads()).fit(X)
        self.labels_ = model.labels_
        core = model.core_sample_indices_
        self.core_samples_ = X[core]
        self.core_labels_ = model.labels_[core]
        self.n_clusters_ = int(len(set(self.labels_)) - (1 if -1 in self.labels_ else 0))
        self._index = NearestNeighbors(n_neighbors=1).fit(self.core_samples_) if len(core) else None
        return self

    def predict(self, X) -> np.ndarray:
        check_is_fitted(self, "labels_")
        X = validate_data(self, X, dtype=float, reset=False)
        if self._index is None:
            return np.full(len(X), -1)
        distance, nearest = self._index.kneighbors(X)
        labels = self.core_labels_[nearest[:, 0]]
        return np.where(distance[:, 0] <= self.eps, labels, -1)


def _kmeans(problem_type, hp, seed):
    from sklearn.cluster import KMeans

    return KMeans(
        n_clusters=hp["k"], n_init=hp["n_init"], max_iter=hp["max_iter"], random_state=seed
    )


def _gaussian_mixture(problem_type, hp, seed):
    from sklearn.mixture import GaussianMixture

    return GaussianMixture(
        n_components=hp["components"],
        covariance_type=hp["covariance_type"],
        max_iter=hp["max_iter"],
        random_state=seed,
    )


def _dbscan(problem_type, hp, seed):
    return DBSCANClusterer(eps=hp["eps"], min_samples=hp["min_samples"])


def _isolation_forest(problem_type, hp, seed):
    from sklearn.ensemble import IsolationForest

    return IsolationForest(
        n_estimators=hp["n_estimators"],
        max_samples=hp["max_samples"],
        contamination=hp["contamination"],
        random_state=seed,
        n_jobs=default_threads(),
    )


def _random_cut_forest(problem_type, hp, seed):
    from kiln.algorithms._rcf import RandomCutForest

    return RandomCutForest(
        num_trees=hp["num_trees"],
        sample_size=hp["sample_size"],
        contamination=hp["contamination"],
        random_state=seed,
    )


def _pca(problem_type, hp, seed):
    from sklearn.decomposition import PCA

    return PCA(n_components=hp["components"], whiten=hp["whiten"], random_state=seed)


def _lda(problem_type, hp, seed):
    from sklearn.decomposition import LatentDirichletAllocation

    return LatentDirichletAllocation(
        n_components=hp["topics"],
        max_iter=hp["max_iter"],
        learning_method="online",
        random_state=seed,
        n_jobs=1,
    )


def _text_classifier(problem_type, hp, seed):
    from sklearn.linear_model import LogisticRegression

    return LogisticRegression(
        C=1.0 / hp["alpha"],
        max_iter=hp["max_iter"],
        class_weight=None if hp["class_weight"] == "none" else "balanced",
        random_state=seed,
    )


_TEXT_PARAMS = [
    Param("ngram_max", "int", 2, "longest word n-gram used as a feature", 1, 5),
    Param("min_document_frequency", "int", 2, "ignore terms in fewer documents", 1, 1000),
    Param("vocabulary_size", "int", 50000, "keep this many most frequent terms", 100, 2_000_000),
]

UNSUPERVISED_ALGORITHMS: dict[str, Algorithm] = {
    a.name: a
    for a in [
        Algorithm(
            "kmeans",
            "k-means clustering (k-means++ initialisation)",
            (CLUSTERING,),
            [
                Param("k", "int", 8, "number of clusters", 2, 1000),
                Param("n_init", "int", 4, "restarts; the best inertia wins", 1, 100),
                Param("max_iter", "int", 300, "maximum iterations per restart", 10, 10000),
            ],
            _kmeans,
            scale_numeric=True,
        ),
        Algorithm(
            "gaussian_mixture",
            "Gaussian mixture model clustering (EM)",
            (CLUSTERING,),
            [
                Param("components", "int", 4, "number of mixture components", 1, 500),
                Param(
                    "covariance_type",
                    "choice",
                    "full",
                    "covariance shape",
                    choices=("full", "tied", "diag", "spherical"),
                ),
                Param("max_iter", "int", 200, "maximum EM iterations", 10, 10000),
            ],
            _gaussian_mixture,
            scale_numeric=True,
        ),
        Algorithm(
            "dbscan",
            "DBSCAN density clustering (new points join the nearest core's cluster)",
            (CLUSTERING,),
            [
                Param(
                    "eps", "float", 2.0, "neighbourhood radius (in scaled units)", 1e-6, math.inf
                ),
                Param("min_samples", "int", 10, "points needed to form a dense core", 1, 100000),
            ],
            _dbscan,
            scale_numeric=True,
        ),
        Algorithm(
            "isolation_forest",
            "Isolation forest anomaly scores",
            (ANOMALY_DETECTION,),
            [
                Param("n_estimators", "int", 200, "number of trees", 1, 10000),
                Param("max_samples", "int", 256, "rows sampled per tree", 2, 1_000_000),
                Param("contamination", "float", 0.05, "share of training rows flagged", 0.001, 0.5),
            ],
            _isolation_forest,
        ),
        Algorithm(
            "random_cut_forest",
            "Random cut forest anomaly scores (expected displacement)",
            (ANOMALY_DETECTION,),
            [
                Param("num_trees", "int", 100, "number of trees", 1, 2000),
                Param("sample_size", "int", 256, "rows sampled per tree", 2, 100000),
                Param("contamination", "float", 0.05, "share of training rows flagged", 0.001, 0.5),
            ],
            _random_cut_forest,
            scale_numeric=True,
        ),
        Algorithm(
            "pca",
            "Principal component analysis",
            (DIMENSIONALITY_REDUCTION,),
            [
                Param("components", "int", 2, "number of components kept", 1, 10000),
                Param("whiten", "bool", False, "scale components to unit variance"),
            ],
            _pca,
            scale_numeric=True,
        ),
        Algorithm(
            "lda",
            "Latent Dirichlet allocation topic model on text columns",
            (TOPIC_MODELING,),
            [
                Param("topics", "int", 10, "number of topics", 2, 1000),
                Param("max_iter", "int", 20, "passes over the data", 1, 1000),
                *_TEXT_PARAMS,
            ],
            _lda,
            text_input=True,
        ),
        Algorithm(
            "text_classifier",
            "Text classification: TF-IDF word n-grams and logistic regression (BlazingText-style)",
            (BINARY, MULTICLASS),
            [
                Param(
                    "alpha",
                    "float",
                    0.1,
                    "regularisation strength (larger: simpler model)",
                    1e-8,
                    1e6,
                ),
                Param("max_iter", "int", 1000, "maximum solver iterations", 10, 100000),
                Param(
                    "class_weight",
                    "choice",
                    "none",
                    "balanced re-weights classes",
                    choices=("none", "balanced"),
                ),
                *_TEXT_PARAMS,
            ],
            _text_classifier,
            text_input=True,
        ),
    ]
}
