"""Building a compiled form from a loaded model: the featurizer and the scorer of each pipeline.

The featurizer is the same in both targets: the fitted default recipe read into NumPy
(``kiln.recipe.RowEncoder``, the serving fast path). It is kiln's own rather than an ONNX graph
because its string handling (``5``, ``5.0`` and ``"5"`` are one category; any JSON value is a
category's text) has no exact ONNX spelling, and a NumPy lookup is as fast as a session call on
small batches. The targets differ in the estimator: ``native`` calls the booster's own predict
(LightGBM's Booster) or the estimator itself on the encoded matrix; ``onnx`` converts it with
skl2onnx / onnxmltools (CatBoost: its own exporter) and runs it in ONNX Runtime.
"""

from __future__ import annotations

import numpy as np

from kiln.compiler._forms import (
    NATIVE,
    ONNX,
    CompiledMember,
    CompiledModel,
    CompiledPipeline,
    EstimatorScorer,
    LightGBMScorer,
    OnnxScorer,
    Scorer,
)
from kiln.errors import ConfigError
from kiln.recipe import RowEncoder, finish_signature, probe_rows
from kiln.registry import TrainedModel

SUPERVISED = ("binary", "multiclass", "regression")
# The algorithms each target can compile, by kiln's algorithm name (what `kiln models show`
# says); an AutoML ensemble compiles when each member's algorithm is in the list.
# hist_gradient_boosting is not: skl2onnx 1.20's converter for it fails on current onnx releases
# (it writes a boolean into an integer attribute), so it compiles for the native target only.
ONNX_ALGORITHMS = (
    "linear",
    "random_forest",
    "extra_trees",
    "decision_tree",
    "lightgbm",
    "xgboost",
    "catboost",
)


class CompileError(ConfigError):
    """A model version that cannot be compiled for a target (it keeps serving its pipeline)."""


def members_of(model: TrainedModel) -> list[tuple[str, float, list]] | None:
    """An AutoML ensemble's members as ``(name, weight, fold pipelines)``; None for a plain
    model. Duck-typed on ``members``/``weights``: kiln.automl is a layer above this one."""
    estimator = model.pipeline[-1]
    if not (hasattr(estimator, "members") and hasattr(estimator, "weights")):
        return None
    return [
        (member.name, float(weight), list(member.pipelines))
        for member, weight in zip(estimator.members, estimator.weights, strict=True)
    ]


def algorithm_of(estimator) -> str:
    """kiln's name for the algorithm of a fitted estimator (for messages and the ONNX table)."""
    module, name = type(estimator).__module__, type(estimator).__name__
    if module.startswith("lightgbm"):
        return "lightgbm"
    if module.startswith("xgboost"):
        return "xgboost"
    if module.startswith("catboost"):
        return "catboost"
    table = {
        "LogisticRegression": "linear",
        "LinearRegression": "linear",
        "Ridge": "linear",
        "ElasticNet": "linear",
        "Lasso": "linear",
        "RandomForestClassifier": "random_forest",
        "RandomForestRegressor": "random_forest",
        "ExtraTreesClassifier": "extra_trees",
        "ExtraTreesRegressor": "extra_trees",
        "DecisionTreeClassifier": "decision_tree",
        "DecisionTreeRegressor": "decision_tree",
        "HistGradientBoostingClassifier": "hist_gradient_boosting",
        "HistGradientBoostingRegressor": "hist_gradient_boosting",
    }
    return table.get(name, f"{module}.{name}")


class RecipeEncoder:
    """A recipe of element-wise numeric transforms (AutoML's ``power`` recipe: Yeo-Johnson on
    the numeric columns) followed by the default recipe, as NumPy: each transform's own
    ``apply_numbers`` on the request's columns, then the default recipe's RowEncoder."""

    def __init__(self, transforms: list, finish: RowEncoder):
        self.transforms = transforms
        self.finish = finish

    def encode(self, columns: dict[str, np.ndarray]) -> np.ndarray:
        columns = dict(columns)
        for op in self.transforms:
            X = np.column_stack([np.asarray(columns[c], dtype=float) for c in op.columns])
            out = op.apply_numbers(X)
            for j, c in enumerate(op.columns):
                columns[c] = out[:, j]
        return self.finish.encode(columns)


def featurizer(preprocessor, signature: dict) -> RowEncoder | RecipeEncoder | None:
    """The fitted recipe as NumPy, or None when it does more than this covers: the default
    recipe, optionally after numeric transforms (no text, dates, or other steps)."""
    if not hasattr(preprocessor, "ops_"):
        return RowEncoder.compile(preprocessor, probe_rows(signature, preprocessor))
    # A recipe with steps (kiln.recipe's RecipeTransformer): duck-typed on its fitted state.
    if preprocessor.blocks_ or preprocessor.finish_ is None:
        return None
    if not all(hasattr(op, "apply_numbers") for op in preprocessor.ops_):
        return None
    finish = getattr(preprocessor, "fast_finish_", None)
    if finish is None:
        default = preprocessor.finish_
        finish = RowEncoder.compile(default, probe_rows(finish_signature(default), default))
    if finish is None:
        return None
    return RecipeEncoder(list(preprocessor.ops_), finish) if preprocessor.ops_ else finish


def _no_form(ref: str, what: str, target: str, why: str) -> CompileError:
    return CompileError(
        f"Model {ref} cannot be compiled for --target {target}: {what} {why}. It keeps serving "
        "through its pipeline (nothing changed)"
        + ("; try '--target native'." if target == ONNX and "no ONNX converter" in why else "."),
        code="compile.unsupported",
    )


def build(
    model: TrainedModel,
    *,
    ref: str,
    algorithm: str,
    target: str,
    rows: dict[str, np.ndarray] | None = None,
) -> CompiledModel:
    """The compiled form of ``model`` for ``target`` (not yet checked for parity).

    An ensemble's ``onnx`` form converts each member the converters cover and get right on
    ``rows`` (request columns: the parity rows); a member they do not cover, or get wrong, keeps
    its native scorer (listed in ``native_members``), so one member never costs the others
    their ONNX form. A plain model has no such fallback: ``onnx`` is ONNX or an error.
    """
    if model.problem_type not in SUPERVISED:
        raise _no_form(
            ref,
            f"its algorithm {algorithm!r}",
            target,
            f"is a {model.problem_type} model, and only classification and regression models "
            "have a compiled form",
        )
    classifier = model.is_classifier
    n_classes = len(model.classes or [])
    members = members_of(model)
    ensemble = members is not None
    if members is None:
        members = [(algorithm, 1.0, [model.pipeline])]
    compiled = []
    # One encoder per fitted recipe object: AutoML stores identical recipes once, and the
    # compiled form then encodes the rows once for all the pipelines that share it.
    encoders: dict[int, object] = {}
    native_members: list[str] = []
    for name, weight, pipelines in members:
        what = f"ensemble member {name!r}" if ensemble else f"its algorithm {algorithm!r}"
        parts = []
        for pipeline in pipelines:
            key = id(pipeline[0])
            if key not in encoders:
                encoders[key] = featurizer(pipeline[0], model.signature)
            encoder = encoders[key]
            if encoder is None:
                raise _no_form(
                    ref,
                    f"the recipe of {what}",
                    target,
                    "has steps beyond numeric transforms (text, dates, encodings or other "
                    "steps have no compiled form)",
                )
            estimator = pipeline[-1]
            if ensemble and target == ONNX and rows is not None:
                scorer = _member_scorer(estimator, model, encoder.encode(rows), ref, what)
                if not isinstance(scorer, OnnxScorer) and name not in native_members:
                    native_members.append(name)
            else:
                scorer = _scorer(
                    estimator, model, target=target, ref=ref, what=what, width=_width(encoder)
                )
            seen = [int(c) for c in estimator.classes_] if classifier else None
            parts.append(CompiledPipeline(encoder, scorer, seen))
        compiled.append(CompiledMember(name, weight, parts))
    return CompiledModel(
        target=target,
        ref=ref,
        problem_type=model.problem_type,
        n_classes=n_classes if classifier else 0,
        members=compiled,
        ensemble=ensemble,
        columns=list(model.input_columns),
        native_members=native_members,
        calibration=getattr(model.pipeline[-1], "calibration", None) if ensemble else None,
    )


def _member_scorer(estimator, model: TrainedModel, X: np.ndarray, ref: str, what: str) -> Scorer:
    """An ensemble member's ONNX scorer when it converts and matches its own estimator on the
    encoded rows ``X`` (well inside the parity tolerance), else its native scorer."""
    native = _scorer(estimator, model, target=NATIVE, ref=ref, what=what, width=X.shape[1])
    try:
        onnx = _scorer(estimator, model, target=ONNX, ref=ref, what=what, width=X.shape[1])
        difference = np.abs(onnx.score(X) - native.score(X))
    except ConfigError as exc:
        if exc.code == "compile.not-installed":
            raise
        return native
    except Exception:  # a graph the runtime cannot run on these rows
        return native
    scale = 1.0 if model.is_classifier else np.maximum(np.abs(native.score(X)), 1.0)
    return onnx if float(np.max(difference / scale)) <= 1e-6 else native


def _width(encoder: RowEncoder | RecipeEncoder) -> int:
    """The number of features the encoder writes (the estimator's input width)."""
    encoder = getattr(encoder, "finish", encoder)
    width = 0
    for block in encoder.order:
        if block == "numeric":
            width += len(encoder.numeric) + len(encoder.indicated)
        else:
            width += encoder.width
    return width


def _scorer(
    estimator, model: TrainedModel, *, target: str, ref: str, what: str, width: int
) -> Scorer:
    classifier = model.is_classifier
    if target == NATIVE:
        if type(estimator).__module__.startswith("lightgbm"):
            kind = "regression" if not classifier else "binary"
            if classifier and len(estimator.classes_) > 2:
                kind = "multiclass"
            return LightGBMScorer(estimator.booster_, kind=kind, iteration=None)
        return EstimatorScorer(estimator, classifier=classifier)
    family = algorithm_of(estimator)
    if family not in ONNX_ALGORITHMS:
        raise _no_form(
            ref,
            what + (f" ({family})" if family not in what else ""),
            target,
            "has no ONNX converter (ONNX covers " + ", ".join(ONNX_ALGORITHMS) + ")",
        )
    graph, input_type = to_onnx(estimator, family, width=width, classifier=classifier)
    return OnnxScorer(graph, classifier=classifier, input_type=input_type)


def to_onnx(estimator, family: str, *, width: int, classifier: bool) -> tuple[bytes, str]:
    """The estimator's ONNX graph and the input type it takes ("double" or "float")."""
    try:
        import onnx  # noqa: F401
        import skl2onnx
        from skl2onnx.common.data_types import DoubleTensorType
    except ImportError:
        raise ConfigError(
            "ONNX compilation needs ONNX Runtime and its converters: pip install 'kiln[compile]' "
            "(or compile with '--target native', which needs nothing more).",
            code="compile.not-installed",
        ) from None
    options = {"zipmap": False} if classifier else {}
    if family in ("lightgbm", "xgboost"):
        # onnxmltools' own tensor types (its converters refuse skl2onnx's); single precision:
        # its tree ensembles have no double form.
        from onnxmltools import convert_lightgbm, convert_xgboost
        from onnxmltools.convert.common.data_types import FloatTensorType as MLFloatTensorType

        inputs = [("X", MLFloatTensorType([None, width]))]
        if family == "lightgbm":
            graph = convert_lightgbm(estimator, initial_types=inputs, zipmap=False)
        else:
            graph = convert_xgboost(estimator, initial_types=inputs)
        return graph.SerializeToString(), "float"
    if family == "catboost":
        return _catboost_onnx(estimator), "float"
    graph = skl2onnx.convert_sklearn(
        estimator,
        initial_types=[("X", DoubleTensorType([None, width]))],
        options={id(estimator): options} if options else None,
    )
    return graph.SerializeToString(), "double"


def _catboost_onnx(estimator) -> bytes:
    import os
    import tempfile

    # CatBoost converts with its own exporter, to a file only.
    with tempfile.TemporaryDirectory() as folder:
        path = os.path.join(folder, "model.onnx")
        estimator.save_model(path, format="onnx")
        with open(path, "rb") as file:
            return file.read()
