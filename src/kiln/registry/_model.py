"""``TrainedModel``: the fitted scikit-learn Pipeline plus what it needs to answer requests.

This one object is what batch transform and the endpoints run, so both give the same answers.
"""

from __future__ import annotations

import contextlib
import io
import os
import pickle
import warnings
import zlib
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from kiln.errors import RequestError
from kiln.problems import (
    ANOMALY_DETECTION,
    BINARY,
    CLUSTERING,
    DIMENSIONALITY_REDUCTION,
    MULTICLASS,
    REGRESSION,
    TOPIC_MODELING,
)

if TYPE_CHECKING:
    import pandas as pd

__all__ = ["TrainedModel", "library_versions", "set_estimator_threads"]

_PICKLE_PROTOCOL = 5
# What a compressed model starts with; a pickle starts with b"\x80", so older, uncompressed
# models still load.
_COMPRESSED = b"kiln-model+zlib\n"


def library_versions() -> dict[str, str]:
    import platform
    from importlib import metadata

    out = {"python": platform.python_version()}
    for package in (
        "kiln",
        "scikit-learn",
        "pandas",
        "numpy",
        "pyarrow",
        "xgboost-cpu",
        "lightgbm",
    ):
        with contextlib.suppress(metadata.PackageNotFoundError):
            out[package] = metadata.version(package)
    return out


class TrainedModel:
    """A fitted ``pipeline`` (preprocessing + estimator) with its signature and class labels.

    Binary classifiers predict the positive class (the second label) when its probability is at
    least ``threshold`` (0.5 unless a business cost chose another at training time).
    """

    threshold = 0.5

    def __init__(self, pipeline, *, problem_type: str, classes: list | None, signature: dict):
        self.pipeline = pipeline
        self.problem_type = problem_type
        self.classes = classes
        self.signature = signature
        self.input_columns = [c["name"] for c in signature["inputs"]]
        self.library_versions = library_versions()

    @property
    def is_classifier(self) -> bool:
        return self.problem_type in (BINARY, MULTICLASS)

    # -- unsupervised outputs --------------------------------------------------------------------
    def _features(self, frame: pd.DataFrame):
        return self.pipeline[:-1].transform(self._inputs(frame))

    def clusters(self, frame: pd.DataFrame) -> np.ndarray:
        return np.asarray(self.pipeline[-1].predict(self._features(frame)), dtype=int)

    def anomaly_scores(self, frame: pd.DataFrame) -> tuple[np.ndarray, np.ndarray]:
        """(score, is_anomaly): higher scores are more anomalous."""
        estimator = self.pipeline[-1]
        features = self._features(frame)
        if hasattr(estimator, "anomaly_score"):
            scores = estimator.anomaly_score(features)
        else:  # scikit-learn's outlier detectors score normal points higher
            scores = -estimator.score_samples(features)
        return np.asarray(scores, dtype=float), estimator.predict(features) == -1

    def embed(self, frame: pd.DataFrame) -> np.ndarray:
        """Components (PCA) or topic weights (LDA) per row."""
        return np.asarray(self.pipeline.transform(self._inputs(frame)), dtype=float)

    def _inputs(self, frame: pd.DataFrame) -> pd.DataFrame:
        return frame[self.input_columns]

    def predict_proba(self, frame: pd.DataFrame) -> np.ndarray:
        """Class probabilities, columns in the order of ``classes``."""
        return self.pipeline.predict_proba(self._inputs(frame))

    def predict_values(self, frame: pd.DataFrame) -> np.ndarray:
        return np.asarray(self.pipeline.predict(self._inputs(frame)), dtype=float)

    def encoded_labels(self, proba: np.ndarray) -> np.ndarray:
        """Class indices from probabilities: the threshold for binary, the most likely else."""
        if proba.shape[1] == 2:
            return (proba[:, 1] >= self.threshold).astype(int)
        return proba.argmax(axis=1)

    def predict(self, frame: pd.DataFrame) -> np.ndarray:
        """Labels (classification, in the target's own values) or values (regression)."""
        if not self.is_classifier:
            return self.predict_values(frame)
        return np.asarray(self.classes, dtype=object)[
            self.encoded_labels(self.predict_proba(frame))
        ]

    def predictions(self, frame: pd.DataFrame) -> list[dict[str, Any]]:
        """One JSON-ready object per row: ``{"label", "probabilities"}`` for classifiers,
        ``{"value"}`` for regression, ``{"cluster"}``, ``{"score", "anomaly"}``,
        ``{"components"}`` or ``{"topic", "topics"}`` for unsupervised models."""
        if self.problem_type == REGRESSION:
            return self.format_predictions(self.predict_values(frame))
        if self.is_classifier:
            return self.format_predictions(self.predict_proba(frame))
        if self.problem_type == CLUSTERING:
            return [{"cluster": int(c)} for c in self.clusters(frame)]
        if self.problem_type == ANOMALY_DETECTION:
            scores, flags = self.anomaly_scores(frame)
            _refuse_non_finite(scores)
            return [
                {"score": round(float(s), 6), "anomaly": bool(f)}
                for s, f in zip(scores, flags, strict=True)
            ]
        if self.problem_type == DIMENSIONALITY_REDUCTION:
            components = self.embed(frame)
            _refuse_non_finite(components)
            return [{"components": row} for row in components.round(6).tolist()]
        if self.problem_type == TOPIC_MODELING:
            weights = self.embed(frame)
            _refuse_non_finite(weights)
            return [
                {"topic": int(row.argmax()), "topics": row.round(6).tolist()} for row in weights
            ]
        raise ValueError(f"Unknown problem type {self.problem_type!r}.")

    def score_encoded(self, X) -> np.ndarray:
        """The estimator alone on an already encoded input matrix: probabilities for
        classifiers, values for regression (the fast path of endpoints)."""
        estimator = self.pipeline[-1]
        if self.is_classifier:
            return estimator.predict_proba(X)
        return np.asarray(estimator.predict(X), dtype=float)

    def format_predictions(self, scores: np.ndarray) -> list[dict[str, Any]]:
        """JSON-ready predictions from class probabilities or regression values.

        JSON has no infinity or NaN (orjson would write null, which the endpoint's schema does
        not allow), so a row whose prediction is not finite is refused with
        ``request.non-finite-prediction``, naming the row.
        """
        _refuse_non_finite(scores)
        if not self.is_classifier:
            return [{"value": float(v)} for v in scores]
        names = [str(c) for c in self.classes]
        labels = [_native(c) for c in self.classes]
        best = self.encoded_labels(scores)
        return [
            {"label": labels[b], "probabilities": dict(zip(names, map(float, row), strict=True))}
            for b, row in zip(best, scores.round(6).tolist(), strict=True)
        ]

    def prediction_table(self, frame: pd.DataFrame) -> pd.DataFrame:
        """Predictions as columns: ``prediction`` and, for classifiers, ``probability_<label>``;
        ``cluster``; ``anomaly_score`` and ``anomaly``; ``component_<i>``; ``topic`` and
        ``topic_<i>``."""
        import pandas as pd  # here: opening a workspace (the registry) does not load pandas

        if self.problem_type == REGRESSION:
            return self.table_from_scores(self.predict_values(frame), frame.index)
        if self.is_classifier:
            return self.table_from_scores(self.predict_proba(frame), frame.index)
        if self.problem_type == CLUSTERING:
            return pd.DataFrame({"cluster": self.clusters(frame)}, index=frame.index)
        if self.problem_type == ANOMALY_DETECTION:
            scores, flags = self.anomaly_scores(frame)
            return pd.DataFrame({"anomaly_score": scores, "anomaly": flags}, index=frame.index)
        if self.problem_type in (DIMENSIONALITY_REDUCTION, TOPIC_MODELING):
            values = self.embed(frame)
            prefix = "component" if self.problem_type == DIMENSIONALITY_REDUCTION else "topic"
            out = pd.DataFrame(
                values,
                index=frame.index,
                columns=[f"{prefix}_{i + 1}" for i in range(values.shape[1])],
            )
            if self.problem_type == TOPIC_MODELING:
                out.insert(0, "topic", values.argmax(axis=1))
            return out
        raise ValueError(f"Unknown problem type {self.problem_type!r}.")

    def table_from_scores(self, scores: np.ndarray, index) -> pd.DataFrame:
        """Prediction columns from class probabilities or regression values."""
        import pandas as pd

        if not self.is_classifier:
            return pd.DataFrame({"prediction": scores}, index=index)
        out = {"prediction": np.asarray(self.classes, dtype=object)[self.encoded_labels(scores)]}
        for i, label in enumerate(self.classes):
            out[f"probability_{label}"] = scores[:, i]
        return pd.DataFrame(out, index=index)

    def set_threads(self, threads: int) -> None:
        """Threads used at prediction time (1 for serving: per-call thread pools cost more than
        they save on small batches)."""
        set_estimator_threads(self.pipeline[-1], threads)

    def to_bytes(self) -> bytes:
        """The model as stored: pickled, then zlib-compressed (tree ensembles shrink 4-5 times;
        level 1 compresses 23 MB in under a second)."""
        return _COMPRESSED + zlib.compress(pickle.dumps(self, protocol=_PICKLE_PROTOCOL), 1)

    @staticmethod
    def from_bytes(data: bytes) -> TrainedModel:
        """Unpickle a model (compressed, or a plain pickle as stored before). Unpickling runs
        code: only call this on verified artifacts."""
        if data.startswith(_COMPRESSED):
            data = zlib.decompress(memoryview(data)[len(_COMPRESSED) :])
        model = _ModelUnpickler(io.BytesIO(data)).load()  # digest-verified by the caller
        current = library_versions()
        changed = {
            name: (version, current.get(name))
            for name, version in model.library_versions.items()
            if name != "python" and current.get(name) != version
        }
        if changed:
            described = ", ".join(f"{n} {old} → {new}" for n, (old, new) in changed.items())
            warnings.warn(
                f"This model was trained with other library versions ({described}); its "
                "predictions may differ. Retrain it to be sure.",
                stacklevel=2,
            )
        return model


def pickled_size(path: str | os.PathLike, *, chunk: int = 1 << 20) -> int:
    """The size of the pickle inside a model file (decompressed in a stream, never whole in
    memory): what unpickling it builds is about this big, whereas the file is 4-5 times
    smaller for a compressed tree ensemble."""
    with open(path, "rb") as file:
        head = file.read(len(_COMPRESSED))
        if head != _COMPRESSED:  # a plain pickle, as stored before compression
            return os.fstat(file.fileno()).st_size
        inflater, size = zlib.decompressobj(), 0
        while block := file.read(chunk):
            data = inflater.decompress(block, chunk)
            size += len(data)
            while inflater.unconsumed_tail:
                size += len(inflater.decompress(inflater.unconsumed_tail, chunk))
        return size + len(inflater.flush())


# Classes that moved between modules since models were first stored: (old module, name) → new
# module. A stored model names its classes by module path, so every move of a class that can be
# inside a model adds a line here (tests/registry/test_model_compat.py loads models of each
# earlier layout).
MOVED_CLASSES = {
    ("kiln.training._model", "TrainedModel"): "kiln.registry._model",
    ("kiln.serving._fast", "RowEncoder"): "kiln.recipe._fast",
}


class _ModelUnpickler(pickle.Unpickler):
    def find_class(self, module: str, name: str):
        return super().find_class(MOVED_CLASSES.get((module, name), module), name)


def set_estimator_threads(estimator, threads: int) -> None:
    """Set an estimator's thread count, whatever its library calls it."""
    if hasattr(estimator, "set_threads"):  # kiln's ensembles pass it on to their members
        estimator.set_threads(threads)
        return
    if type(estimator).__module__.startswith("catboost") and estimator.is_fitted():
        return  # CatBoost refuses to change a fitted model's parameters; it keeps its threads
    params = estimator.get_params()
    for name in ("n_jobs", "nthread", "num_threads", "thread_count"):
        if name in params:
            estimator.set_params(**{name: threads})


def _native(value):
    return value.item() if hasattr(value, "item") else value


def _refuse_non_finite(scores: np.ndarray) -> None:
    """Refuse predictions that JSON cannot hold, naming the first row that has one."""
    finite = np.isfinite(scores)
    if finite.all():
        return
    rows = np.flatnonzero(~finite.reshape(len(finite), -1).all(axis=1))
    more = f" (and {len(rows) - 1} other row(s))" if len(rows) > 1 else ""
    raise RequestError(
        f"The model's prediction for row {rows[0]}{more} is not a finite number: its inputs are "
        "probably far outside the values it was trained on. Check that row's numbers.",
        code="request.non-finite-prediction",
    )


def load_model(path: str | os.PathLike) -> TrainedModel:
    """A model file written by ``kiln models export`` (or ``ws.models.export``).

    The file is a pickle and loading it runs code: load only files you trust. It has no
    digest check of its own; compare its SHA-256 with ``kiln models show`` if it travelled.
    """
    return TrainedModel.from_bytes(Path(path).read_bytes())
