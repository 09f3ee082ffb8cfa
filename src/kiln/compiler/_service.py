"""``compile_model``: compile, check parity, store and record; ``load_compiled`` for servers."""

from __future__ import annotations

import contextlib
import logging
import statistics
import time
from collections.abc import Callable
from typing import TYPE_CHECKING

from kiln.compiler._build import build
from kiln.compiler._forms import NATIVE, TARGETS, CompiledModel
from kiln.compiler._parity import check, parity_rows, request_columns
from kiln.errors import ConfigError
from kiln.registry import library_versions
from kiln.store import now

if TYPE_CHECKING:
    from kiln.context import Context
    from kiln.registry import ModelVersion, TrainedModel

log = logging.getLogger("kiln.compiler")

# The target when none is named: the fastest that passes parity on kiln's models
# (docs/compile.md has the figures).
DEFAULT_TARGET = NATIVE
# Libraries whose version a compiled form depends on: one that changed makes servers ignore it.
_PINNED = ("lightgbm", "xgboost-cpu", "scikit-learn", "numpy", "onnxruntime", "catboost")


def check_target(target: str | None) -> str:
    """``target`` checked (the default when None)."""
    target = DEFAULT_TARGET if target is None else str(target).strip().lower()
    if target not in TARGETS:
        raise ConfigError(
            f"Unknown compile target {target!r}. Use one of: {', '.join(TARGETS)} (default "
            f"{DEFAULT_TARGET}).",
            code="compile.bad-target",
        )
    return target


def compile_model(
    ctx: Context,
    ref: str,
    target: str | None = None,
    *,
    on_log: Callable[[str], None] | None = None,
) -> dict:
    """Compile model version ``ref`` for ``target`` (``native`` or ``onnx``), check it against
    the pipeline (the parity gate) and record it on the version.

    Returns the record stored in ``model_versions.compiled[target]``: ``digest`` (the compiled
    artifact), ``parity`` (its figures), ``latency_ms`` (one-row medians, pipeline and compiled),
    ``compiled_at``. Raises ``compile.unsupported`` for a model without a compiled form and
    ``compile.parity-failed`` naming the member or column that broke; neither changes anything.
    """
    say = on_log or (lambda _message: None)
    target = check_target(target)
    version = ctx.models.get(ref)
    model = ctx.models.load(version)
    model.set_threads(1)
    say(f"Compiling {version.ref} ({version.algorithm}) for --target {target}.")
    started = time.perf_counter()
    compiled = build(model, ref=version.ref, algorithm=version.algorithm, target=target)
    compiled.set_threads(1)
    built = time.perf_counter() - started
    say(
        f"Built {sum(len(m.pipelines) for m in compiled.members)} compiled pipeline(s) "
        f"in {built:.2f} s; checking parity."
    )
    frame, source = parity_rows(ctx, version, model)
    parity = check(model, compiled, frame, source)
    say(_parity_line(parity))
    latency = _one_row_latency(model, compiled, frame)
    say(
        f"One row: pipeline {latency['pipeline']:.3f} ms, compiled {latency['compiled']:.3f} ms "
        "(medians)."
    )
    data = compiled.to_bytes()
    digest = ctx.artifacts.put_bytes(data)
    versions = _pinned_versions()
    record = {
        "artifact": f"kiln-compiled ({len(data)} bytes)",
        "digest": digest,
        "parity": parity,
        "latency_ms": latency,
        "members": len(compiled.members),
        "library_versions": versions,
        "compiled_at": now().isoformat(timespec="seconds"),
    }
    ctx.models.set_compiled(version.ref, target, record)
    say(f"Recorded the {target} form of {version.ref} (artifact {digest[:12]}).")
    return record


def _pinned_versions() -> dict[str, str]:
    """The installed versions of the libraries a compiled form depends on."""
    from importlib import metadata

    versions = library_versions()
    for package in ("onnxruntime", "catboost"):
        with contextlib.suppress(metadata.PackageNotFoundError):
            versions[package] = metadata.version(package)
    return {k: v for k, v in versions.items() if k in _PINNED}


def _parity_line(parity: dict) -> str:
    if "max_abs_diff" in parity:
        figure = f"max |Δp| {parity['max_abs_diff']:.2e}, labels identical"
    else:
        figure = f"max relative difference {parity['max_rel_diff']:.2e}"
    return f"Parity passed on {parity['rows_from']}: {figure}."


def _one_row_latency(model: TrainedModel, compiled: CompiledModel, frame, calls: int = 9) -> dict:
    """Medians of one-row scoring, the pipeline's and the compiled form's (for the record)."""
    row = frame.iloc[:1]
    columns = request_columns(row, model.signature)
    score = model.predict_proba if model.is_classifier else model.predict_values

    def median_ms(call) -> float:
        times = []
        for _ in range(calls):
            started = time.perf_counter()
            call()
            times.append(time.perf_counter() - started)
        return round(statistics.median(times) * 1000, 4)

    return {
        "pipeline": median_ms(lambda: score(row)),
        "compiled": median_ms(lambda: compiled.score(columns)),
    }


def serving_target(version: ModelVersion) -> str | None:
    """The compiled form a server uses: the most recently compiled one."""
    forms = version.compiled or {}
    if not forms:
        return None
    return max(forms, key=lambda t: forms[t].get("compiled_at", ""))


def load_compiled(ctx: Context, version: ModelVersion) -> CompiledModel | None:
    """The version's compiled form for serving (digest-checked), or None: not compiled, or
    compiled under other library versions (it would no longer be the form parity passed; the
    pipeline serves, and a warning says to compile again)."""
    target = serving_target(version)
    if target is None:
        return None
    record = version.compiled[target]
    current = _pinned_versions()
    changed = {
        name: (old, current.get(name))
        for name, old in (record.get("library_versions") or {}).items()
        if current.get(name) != old
    }
    if changed:
        described = ", ".join(f"{n} {old} → {new}" for n, (old, new) in changed.items())
        log.warning(
            "Model %s: its %s form was compiled under other library versions (%s); serving the "
            "pipeline. Compile again with 'kiln compile %s --target %s'.",
            version.ref,
            target,
            described,
            version.ref,
            target,
        )
        return None
    data = ctx.artifacts.read_bytes(record["digest"], what=f"compiled ({target}) {version.ref}")
    return CompiledModel.from_bytes(data)
