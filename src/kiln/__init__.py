"""kiln: a self-hosted ML platform.

The public API::

    kiln.Workspace      the entry point: ws.data, ws.jobs, ws.models, ws.endpoints,
                        ws.train(), ws.tune(), ws.automl(), ws.transform()
    kiln.AutoML         AutoML from a notebook: fit(), predict(), predict_proba(),
                        leaderboard()
    kiln.load_model()   a model file written by 'kiln models export' (a pickle: trusted files only)
    kiln.errors         the exception tree (kiln.KilnError is its root)
"""

from __future__ import annotations

import os
from typing import TYPE_CHECKING

# scikit-learn's and LightGBM's OpenMP runtimes spin idle threads that fight for the cores; this
# must be set before either library loads.
os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")

__version__ = "0.1.0"
__all__ = ["AutoML", "KilnError", "Workspace", "__version__", "load_model"]

if TYPE_CHECKING:
    from kiln.automl import AutoML
    from kiln.errors import KilnError
    from kiln.workspace import Workspace


def __getattr__(name: str):
    # Lazy, so `import kiln` (and every CLI command) stays fast.
    if name == "Workspace":
        from kiln.workspace import Workspace

        return Workspace
    if name == "AutoML":
        from kiln.automl import AutoML

        return AutoML
    if name == "load_model":
        from kiln.registry import load_model

        return load_model
    if name == "KilnError":
        from kiln.errors import KilnError

        return KilnError
    raise AttributeError(f"module 'kiln' has no attribute {name!r}")
