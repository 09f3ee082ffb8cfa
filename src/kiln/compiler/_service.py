"""``compile_model``: compile, check parity, store and record; ``load_compiled`` for servers."""

from __future__ import annotations

import contextlib
import logging
import statistics
import time
from collections.abc import Callable
from typing import TYPE_CHECKING

from kiln.compiler._build import build
from kiln.compiler._forms import NATIVE, ONNX, TARGETS, CompiledModel
from kiln.compiler._parity import check, parity_rows, request_columns
from kiln.errors import ConfigError
from kiln.registry import library_versions
from kiln.store import now

if TYPE_CHECKING:
    from kiln.context import Context
    from kiln.registry import ModelVersion, TrainedModel

log = logging.getLogger("kiln.compiler")

# Libraries whose version a compiled form depends on: one that changed makes servers ignore it.
_PINNED = ("lightgbm", "xgboost-cpu", "scikit-learn", "numpy", "onnxruntime", "catboost")


def check_target(target: str) -> str:
    """``target`` checked and normalised."""
    target = str(target).strip().lower()
    if target not in TARGETS:
        raise ConfigError(
            f"Unknown compile target {target!r}. Use one of: {', '.join(TARGETS)}, or name none "
            "to try each and serve the fastest that passes parity.",
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
    """Compile model version ``ref``, check it against the pipeline (the parity gate) and
    record it on the version; the recorded form serves it from then on.

    ``target``: ``native`` or ``onnx``. Without one, every target that can compile the model is
    tried (``onnx`` only when ONNX Runtime is installed) and the fastest on one row among those
    that pass parity serves; the others that pass are kept in the record, not served.

    Returns the record of the serving form (``model_versions.compiled[target]`` plus
    ``target``): ``digest`` (the compiled artifact), ``parity`` (its figures), ``latency_ms``
    (one-row medians, pipeline and compiled), ``serving``, ``compiled_at``. Raises
    ``compile.unsupported`` for a model without a compiled form and ``compile.parity-failed``
    naming the member or column that broke; neither records anything.
    """
    say = on_log or (lambda _message: None)
    version = ctx.models.get(ref)
    model = ctx.models.load(version)
    model.set_threads(1)
    if target is not None:
        record = _compile_one(ctx, version, model, check_target(target), say)
        return _serve(ctx, version.ref, {record["target"]: record}, say)
    records: dict[str, dict] = {}
    error = None
    for candidate in _targets_available():
        try:
            record = _compile_one(ctx, version, model, candidate, say)
        except ConfigError as exc:  # unsupported or failed parity: another target may do
            say(f"--target {candidate}: not compiled ({exc.message})")
            error = error or exc
            continue
        records[candidate] = record
    if not records:
        raise error
    return _serve(ctx, version.ref, records, say)


def _targets_available() -> list[str]:
    """The targets the default tries: native always, onnx when its runtime is installed."""
    import importlib.util

    return [NATIVE] + ([ONNX] if importlib.util.find_spec("onnxruntime") is not None else [])


def _serve(ctx: Context, ref: str, records: dict[str, dict], say) -> dict:
    """Record ``records`` (by target), the fastest on one row marked serving and every other
    recorded form of the version not; one registry write per form."""
    fastest = min(records, key=lambda t: records[t]["latency_ms"]["compiled"])
    forms = dict(ctx.models.get(ref).compiled or {})
    forms.update(records)
    # The serving form is written last: its write gives the endpoints their new revision.
    for target, record in sorted(forms.items(), key=lambda item: item[0] == fastest):
        record = {k: v for k, v in record.items() if k != "target"} | {"serving": target == fastest}
        ctx.models.set_compiled(ref, target, record)
    say(f"{ref} serves its {fastest} form.")
    return forms[fastest] | {"target": fastest, "serving": True}


def _compile_one(ctx: Context, version, model, target: str, say) -> dict:
    """Build, check and store one target's form; the record (not yet in the registry)."""
    say(f"Compiling {version.ref} ({version.algorithm}) for --target {target}.")
    started = time.perf_counter()
    frame, source = parity_rows(ctx, version, model)
    rows = request_columns(frame, model.signature)
    compiled = build(model, ref=version.ref, algorithm=version.algorithm, target=target, rows=rows)
    compiled.set_threads(1)
    built = time.perf_counter() - started
    say(
        f"Built {sum(len(m.pipelines) for m in compiled.members)} compiled pipeline(s) "
        f"in {built:.2f} s; checking parity."
        + (
            f" Members kept native: {', '.join(compiled.native_members)}."
            if compiled.native_members
            else ""
        )
    )
    parity = check(model, compiled, frame, source)
    say(_parity_line(parity))
    latency = _one_row_latency(model, compiled, frame)
    say(
        f"One row ({target}): pipeline {latency['pipeline']:.3f} ms, compiled "
        f"{latency['compiled']:.3f} ms (medians)."
    )
    data = compiled.to_bytes()
    digest = ctx.artifacts.put_bytes(data)
    return {
        "target": target,
        "artifact": f"kiln-compiled ({len(data)} bytes)",
        "digest": digest,
        "parity": parity,
        "latency_ms": latency,
        "members": len(compiled.members),
        "native_members": compiled.native_members,
        "library_versions": _pinned_versions(),
        "compiled_at": now().isoformat(timespec="seconds"),
    }


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
    """The compiled form a server uses: the one marked serving (the latest such)."""
    forms = version.compiled or {}
    serving = [t for t in forms if forms[t].get("serving", True)]
    if not serving:
        return None
    return max(serving, key=lambda t: forms[t].get("compiled_at", ""))


def load_compiled(
    ctx: Context, version: ModelVersion, *, batch: bool = False
) -> CompiledModel | None:
    """The version's compiled form for serving (digest-checked), or None: not compiled, or
    compiled under other library versions (it would no longer be the form parity passed; the
    pipeline serves, and a warning says to compile again).

    ``batch`` (batch transform) prefers the ``native`` form when the version has one: the
    serving form is chosen on one row, and on 100,000-row chunks LightGBM's own multi-threaded
    predict outran ONNX Runtime's tree ensemble (docs/compile.md).
    """
    target = serving_target(version)
    if batch and NATIVE in (version.compiled or {}):
        target = NATIVE
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
    compiled = CompiledModel.from_bytes(data)
    compiled.digest = record["digest"]
    return compiled


def serving_digest(version: ModelVersion) -> str | None:
    """The digest of the compiled form servers use (None: the pipeline serves)."""
    target = serving_target(version)
    return version.compiled[target]["digest"] if target is not None else None
