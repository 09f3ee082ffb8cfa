"""``kiln endpoints``: what each endpoint serves, its variants, history and traffic."""

from __future__ import annotations

from pathlib import Path

import typer

from kiln.cli._common import App, JsonOption, console, fields, print_json, table, workspace

app = App(help="Deployed endpoints.", no_args_is_help=True)


@app.command("list")
def endpoints_list(ctx: typer.Context, as_json: bool = JsonOption) -> None:
    """List endpoints and the model each serves."""
    endpoints = workspace(ctx).endpoints.list()
    if as_json:
        print_json([e.to_dict() for e in endpoints])
        return
    table(
        "Endpoints",
        ["endpoint", "model", "variants", "revision", "deployment", "updated"],
        [
            [
                e.name,
                _served(e),
                ", ".join(f"{name} {share:.0%}" for name, share in e.shares.items())
                + "".join(f", {v['name']} shadow" for v in e.variants if v.get("role") == "shadow"),
                e.revision,
                e.active_deployment or "",
                f"{e.updated_at:%Y-%m-%d %H:%M:%S}",
            ]
            for e in endpoints
        ],
    )


@app.command("show")
def endpoints_show(
    ctx: typer.Context,
    name: str = typer.Argument(...),
    window: str = typer.Option("5m", "--window", help="Metrics over this last period."),
    as_json: bool = JsonOption,
) -> None:
    """Show an endpoint: its variants and traffic, their metrics, health and recent history."""
    from rich.markup import escape

    from kiln.endpoints import parse_duration

    service = workspace(ctx).endpoints
    service.reconcile(name)
    endpoint = service.get(name)
    seconds = parse_duration(window, what="--window")
    metrics = service.metrics(name, seconds=seconds)
    history = service.history(name)
    health = service.health(name)
    if as_json:
        print_json(
            endpoint.to_dict()
            | {"health": health, "metrics": {"window_seconds": seconds, "variants": metrics}}
            | {"history": history}
        )
        return
    status = health["status"]
    if status != "ready":
        status = f"[red]{status}[/]: {escape(health['reason'])}"
    fields(
        f"Endpoint {endpoint.name}",
        {
            "id": endpoint.id,
            "status": status,
            "revision": endpoint.revision,
            "deployment": f"job {endpoint.active_deployment} in progress"
            if endpoint.active_deployment
            else "none in progress",
            "capture": _capture_text(endpoint.capture),
            "created": f"{endpoint.created_at:%Y-%m-%d %H:%M:%S} by {endpoint.created_by}",
            "invoke": f"POST /endpoints/{endpoint.name}/invocations",
        }
        | _multi_model_fields(endpoint)
        | _scaling_fields(endpoint.config)
        | _features_fields(endpoint.config)
        | _review_fields(endpoint.config),
    )
    shares = endpoint.shares
    if endpoint.variants:  # a multi-model endpoint has none
        _variants_table(endpoint.variants, shares)
    _metrics_table(f"Traffic, last {window}", metrics)
    _history_table(history[-5:], title="Recent deployments (all: kiln endpoints history)")


def _variants_table(variants: list[dict], shares: dict[str, float]) -> None:
    table(
        "Variants",
        ["variant", "model", "role", "weight", "traffic", "approval"],
        [
            [
                v["name"],
                v["model"],
                v.get("role", "live"),
                v.get("weight", ""),
                f"{shares[v['name']]:.0%}"
                if v["name"] in shares
                else f"copy of {v.get('sample', 1.0):.0%}",
                v.get("approval_status", ""),
            ]
            for v in variants
        ],
    )


def _metrics_table(title: str, metrics: dict[str, dict]) -> None:
    if not metrics:
        console.print(f"{title}: no requests recorded.")
        return
    table(
        title,
        ["variant", "models", "requests", "4xx", "5xx", "p50 ms", "p99 ms", "overhead p99 ms"],
        [
            [
                variant,
                ", ".join(m["models"]),
                m["invocations"],
                m["errors_4xx"],
                m["errors_5xx"],
                m["latency_ms"]["model"]["p50"],
                m["latency_ms"]["model"]["p99"],
                m["latency_ms"]["overhead"]["p99"],
            ]
            for variant, m in metrics.items()
        ],
    )


def _history_table(history: list[dict], *, title: str) -> None:
    table(
        title,
        ["revision", "variants", "strategy", "outcome", "when", "by", "why"],
        [
            [
                h["revision"],
                ", ".join(
                    f"{v['name']}={v['model']}"
                    + (f"@{v['weight']:g}" if v.get("role", "live") == "live" else " shadow")
                    for v in h["variants"]
                ),
                h.get("strategy") or "",
                h.get("outcome") or "",
                h["created_at"],
                h["created_by"],
                h["note"] or "",
            ]
            for h in history
        ],
    )


@app.command("history")
def endpoints_history(
    ctx: typer.Context, name: str = typer.Argument(...), as_json: bool = JsonOption
) -> None:
    """Every revision: variants, strategy, who, when, why and the outcome."""
    history = workspace(ctx).endpoints.history(name)
    if as_json:
        print_json(history)
        return
    _history_table(history, title=f"Deployments of {name}")


@app.command("update")
def endpoints_update(
    ctx: typer.Context,
    name: str = typer.Argument(...),
    weights: str = typer.Option(
        None, "--weights", help="NAME=WEIGHT,... e.g. blue=0.9,green=0.1 (others keep theirs)."
    ),
    remove: list[str] = typer.Option(None, "--remove", help="Remove this variant (repeatable)."),
    as_json: bool = JsonOption,
) -> None:
    """Re-weight or remove variants of an endpoint, as one new revision."""
    endpoint = workspace(ctx).endpoints.update(name, weights=weights, remove=remove)
    if as_json:
        print_json(endpoint.to_dict())
        return
    shares = ", ".join(f"{k} {v:.0%}" for k, v in endpoint.shares.items())
    console.print(f"Endpoint [bold]{name}[/] revision {endpoint.revision}: {shares}.")


@app.command("rollback")
def endpoints_rollback(
    ctx: typer.Context,
    name: str = typer.Argument(...),
    to: int = typer.Option(None, "--to", help="The revision to return to (default: previous)."),
    as_json: bool = JsonOption,
) -> None:
    """Serve an earlier revision's variants again (as a new revision)."""
    endpoint = workspace(ctx).endpoints.rollback(name, to=to)
    if as_json:
        print_json(endpoint.to_dict())
        return
    served = ", ".join(f"{v['name']}={v['model']}" for v in endpoint.variants)
    console.print(f"Endpoint [bold]{name}[/] revision {endpoint.revision} serves {served}.")


@app.command("promote")
def endpoints_promote(
    ctx: typer.Context,
    name: str = typer.Argument(...),
    shadow: str = typer.Argument(..., help="The shadow variant to make live."),
    strategy: str = typer.Option(
        None, "--strategy", help="Shift traffic to it in steps (canary:10%:5m, ...)."
    ),
    alarm: list[str] = typer.Option(None, "--alarm", help="Alarms for --strategy."),
    as_json: bool = JsonOption,
) -> None:
    """Make the shadow variant live: at once, or with a deployment strategy."""
    from kiln.cli._common import job_progress
    from kiln.endpoints import Endpoint

    with job_progress(f"Promoting {shadow}", quiet=as_json or not strategy) as log:
        result = workspace(ctx).endpoints.promote(
            name, shadow, strategy=strategy, alarms=alarm or None, on_log=log
        )
    if as_json:
        print_json(result.to_dict() if isinstance(result, Endpoint) else result.result)
        return
    console.print(f"Endpoint [bold]{name}[/]: {shadow} is live.")


@app.command("compare")
def endpoints_compare(
    ctx: typer.Context,
    name: str = typer.Argument(...),
    window: str = typer.Option(None, "--window", help="Only the last period (default: all)."),
    as_json: bool = JsonOption,
) -> None:
    """Compare an endpoint's variants: traffic, errors, latency and predictions."""
    from kiln.endpoints import parse_duration

    seconds = parse_duration(window, what="--window") if window else None
    compared = workspace(ctx).endpoints.compare(name, seconds=seconds)
    if as_json:
        print_json(compared)
        return
    metrics = compared["variants"]
    _metrics_table(f"Variants of {name}" + (f", last {window}" if window else ""), metrics)
    for variant, m in metrics.items():
        predictions = m["predictions"]
        if "labels" in predictions:
            shown = ", ".join(
                f"{label} {p['share']:.1%}" for label, p in list(predictions["labels"].items())[:6]
            )
        elif predictions:
            shown = f"mean {predictions['mean']:.4g}, sd {predictions['std']:.4g}"
        else:
            shown = "none"
        console.print(f"{variant}: predictions {shown}")
        if "shadow_comparison" in m:
            c = m["shadow_comparison"]
            console.print(
                f"{variant} (shadow): {c['compared']} compared, agreement "
                f"{(c['agreement_rate'] or 0):.1%}, {c['shadow_errors']} errors"
            )
    quality = compared["quality"]
    if not quality["variants"]:
        console.print(
            "Model quality: no ground truth yet (upload it with 'kiln endpoints ground-truth "
            f"{name} FILE'; it joins captured predictions, see 'kiln endpoints capture')."
        )
        return
    metric = quality["metric"]
    table(
        f"Model quality on labelled traffic ({metric})",
        ["variant", "labelled rows", metric],
        [[v, q["labelled_rows"], q.get(metric)] for v, q in quality["variants"].items()],
    )
    for d in quality["differences"]:
        low, high = d["ci95"]
        verdict = "a real difference" if d["significant"] else "not distinguishable from 0"
        console.print(
            f"{d['variant']} − {d['against']}: {metric} {d['difference']:+.4f} "
            f"(95% CI {low:+.4f} to {high:+.4f}; {verdict})"
        )


@app.command("shadow-report")
def endpoints_shadow_report(
    ctx: typer.Context,
    name: str = typer.Argument(...),
    out: Path = typer.Option(Path("shadow-report.html"), "--out", help="The HTML file to write."),
    window: str = typer.Option(None, "--window", help="Only the last period (default: all)."),
) -> None:
    """Write the HTML report of an endpoint's shadow test."""
    from kiln.endpoints import parse_duration

    seconds = parse_duration(window, what="--window") if window else None
    path = workspace(ctx).endpoints.shadow_report(name, out=out, seconds=seconds)
    console.print(f"Wrote {path}")


@app.command("delete")
def endpoints_delete(
    ctx: typer.Context,
    name: str = typer.Argument(...),
    yes: bool = typer.Option(False, "--yes", help="Do not ask for confirmation."),
    as_json: bool = JsonOption,
) -> None:
    """Delete an endpoint and its history; a running server stops serving it within a second."""
    service = workspace(ctx).endpoints
    endpoint = service.get(name)
    if not yes:
        typer.confirm(
            f"Delete endpoint {endpoint.name} (serving {_served(endpoint)}) and its history?",
            abort=True,
        )
    service.delete(name)
    if as_json:
        print_json(endpoint.to_dict() | {"deleted": True})
        return
    kept = "its models stay" if endpoint.multi_model else f"model {endpoint.model} stays"
    console.print(f"Deleted endpoint [bold]{endpoint.name}[/]; {kept}.")


# -- data capture and ground truth -----------------------------------------------------------------
def _capture_text(capture: dict) -> str:
    return f"{capture['percent']:g}% ({capture['format']})" if capture else "off"


@app.command("capture")
def endpoints_capture(
    ctx: typer.Context,
    name: str = typer.Argument(...),
    percent: float = typer.Option(
        100.0, "--percent", help="Share of invocations captured, 0 (off) to 100."
    ),
    format: str = typer.Option("jsonl", "--format", help="jsonl or parquet."),
    as_json: bool = JsonOption,
) -> None:
    """Capture a share of an endpoint's requests and answers (--percent 0: off)."""
    endpoint = workspace(ctx).endpoints.set_capture(name, percent, format=format)
    if as_json:
        print_json(endpoint.to_dict())
        return
    console.print(f"Endpoint [bold]{endpoint.name}[/] capture: {_capture_text(endpoint.capture)}.")


@app.command("features")
def endpoints_features(
    ctx: typer.Context,
    name: str = typer.Argument(...),
    features: list[str] = typer.Argument(None, help="GROUP:f1,f2 (one or more)."),
    off: bool = typer.Option(False, "--off", help="Stop enriching requests."),
    as_json: bool = JsonOption,
) -> None:
    """Fill each request's rows from online feature groups by record id (--off: stop)."""
    from kiln.errors import ConfigError

    if off == bool(features):
        raise ConfigError(
            "Name the features (GROUP:f1,f2) or give --off, one of the two.",
            code="feature.no-features",
        )
    endpoint = workspace(ctx).endpoints.set_features(name, None if off else features)
    if as_json:
        print_json(endpoint.to_dict())
        return
    text = _features_fields(endpoint.config).get("features", "off")
    console.print(f"Endpoint [bold]{endpoint.name}[/] features: {text}.")


def _features_fields(config: dict) -> dict:
    """The feature groups that fill the endpoint's requests, when it has some."""
    if not config.get("features"):
        return {}
    groups = config["features"]["groups"]
    return {
        "features": "; ".join(
            f"{g['group']}:{','.join(g['features'])} by {g['record_id']}" for g in groups
        )
    }


@app.command("ground-truth")
def endpoints_ground_truth(
    ctx: typer.Context,
    name: str = typer.Argument(...),
    file: str = typer.Argument(
        ..., help="CSV or JSON-lines file with the columns inference_id and label."
    ),
    as_json: bool = JsonOption,
) -> None:
    """Upload true labels of captured predictions, by inference id (latest upload wins)."""
    counts = workspace(ctx).endpoints.ground_truth(name, file)
    if as_json:
        print_json(counts)
        return
    console.print(
        f"Stored {counts['stored']} label(s) of {counts['received']} row(s) for endpoint "
        f"[bold]{name}[/]."
    )
    if counts["unknown_ids"]:
        console.print(
            f"[yellow]{counts['unknown_ids']} inference id(s) are not in the capture (yet)[/], "
            f"e.g. {', '.join(counts['examples_of_unknown'])}: stored, and joined if they appear."
        )


@app.command("actuals")
def endpoints_actuals(
    ctx: typer.Context,
    name: str = typer.Argument(...),
    file: str = typer.Argument(
        ..., help="CSV, Parquet or JSON-lines rows of the model's id columns, timestamp, target."
    ),
    as_json: bool = JsonOption,
) -> None:
    """Upload actual values of a forecasting endpoint's series (what forecasts are scored on)."""
    counts = workspace(ctx).monitoring.upload_actuals(name, file)
    if as_json:
        print_json(counts)
        return
    console.print(
        f"Stored {counts['stored']} actual value(s) of {counts['series']} series "
        f"({counts['first']} to {counts['last']}) for endpoint [bold]{name}[/]."
    )


@app.command("capture-ingest")
def endpoints_capture_ingest(
    ctx: typer.Context,
    name: str = typer.Argument(...),
    dataset: str = typer.Option(..., "--name", help="The data set to add a version to."),
    since: str = typer.Option(
        None, "--since", help="Only what was captured since: 2026-12-01, 2026-12-01T08:00, 24h, 7d."
    ),
    unlabelled: bool = typer.Option(
        False, "--unlabelled", help="Keep rows without ground truth too (target missing)."
    ),
    as_json: bool = JsonOption,
) -> None:
    """Make a data set version of an endpoint's labelled capture, for retraining.

    Its input columns and the ground-truth label, named as the model's target."""
    version = workspace(ctx).endpoints.ingest_capture(
        name, dataset=dataset, since=since, unlabelled=unlabelled
    )
    if as_json:
        print_json(version.to_dict())
        return
    console.print(
        f"Ingested [bold]{version.ref}[/]: {version.row_count} row(s), "
        f"{version.column_count} column(s), from endpoint {name}'s capture."
    )


@app.command("human-review")
def endpoints_human_review(
    ctx: typer.Context,
    name: str = typer.Argument(...),
    when: str = typer.Option(
        None, "--when", help="Which predictions go to review: 'confidence < 0.6' (<, <=, >, >=)."
    ),
    sample: str = typer.Option(
        None, "--sample", help="Also a random share of all predictions, e.g. 1%."
    ),
    annotators_per_item: int = typer.Option(
        1, "--annotators-per-item", help="Reviewers per prediction (a majority decides)."
    ),
    job: str = typer.Option(None, "--job", help="The review job's name (default ENDPOINT-review)."),
    off: bool = typer.Option(False, "--off", help="Send no more predictions (the job stays)."),
    as_json: bool = JsonOption,
) -> None:
    """Send an endpoint's low-confidence predictions to human review (--off: stop)."""
    ws = workspace(ctx)
    if off:
        endpoint = ws.labeling.stop_review(name, when=when, sample=sample)
        if as_json:
            print_json(endpoint.to_dict())
            return
        console.print(f"Endpoint [bold]{name}[/] sends no more predictions to human review.")
        return
    review = ws.labeling.start_review(
        name, when=when, sample=sample, annotators_per_item=annotators_per_item, job=job
    )
    setting = ws.endpoints.get(name).config["human_review"]
    if as_json:
        print_json({"job": review.to_dict(), "human_review": setting})
        return
    sends = _review_fields({"human_review": setting})["human review"]
    console.print(
        f"Endpoint [bold]{name}[/] sends predictions with {sends} ({', '.join(review.labels)}); "
        f"reviewers answer in Studio at #/labeling/{review.name}/annotate."
    )


def deploy_multi_model(
    ws, model, endpoint: str, memory_budget, groups, allow_unapproved: bool, *, as_json: bool
) -> None:
    """``kiln deploy --multi-model``: create the multi-model endpoint or change its settings."""
    result = ws.endpoints.deploy(
        model,
        endpoint=endpoint,
        multi_model=True,
        memory_budget=memory_budget,
        groups=groups,
        allow_unapproved=allow_unapproved,
    )
    if as_json:
        print_json(result.to_dict())
        return
    console.print(
        f"Multi-model endpoint [bold]{result.name}[/] revision {result.revision}: "
        f"{_multi_model_text(result.multi_model)}. Name the model per request: header "
        f"x-kiln-target-model: GROUP:VERSION, or POST /endpoints/{result.name}/models/GROUP/"
        "VERSION/invocations. A running 'kiln serve' picks it up within a second."
    )


def _multi_model_text(settings: dict) -> str:
    groups = ", ".join(settings["groups"]) if settings.get("groups") else "every group"
    approval = "any deployable version" if settings.get("allow_unapproved") else "Approved versions"
    return f"{approval} of {groups}, within {_size(settings['memory_budget'])}"


def _size(count: int) -> str:
    from pydantic import ByteSize

    return ByteSize(count).human_readable(decimal=count % 1000**2 == 0)


def _served(endpoint) -> str:
    """What an endpoint serves, in a word: its main model, or ``multi-model``."""
    return "multi-model" if endpoint.multi_model is not None else endpoint.model


def _scaling_fields(config: dict) -> dict:
    """The endpoint's serverless, autoscale and asynchronous settings, those it has."""
    return {
        section: ", ".join(
            f"{k}={v:g}" if isinstance(v, float) else f"{k}={v}" for k, v in config[section].items()
        )
        for section in ("serverless", "autoscale", "async")
        if config.get(section)
    }


def _review_fields(config: dict) -> dict:
    """What the endpoint sends to human review, when it does."""
    setting = config.get("human_review")
    if not setting:
        return {}
    percent = setting["sample_percent"]
    sampled = f" and {percent:g}% of the rest" if percent else ""
    return {"human review": f"{setting['when']}{sampled} → job {setting['job']}"}


def _multi_model_fields(endpoint) -> dict:
    if endpoint.multi_model is None:
        return {}
    return {
        "multi-model": _multi_model_text(endpoint.multi_model),
        "invoke": f"POST /endpoints/{endpoint.name}/invocations with the header "
        "x-kiln-target-model: GROUP:VERSION, or POST "
        f"/endpoints/{endpoint.name}/models/GROUP/VERSION/invocations",
    }
