"""What each recipe step does to data: fit on training rows, then transform any rows alike.

Each step spec in ``_spec`` has an ``Op`` here, in the module of its family, registered with
``@performs``. ``fit_apply`` runs at training (it may drop or resample rows, and target encoding
uses out-of-fold values there); ``apply`` runs at inference and never changes the number of rows.
Every Op is re-exported here: models stored before the split name them ``kiln.recipe._ops.X``.
"""

from kiln.recipe._ops._base import Context, Op, op_for, performs, pii_key
from kiln.recipe._ops._encoding import (
    FrequencyEncodeOp,
    HashEncodeOp,
    OneHotOp,
    OrdinalOp,
    TargetEncodeOp,
)
from kiln.recipe._ops._features import (
    CrossOp,
    DatetimePartsOp,
    PolynomialOp,
    ProductOp,
    RatioOp,
    TreeLeavesOp,
)
from kiln.recipe._ops._missing import (
    DropMissingColumnsOp,
    DropMissingRowsOp,
    ImputeOp,
    MissingIndicatorOp,
)
from kiln.recipe._ops._numeric import BinOp, ScaleOp, TransformOp
from kiln.recipe._ops._other import DropColumnsOp, FunctionOp, HashPiiOp, ResampleOp, pii_token
from kiln.recipe._ops._outliers import OutliersOp
from kiln.recipe._ops._selection import ReduceOp, SelectOp
from kiln.recipe._ops._text import (
    TEXT_STATS,
    LowercaseOp,
    OsbAnalyzer,
    RemovePunctuationOp,
    RemoveStopwordsOp,
    StemOp,
    TextStatsOp,
    VectorizeOp,
)

__all__ = [
    "TEXT_STATS",
    "BinOp",
    "Context",
    "CrossOp",
    "DatetimePartsOp",
    "DropColumnsOp",
    "DropMissingColumnsOp",
    "DropMissingRowsOp",
    "FrequencyEncodeOp",
    "FunctionOp",
    "HashEncodeOp",
    "HashPiiOp",
    "ImputeOp",
    "LowercaseOp",
    "MissingIndicatorOp",
    "OneHotOp",
    "Op",
    "OrdinalOp",
    "OsbAnalyzer",
    "OutliersOp",
    "PolynomialOp",
    "ProductOp",
    "RatioOp",
    "ReduceOp",
    "RemovePunctuationOp",
    "RemoveStopwordsOp",
    "ResampleOp",
    "ScaleOp",
    "SelectOp",
    "StemOp",
    "TextStatsOp",
    "TargetEncodeOp",
    "TransformOp",
    "TreeLeavesOp",
    "VectorizeOp",
    "op_for",
    "performs",
    "pii_key",
    "pii_token",
]
