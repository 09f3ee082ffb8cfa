"""Compiled forms of a model version: what they hold and how they score.

A compiled form is a list of members (one for a plain model, one per member for an AutoML
ensemble), each a weighted average of fitted pipelines (its folds), each pipeline a featurizer
(the recipe as NumPy, ``kiln.recipe.RowEncoder``) and a scorer (the estimator as the booster's own
predict, or an ONNX Runtime session). It takes the request's columns as arrays and answers what
the pipeline would: class probabilities in the order of the model's classes, or values.
"""

from __future__ import annotations

import pickle
import zlib
from abc import ABC, abstractmethod
from dataclasses import dataclass, field

import numpy as np

from kiln.recipe import RowEncoder

_PICKLE_PROTOCOL = 5
# What a stored compiled form starts with (its format), then a zlib-compressed pickle.
_MAGIC = b"kiln-compiled+zlib\n"

ONNX, NATIVE = "onnx", "native"
TARGETS = (NATIVE, ONNX)


class Scorer(ABC):
    """The estimator part of a compiled pipeline: an encoded matrix in, scores out."""

    @abstractmethod
    def score(self, X: np.ndarray) -> np.ndarray:
        """Class probabilities (one column per class) or values, one row per row of ``X``."""

    @abstractmethod
    def set_threads(self, threads: int) -> None:
        """Threads per call (1 for serving, all cores for batch transform)."""


class EstimatorScorer(Scorer):
    """The fitted estimator's own predict_proba / predict on the encoded matrix (no recipe)."""

    def __init__(self, estimator, *, classifier: bool):
        self.estimator = estimator
        self.classifier = classifier

    def score(self, X: np.ndarray) -> np.ndarray:
        if self.classifier:
            return np.asarray(self.estimator.predict_proba(X), dtype=float)
        return np.asarray(self.estimator.predict(X), dtype=float)

    def set_threads(self, threads: int) -> None:
        from kiln.registry import set_estimator_threads

        set_estimator_threads(self.estimator, threads)


class LightGBMScorer(Scorer):
    """LightGBM's Booster.predict directly: the scikit-learn wrapper's checks and conversions
    cost more than the trees on small batches."""

    def __init__(self, booster, *, kind: str, iteration: int | None):
        self.booster = booster
        self.kind = kind  # binary | multiclass | regression
        self.iteration = iteration
        self.threads = 1

    def score(self, X: np.ndarray) -> np.ndarray:
        out = self.booster.predict(X, num_iteration=self.iteration, num_threads=self.threads)
        out = np.asarray(out, dtype=float)
        if self.kind == "binary":
            return np.column_stack([1.0 - out, out])
        return out

    def set_threads(self, threads: int) -> None:
        self.threads = threads


class OnnxScorer(Scorer):
    """An ONNX Runtime session over the estimator's converted graph (double precision in)."""

    def __init__(self, graph: bytes, *, classifier: bool, input_type: str):
        self.graph = graph
        self.classifier = classifier
        self.input_type = input_type  # "double" or "float": what the graph's input takes
        self.threads = 1
        self._session = None

    def __getstate__(self) -> dict:
        return {k: v for k, v in self.__dict__.items() if k != "_session"} | {"_session": None}

    def _open(self):
        import onnxruntime

        options = onnxruntime.SessionOptions()
        options.intra_op_num_threads = self.threads
        options.inter_op_num_threads = 1
        self._session = onnxruntime.InferenceSession(
            self.graph, options, providers=["CPUExecutionProvider"]
        )
        self._input = self._session.get_inputs()[0].name
        outputs = [o.name for o in self._session.get_outputs()]
        # Classifiers answer (label, probabilities); regressors one value column.
        self._output = outputs[1] if self.classifier else outputs[0]
        return self._session

    def score(self, X: np.ndarray) -> np.ndarray:
        session = self._session or self._open()
        dtype = np.float64 if self.input_type == "double" else np.float32
        out = session.run([self._output], {self._input: np.ascontiguousarray(X, dtype=dtype)})[0]
        if isinstance(out, list) and out and isinstance(out[0], dict):
            # CatBoost's exporter answers one {class: probability} map per row.
            classes = sorted(out[0])
            out = [[row[c] for c in classes] for row in out]
        out = np.asarray(out, dtype=float)
        return out if self.classifier else out.reshape(-1)

    def set_threads(self, threads: int) -> None:
        if threads != self.threads:
            self.threads = threads
            self._session = None


@dataclass
class CompiledPipeline:
    """One fitted pipeline (recipe + estimator) compiled."""

    encoder: RowEncoder
    scorer: Scorer
    # Classifiers: the classes (encoded 0..n-1) this pipeline saw; a fold of a rare class can
    # lack some, and answers 0 for them (as AutoML's members do).
    seen: list[int] | None = None

    def score(
        self, columns: dict[str, np.ndarray], n_classes: int, encoded: dict | None = None
    ) -> np.ndarray:
        """Scores of this pipeline; ``encoded`` caches matrices by encoder, so pipelines that
        share a fitted recipe (AutoML stores identical ones once) encode the rows once."""
        if encoded is None:
            X = self.encoder.encode(columns)
        else:
            X = encoded.get(id(self.encoder))
            if X is None:
                X = encoded[id(self.encoder)] = self.encoder.encode(columns)
        out = self.scorer.score(X)
        if self.seen is None or out.shape[1] == n_classes:
            return out
        full = np.zeros((out.shape[0], n_classes))
        full[:, self.seen] = out
        return full


@dataclass
class CompiledMember:
    """A model, or one member of an ensemble: the mean of its pipelines (its folds)."""

    name: str
    weight: float
    pipelines: list[CompiledPipeline]

    def score(
        self, columns: dict[str, np.ndarray], n_classes: int, encoded: dict | None = None
    ) -> np.ndarray:
        outs = [p.score(columns, n_classes, encoded) for p in self.pipelines]
        return outs[0] if len(outs) == 1 else np.mean(outs, axis=0)


@dataclass
class CompiledModel:
    """A model version's compiled form (see the module docstring)."""

    target: str
    ref: str
    problem_type: str
    n_classes: int
    members: list[CompiledMember]
    ensemble: bool = False
    # The input columns it reads: a request must carry them with the types it was compiled for.
    columns: list[str] = field(default_factory=list)
    # An ensemble's onnx form: the members kept on their native scorer (no converter, or the
    # converter got them wrong).
    native_members: list[str] = field(default_factory=list)
    digest: str | None = None  # the stored artifact's, once loaded
    # An AutoML ensemble's post-hoc calibration (an object with ``apply(proba)``), as the
    # ensemble applies it.
    calibration: object | None = None

    @property
    def classifier(self) -> bool:
        return self.problem_type != "regression"

    def score(self, columns: dict[str, np.ndarray]) -> np.ndarray:
        """Class probabilities (in the order of the model's classes) or values, per row."""
        total = None
        encoded: dict = {}
        for member in self.members:
            part = member.score(columns, self.n_classes, encoded)
            part = part if member.weight == 1.0 else member.weight * part
            total = part if total is None else total + part
        if self.ensemble and self.classifier:
            # As WeightedEnsemble.predict_proba: the weighted mean, normalised per row.
            total = total / total.sum(axis=1, keepdims=True)
            # getattr: forms compiled before calibration existed unpickle without it.
            calibration = getattr(self, "calibration", None)
            if calibration is not None:
                total = calibration.apply(total)
        return total

    def set_threads(self, threads: int) -> None:
        for member in self.members:
            for pipeline in member.pipelines:
                pipeline.scorer.set_threads(threads)

    def to_bytes(self) -> bytes:
        return _MAGIC + zlib.compress(pickle.dumps(self, protocol=_PICKLE_PROTOCOL), 1)

    @staticmethod
    def from_bytes(data: bytes) -> CompiledModel:
        """Unpickle a stored compiled form: only for digest-verified artifacts (pickle runs
        code), as models are."""
        if not data.startswith(_MAGIC):
            raise ValueError("not a kiln compiled model")
        return pickle.loads(zlib.decompress(memoryview(data)[len(_MAGIC) :]))  # noqa: S301
