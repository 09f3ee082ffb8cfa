"""``kiln quickstart``: the whole lifecycle on the telco churn data, end to end.

Ingest → split → train two algorithms → compare → approve the better → deploy → serve over HTTP →
predict → batch transform, printing where everything is.
"""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING

from kiln.errors import ConfigError
from kiln.serving import EndpointClient
from kiln.workspace import Workspace

if TYPE_CHECKING:
    from rich.console import Console

ALGORITHMS = ("lightgbm", "linear")
TARGET = "churn"


def find_churn_csv(given: str | os.PathLike | None = None) -> Path:
    candidates = (
        [Path(given)]
        if given
        else [
            Path.cwd() / "examples" / "churn" / "telco_churn.csv",
            Path(__file__).resolve().parents[2] / "examples" / "churn" / "telco_churn.csv",
        ]
    )
    for path in candidates:
        if path.exists():
            return path
    raise ConfigError(
        f"Cannot find the telco churn data (looked at {', '.join(map(str, candidates))}). Run "
        "from the kiln repository, or pass --data PATH/telco_churn.csv.",
        code="quickstart.no-data",
    )


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def start_server(home: Path, port: int, *, timeout: float = 60.0) -> subprocess.Popen:
    """Start ``kiln serve`` in the background and wait until it answers /ping."""
    import httpx

    process = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "kiln",
            "--home",
            str(home),
            "serve",
            "--port",
            str(port),
            "--log-level",
            "warning",
        ],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
    )
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise ConfigError(
                f"The server exited early: {process.stderr.read().decode(errors='replace')[-800:]}",
                code="quickstart.server-failed",
            )
        try:
            if httpx.get(f"http://127.0.0.1:{port}/ping", timeout=1).status_code == 200:
                return process
        except httpx.TransportError:
            time.sleep(0.2)
    process.terminate()
    raise ConfigError(
        f"The server did not answer on port {port} within {timeout:.0f}s.",
        code="quickstart.server-failed",
    )


def run_quickstart(
    *,
    home: str | os.PathLike | None = None,
    data: str | os.PathLike | None = None,
    port: int = 0,
    say: Callable[..., None] = print,
    console: Console | None = None,
) -> dict:
    """Run the quickstart; ``say`` prints the closing summary, ``console`` (rich) the progress
    and the lines printed as each step ends."""
    from rich.progress import Progress, SpinnerColumn, TextColumn, TimeElapsedColumn

    started = time.perf_counter()
    csv_path = find_churn_csv(data)
    ws = Workspace.init(home)
    steps = [
        "ingest",
        "split",
        *[f"train {a}" for a in ALGORITHMS],
        "approve and deploy",
        "serve and predict",
        "batch transform",
    ]
    summary: dict = {"workspace": str(ws.home)}
    with Progress(
        SpinnerColumn(),
        TextColumn("[bold]{task.description}"),
        TextColumn("{task.completed}/{task.total}"),
        TimeElapsedColumn(),
        console=console,
    ) as progress:
        overall = progress.add_task("quickstart", total=len(steps))

        def step(name: str) -> None:
            progress.update(overall, description=name)

        step("ingest")
        dataset = ws.data.ingest(csv_path, name="churn")
        progress.console.print(
            f"Data set [bold]{dataset.ref}[/]: {dataset.row_count} rows, "
            f"{dataset.column_count} columns, from {csv_path}"
        )
        progress.advance(overall)

        step("split")
        splits = ws.data.split(dataset, target=TARGET, seed=42)
        progress.console.print(
            "Split: " + ", ".join(f"{p} {v.ref} ({v.row_count} rows)" for p, v in splits.items())
        )
        progress.advance(overall)

        results = {}
        for algorithm in ALGORITHMS:
            step(f"train {algorithm}")
            results[algorithm] = ws.train(
                dataset.ref, target=TARGET, algorithm=algorithm, name="churn"
            )
            m = results[algorithm].metrics["validation"]
            progress.console.print(
                f"Trained [bold]{results[algorithm].model.ref}[/] ({algorithm}): validation "
                f"ROC-AUC {m['roc_auc']:.4f}, F1 {m['f1']:.4f}, accuracy {m['accuracy']:.4f}"
            )
            progress.advance(overall)

        step("approve and deploy")
        best_algorithm = max(results, key=lambda a: results[a].metrics["validation"]["roc_auc"])
        best = results[best_algorithm].model
        for algorithm, result in results.items():
            if algorithm != best_algorithm:
                ws.models.reject(
                    result.model.ref, reason=f"lower validation ROC-AUC than {best.ref}"
                )
        ws.models.approve(best.ref, reason="best validation ROC-AUC in the quickstart comparison")
        endpoint = ws.endpoints.deploy(best.ref, endpoint="churn")
        progress.console.print(
            f"Approved [bold]{best.ref}[/] and deployed it to endpoint [bold]{endpoint.name}[/]"
        )
        progress.advance(overall)

        step("serve and predict")
        port = port or free_port()
        server = start_server(ws.home, port)
        try:
            test = ws.data.load(splits["test"]).head(5)
            rows = (
                test.drop(columns=[TARGET])
                .astype(object)
                .where(test.notna(), None)
                .to_dict("records")
            )
            for row in rows:
                row.pop(TARGET, None)
            url = f"http://127.0.0.1:{port}"
            with EndpointClient(url) as client:
                response = client.invoke("churn", rows)
        finally:
            server.terminate()
            server.wait(timeout=10)
        progress.console.print(
            f"Served endpoint [bold]churn[/] on port {port}: sent {len(rows)} test rows to "
            f"{url}/endpoints/churn/invocations (the demo server has stopped)"
        )
        progress.advance(overall)

        step("batch transform")
        test_path = ws.home / "quickstart-test.csv"
        ws.data.load(splits["test"]).to_csv(test_path, index=False)
        output = ws.home / "quickstart-predictions.csv"
        transform_job = ws.transform(best.ref, input=test_path, output=output)
        progress.advance(overall)

    for actual, prediction in zip(test[TARGET], response["predictions"], strict=True):
        probabilities = ", ".join(f"{k}={v:.3f}" for k, v in prediction["probabilities"].items())
        say(f"  actual {actual:<4} predicted {prediction['label']:<4} ({probabilities})")
    test_metrics = results[best_algorithm].metrics["test"]
    say(
        f"[bold]{best.ref}[/] on the held-out test split: "
        + ", ".join(f"{k} {v:.4f}" for k, v in test_metrics.items() if isinstance(v, float))
    )
    say(f"Batch transform wrote {transform_job.result['rows']} predictions to {output}")
    say(
        f"Workspace: {ws.home} (metadata {ws.store.shown_url}, "
        f"artifacts {ws.settings.artifacts_url})"
    )
    say(
        f"Done in {time.perf_counter() - started:.0f}s. Next: 'kiln models list', "
        f"'kiln serve', then POST rows to http://127.0.0.1:8080/endpoints/churn/invocations"
    )
    summary.update(
        url=url,
        model=best.ref,
        predictions=response["predictions"],
        test_metrics=test_metrics,
        transform_output=str(output),
    )
    return summary
