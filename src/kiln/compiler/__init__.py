"""Compiled forms of model versions (``kiln compile``): the recipe and the estimator as NumPy
and the booster's own predict (``native``) or ONNX Runtime (``onnx``), gated by parity with the
pipeline; see docs/compile.md."""

from kiln.compiler._build import ONNX_ALGORITHMS, CompileError
from kiln.compiler._forms import NATIVE, ONNX, TARGETS, CompiledModel
from kiln.compiler._parity import (
    PROBABILITY_TOLERANCE,
    RELATIVE_TOLERANCE,
    request_columns,
)
from kiln.compiler._service import (
    check_target,
    compile_model,
    load_compiled,
    serving_digest,
    serving_target,
)

__all__ = [
    "NATIVE",
    "ONNX",
    "ONNX_ALGORITHMS",
    "PROBABILITY_TOLERANCE",
    "RELATIVE_TOLERANCE",
    "TARGETS",
    "CompileError",
    "CompiledModel",
    "check_target",
    "compile_model",
    "load_compiled",
    "request_columns",
    "serving_digest",
    "serving_target",
]
