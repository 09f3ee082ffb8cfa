"""Labelling benchmark (issue 17): consolidation and automated labelling.

(a) Dawid–Skene against majority vote on simulated annotators of known accuracy: five annotators
    of accuracy 0.9, 0.8, 0.7, 0.6 and an adversary at 0.3 (when wrong, an honest annotator picks
    a wrong label at random; the adversary always picks the next label round the label set, a
    systematic confusion); each item answered by 3 of the 5 drawn at random; items' true labels
    uniform. Both methods consolidate the same answers (``consolidate_answers``, the function
    ``ws.labeling.consolidate`` runs); the label accuracy of each against the truth, per seed.

(b) Automated labelling on the spam data (``benchmarks/data/spam.csv``: 4,601 e-mails, six
    numeric features, label ``yesno``), end to end through ``ws.labeling`` in a fresh workspace:
    the rows shuffled (so the first human batch is a random sample), one simulated human per item
    answering with the true label (``next_item`` / ``answer``, as the Studio page does), automated
    labelling on (``min_labels``, ``batch``), each round started by the answers themselves (the
    benchmark waits for a round to finish before answering on, as a human would come back to a
    re-ordered queue). After every answer the whole set's label accuracy is computed (the labels
    of labelled items against the truth; an item without a label counts as wrong) and the number
    of human answers at which it first reaches each goal is recorded. Without automated labelling
    a perfect human must label ``goal x 4,601`` items (computed). The answer's latency with
    automated labelling on (the trigger's count query included; rounds excluded) is reported
    against a job without it.

Run::

    .venv/bin/python benchmarks/labeling.py            # ~20 min; --quick: (a) only, 2 seeds
"""

from __future__ import annotations

import argparse
import math
import statistics
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import pandas as pd

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))

import _common  # noqa: E402, F401 - sets OMP_WAIT_POLICY before numpy's pools start

SPAM = HERE / "data" / "spam.csv"
ACCURACIES = (0.9, 0.8, 0.7, 0.6, 0.3)  # the last is the adversary


def simulate(items: int, classes: int, seed: int) -> tuple[pd.DataFrame, np.ndarray]:
    rng = np.random.default_rng(seed)
    truth = rng.integers(0, classes, items)
    rows = []
    for item in range(items):
        for annotator in rng.choice(len(ACCURACIES), size=3, replace=False):
            accuracy = ACCURACIES[annotator]
            if rng.random() < accuracy:
                answer = truth[item]
            elif annotator == len(ACCURACIES) - 1:
                answer = (truth[item] + 1) % classes
            else:
                answer = rng.choice([c for c in range(classes) if c != truth[item]])
            rows.append((item, f"a{annotator}", f"c{answer}"))
    return pd.DataFrame(rows, columns=["item", "annotator", "answer"]), truth


def consolidation(items: int, seeds: int) -> list[dict]:
    from kiln.labeling._consolidate import consolidate_answers

    results = []
    for classes in (2, 4):
        labels = [f"c{c}" for c in range(classes)]
        for seed in range(seeds):
            answers, truth = simulate(items, classes, seed)
            row = {"classes": classes, "seed": seed}
            for method in ("majority", "dawid-skene"):
                started = time.perf_counter()
                result = consolidate_answers(
                    answers, task="classification", labels=labels, method=method
                )
                row[f"{method} s"] = time.perf_counter() - started
                got = result.labels.sort_values("item")["label"].to_numpy()
                row[method] = float((got == np.array([f"c{t}" for t in truth])).mean())
                if method == "dawid-skene":
                    row["estimated"] = {a: round(v, 3) for a, v in result.accuracy.items()}
            results.append(row)
            print(
                f"  {classes} classes seed {seed}: majority {row['majority']:.4f}, "
                f"dawid-skene {row['dawid-skene']:.4f} ({row['dawid-skene s']:.2f} s)",
                flush=True,
            )
    return results


def labeled_items(ws) -> list:
    items, offset = [], 0
    while True:
        page = ws.labeling.items("spam", status="labeled", limit=500, offset=offset).items
        items += page
        offset += len(page)
        if len(page) < 500:
            return items


def automated(
    goals: tuple[float, ...],
    *,
    target_accuracy: float,
    min_labels: int,
    batch: int,
    seed: int,
    check_size: int = 200,
    auto: bool = True,
    limit: int | None = None,
) -> dict:
    import kiln

    frame = pd.read_csv(SPAM).sample(frac=1.0, random_state=seed).reset_index(drop=True)
    truth = frame["yesno"].to_numpy()
    features = [c for c in frame.columns if c != "yesno"]
    with tempfile.TemporaryDirectory() as home:
        ws = kiln.Workspace.init(Path(home) / "ws")
        ws.data.ingest(frame, name="spam")
        ws.labeling.create(
            "spam",
            data="spam",
            task="classification",
            labels=["y", "n"],
            columns=features,
            auto_label={
                "target_accuracy": target_accuracy,
                "min_labels": min_labels,
                "batch": batch,
                "check_size": check_size,
            }
            if auto
            else None,
        )
        reached: dict[float, int | None] = dict.fromkeys(goals)
        latencies, answers, rounds_seen = [], 0, 0
        human_right = 0
        automatic_right = 0
        automatic = 0
        while answers < (limit or len(frame)):
            item = ws.labeling.next_item("spam", "human")
            if item is None:
                break
            started = time.perf_counter()
            ws.labeling.answer("spam", item.item, "human", truth[int(item.item)])
            elapsed = time.perf_counter() - started
            answers += 1
            human_right += 1
            ws.labeling.wait_for_rounds()
            rounds = ws.labeling.get("spam").settings.get("auto_rounds", [])
            if len(rounds) > rounds_seen:  # a round ran: recount the automatic labels
                rounds_seen = len(rounds)
                done = [i for i in labeled_items(ws) if i.method == "automatic"]
                automatic = len(done)
                automatic_right = sum(i.label["value"] == truth[int(i.item)] for i in done)
            else:
                latencies.append(elapsed)
            accuracy = (human_right + automatic_right) / len(frame)
            for goal in goals:
                if reached[goal] is None and accuracy >= goal:
                    reached[goal] = answers
            if all(v is not None for v in reached.values()):
                break
        rounds = ws.labeling.get("spam").settings.get("auto_rounds", [])
        return {
            "reached": reached,
            "answers": answers,
            "automatic": automatic,
            "automatic_accuracy": automatic_right / automatic if automatic else None,
            "rounds": rounds,
            "answer_ms_p50": 1000 * statistics.median(latencies),
            "answer_ms_p99": 1000 * float(np.quantile(latencies, 0.99)),
        }


def trigger_cost(answers: int) -> dict:
    """Answer latency with automated labelling on but no round due (the trigger's count query
    alone) against a job without it, answers alternating between the two in one workspace."""
    import kiln

    frame = pd.read_csv(SPAM)
    truth = frame["yesno"].to_numpy()
    features = [c for c in frame.columns if c != "yesno"]
    times: dict[str, list[float]] = {"off": [], "on": []}
    with tempfile.TemporaryDirectory() as home:
        ws = kiln.Workspace.init(Path(home) / "ws")
        ws.data.ingest(frame, name="spam")
        for job, auto in (("off", None), ("on", {"min_labels": 1_000_000})):
            ws.labeling.create(
                job,
                data="spam",
                task="classification",
                labels=["y", "n"],
                columns=features,
                auto_label=auto,
            )
        for _ in range(answers):
            for job in ("off", "on"):
                item = ws.labeling.next_item(job, "human")
                started = time.perf_counter()
                ws.labeling.answer(job, item.item, "human", truth[int(item.item)])
                times[job].append(time.perf_counter() - started)
    return {
        job: (1000 * statistics.median(t), 1000 * float(np.quantile(t, 0.99)))
        for job, t in times.items()
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seeds", type=int, default=5)
    parser.add_argument("--items", type=int, default=3000)
    parser.add_argument("--quick", action="store_true", help="(a) only, 2 seeds")
    parser.add_argument("--latency", action="store_true", help="(c) only")
    args = parser.parse_args()

    if args.latency:
        print(trigger_cost(500))
        return
    print(f"(a) consolidation: {args.items} items, annotators {ACCURACIES}, 3 answers per item")
    rows = consolidation(args.items, 2 if args.quick else args.seeds)
    for classes in (2, 4):
        mine = [r for r in rows if r["classes"] == classes]
        print(
            f"  {classes} classes, mean over {len(mine)} seeds: majority "
            f"{statistics.mean(r['majority'] for r in mine):.4f}, dawid-skene "
            f"{statistics.mean(r['dawid-skene'] for r in mine):.4f}; estimated accuracy "
            f"(seed 0) {mine[0]['estimated']}"
        )
    if args.quick:
        return

    cost = trigger_cost(500)
    print(
        "(c) answer latency, 500 answers each, alternating: automated labelling off "
        f"p50 {cost['off'][0]:.2f} ms p99 {cost['off'][1]:.2f} ms; on, no round due "
        f"p50 {cost['on'][0]:.2f} ms p99 {cost['on'][1]:.2f} ms"
    )
    goals = (0.90, 0.95)
    print("(b) automated labelling, spam data (4,601 rows)")
    plain = automated(
        goals, target_accuracy=0.95, min_labels=200, batch=100, seed=0, auto=False, limit=300
    )
    print(
        f"  without: {', '.join(f'{g:.0%} needs {math.ceil(g * 4601)}' for g in goals)} answers"
        f" (computed); answer p50 {plain['answer_ms_p50']:.1f} ms, "
        f"p99 {plain['answer_ms_p99']:.1f} ms (300 answers)"
    )
    for check_size in (200, 500):
        for seed in range(2):
            result = automated(
                goals,
                target_accuracy=0.95,
                min_labels=200,
                batch=200,
                seed=seed,
                check_size=check_size,
            )
            last = result["rounds"][-1] if result["rounds"] else {}
            print(
                f"  target 0.95, check set {check_size}, seed {seed}: "
                + ", ".join(f"{g:.0%} after {result['reached'][g]}" for g in goals)
                + f" human answers; {result['automatic']} automatic labels "
                f"({result['automatic_accuracy'] or 0:.4f} right), {len(result['rounds'])} rounds "
                f"(last: threshold {last.get('threshold')}, est. {last.get('estimated_accuracy')}"
                f" >= {last.get('accuracy_lower_bound')}, {last.get('seconds')} s); answer p50 "
                f"{result['answer_ms_p50']:.1f} ms, p99 {result['answer_ms_p99']:.1f} ms",
                flush=True,
            )


if __name__ == "__main__":
    main()
