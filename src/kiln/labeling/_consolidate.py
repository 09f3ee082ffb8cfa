"""Consolidation: one label per item from several annotators' answers, with a confidence, the
annotators' agreement and each annotator's accuracy against the consensus. Pure functions over
an answers frame (``item``, ``annotator``, ``answer``), no store.

- Classes: majority vote (confidence = the winning share) or Dawid & Skene (1979), "Maximum
  likelihood estimation of observer error-rates using the EM algorithm", Applied Statistics 28(1):
  EM over one confusion matrix per annotator, started from the majority's vote shares, with a
  Dirichlet pseudo-count (``smoothing``) in every cell so that an annotator with few answers does
  not get a matrix of zeros and ones, and one more (``diagonal``) on each right answer, the prior
  that annotators beat chance (without it unanimous answers drift to an even posterior);
  confidence = the item's posterior of its label.
- Multi-label: one yes/no question per label, each consolidated as classes; an item's labels are
  those with yes more likely than no, its confidence the least sure of those questions.
- Text spans and boxes: answers matched across annotators by overlap (Jaccard of character
  ranges, intersection over union of boxes) at or above ``overlap`` with the same label; a match
  found by a majority of the item's annotators is kept (boxes: the mean of corners; spans: the
  median of starts and of ends); confidence = how decisively each candidate was kept or dropped.
- Agreement: Fleiss' kappa (Fleiss 1971, "Measuring nominal scale agreement among many raters",
  Psychological Bulletin 76(5)) when every item has the same number of answers, and
  Krippendorff's alpha (nominal; any number of answers per item; the ``krippendorff`` package).
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import pandas as pd

__all__ = [
    "Consolidation",
    "consolidate_answers",
    "dawid_skene",
    "fleiss_kappa",
    "krippendorff_alpha",
    "majority_vote",
]

METHODS = ("dawid-skene", "majority")


@dataclass
class Consolidation:
    """The result: ``labels`` has one row per answered item (``item``, ``label``,
    ``confidence``, ``method`` — ``consolidated``, or ``human`` for an item one annotator
    answered — and ``annotators``, how many answered); ``accuracy`` each annotator's share of
    answers equal to the consensus (None where it cannot be told); ``agreement`` the kappa, the
    alpha and a note."""

    labels: pd.DataFrame
    accuracy: dict[str, float | None]
    agreement: dict = field(default_factory=dict)

    @property
    def single(self) -> int:
        """How many items had one annotator only (the label is their answer, unchecked)."""
        return int((self.labels["annotators"] == 1).sum())


def consolidate_answers(
    answers: pd.DataFrame,
    *,
    task: str,
    labels: list[str],
    method: str = "dawid-skene",
    overlap: float = 0.5,
) -> Consolidation:
    """Consolidate a job's answers (one row per item and annotator) by ``task``."""
    if answers.empty:
        return Consolidation(
            pd.DataFrame(columns=["item", "label", "confidence", "method", "annotators"]),
            {},
            {"fleiss_kappa": None, "krippendorff_alpha": None, "note": "No answers yet."},
        )
    counts = answers.groupby("item")["annotator"].nunique()
    several = answers[answers["item"].map(counts) > 1]
    single = answers[answers["item"].map(counts) == 1]
    result = _by_task(several, task, labels, method, overlap)
    if len(single):
        # A majority of one: the label is the answer as given (Dawid-Skene could otherwise
        # relabel it from the annotator's estimated confusion matrix), confidence 1 of 1.
        alone = _by_task(single, task, labels, "majority", overlap)
        result.labels = pd.concat([result.labels, alone.labels], ignore_index=True)
        for annotator in alone.accuracy:
            result.accuracy.setdefault(annotator, None)
    result.labels["annotators"] = result.labels["item"].map(counts).astype(int)
    result.labels["method"] = np.where(result.labels["annotators"] == 1, "human", "consolidated")
    result.labels = result.labels[["item", "label", "confidence", "method", "annotators"]]
    if several.empty:
        result.agreement = {
            "fleiss_kappa": None,
            "krippendorff_alpha": None,
            "note": "Every item has one annotator: each label is that person's answer (a "
            "majority of one) and no agreement can be computed. Ask for "
            "annotators_per_item >= 2, or verify the labels with a verification job.",
        }
    elif len(single):
        result.agreement["note"] = (
            f"{single['item'].nunique()} item(s) have one annotator: their label is that "
            "person's answer and they do not count in the agreement. "
            + result.agreement.get("note", "")
        ).strip()
    return result


def _by_task(
    answers: pd.DataFrame, task: str, labels: list[str], method: str, overlap: float
) -> Consolidation:
    if answers.empty:
        return Consolidation(
            pd.DataFrame(columns=["item", "label", "confidence"]),
            {},
            {"fleiss_kappa": None, "krippendorff_alpha": None, "note": ""},
        )
    if task == "classification":
        return _classes(answers, labels, method)
    if task == "multi-label":
        return _multi_label(answers, labels, method)
    return _shapes(answers, task, overlap)


# -- classes -------------------------------------------------------------------------------------
def _codes(answers: pd.DataFrame, labels: list[str]):
    items = pd.Index(pd.unique(answers["item"]))
    annotators = pd.Index(sorted(pd.unique(answers["annotator"])))
    item_idx = items.get_indexer(answers["item"])
    annotator_idx = annotators.get_indexer(answers["annotator"])
    label_idx = pd.Index(labels).get_indexer(answers["answer"])
    return items, annotators, item_idx, annotator_idx, label_idx


def majority_vote(
    item_idx: np.ndarray, label_idx: np.ndarray, n_items: int, n_labels: int
) -> np.ndarray:
    """Each item's vote shares (items × labels); a tie is broken towards the label listed
    first, by the caller's argmax."""
    votes = np.zeros((n_items, n_labels))
    np.add.at(votes, (item_idx, label_idx), 1.0)
    return votes / votes.sum(axis=1, keepdims=True)


def dawid_skene(
    item_idx: np.ndarray,
    annotator_idx: np.ndarray,
    label_idx: np.ndarray,
    n_items: int,
    n_annotators: int,
    n_labels: int,
    *,
    smoothing: float = 1.0,
    diagonal: float = 1.0,
    iterations: int = 100,
    tolerance: float = 1e-6,
) -> tuple[np.ndarray, np.ndarray]:
    """Dawid–Skene EM: the items' label posteriors (items × labels) and each annotator's
    confusion matrix (annotators × true label × answered label), from the answers given as
    parallel index arrays. Started from the majority's vote shares. ``smoothing`` pseudo-answers
    go in every cell of every confusion matrix and ``diagonal`` more on its diagonal: the prior
    that an annotator beats chance, without which answers all of one label (or labels never
    used) let EM drift to the uniform posterior, unable to tell all-right from all-wrong."""
    posterior = majority_vote(item_idx, label_idx, n_items, n_labels)
    labels_axis = np.arange(n_labels)
    confusion = np.full((n_annotators, n_labels, n_labels), 1.0 / n_labels)
    eye = np.eye(n_labels)
    for _ in range(iterations):
        # M-step: class priors and confusion matrices from the current posteriors, each cell
        # given `smoothing` pseudo-answers (a Dirichlet prior) so none is exactly 0 or 1.
        prior = (posterior.sum(axis=0) + smoothing) / (n_items + smoothing * n_labels)
        counts = np.full((n_annotators, n_labels, n_labels), smoothing) + diagonal * eye
        np.add.at(
            counts,
            (annotator_idx[:, None], labels_axis[None, :], label_idx[:, None]),
            posterior[item_idx],
        )
        confusion = counts / counts.sum(axis=2, keepdims=True)
        # E-step: each item's posterior over true labels given every answer it has.
        log_post = np.tile(np.log(prior), (n_items, 1))
        np.add.at(log_post, item_idx, np.log(confusion[annotator_idx, :, label_idx]))
        log_post -= log_post.max(axis=1, keepdims=True)
        updated = np.exp(log_post)
        updated /= updated.sum(axis=1, keepdims=True)
        change = np.abs(updated - posterior).max()
        posterior = updated
        if change < tolerance:
            break
    return posterior, confusion


def _classes(answers: pd.DataFrame, labels: list[str], method: str) -> Consolidation:
    items, annotators, item_idx, annotator_idx, label_idx = _codes(answers, labels)
    if method == "majority":
        posterior = majority_vote(item_idx, label_idx, len(items), len(labels))
    else:
        posterior, _ = dawid_skene(
            item_idx, annotator_idx, label_idx, len(items), len(annotators), len(labels)
        )
    # Rounded first: Dawid-Skene's tied posteriors differ in their last bits, and a tie goes
    # to the label listed first by either method, not to float noise.
    chosen = posterior.round(9).argmax(axis=1)
    frame = pd.DataFrame(
        {
            "item": items,
            "label": [labels[c] for c in chosen],
            "confidence": posterior[np.arange(len(items)), chosen],
        }
    )
    agrees = chosen[item_idx] == label_idx
    accuracy = pd.Series(agrees).groupby(annotators[annotator_idx]).mean()
    return Consolidation(
        frame,
        {a: float(accuracy[a]) for a in annotators},
        _agreement(item_idx, annotator_idx, label_idx, len(items), len(annotators), len(labels)),
    )


def _multi_label(answers: pd.DataFrame, labels: list[str], method: str) -> Consolidation:
    """One yes/no question per label; the questions' answers pooled for agreement."""
    questions = []
    for label in labels:
        yes_no = answers.assign(answer=["yes" if label in a else "no" for a in answers["answer"]])
        questions.append(_classes(yes_no, ["no", "yes"], method))
    merged = questions[0].labels[["item"]].copy()
    merged["label"] = [
        [
            label
            for label, q in zip(labels, questions, strict=True)
            if q.labels["label"].iat[i] == "yes"
        ]
        for i in range(len(merged))
    ]
    merged["confidence"] = np.min([q.labels["confidence"].to_numpy() for q in questions], axis=0)
    # An annotator is right on an item when every one of its yes/no answers matches: the mean of
    # the per-label shares is not that, so count whole answers against the consolidated set.
    consensus = dict(zip(merged["item"], merged["label"], strict=True))
    right = pd.Series(
        [
            sorted(a) == sorted(consensus[i])
            for i, a in zip(answers["item"], answers["answer"], strict=True)
        ]
    )
    accuracy = right.groupby(answers["annotator"].to_numpy()).mean()
    stacked = pd.concat(
        [
            answers.assign(
                item=answers["item"].astype(str) + "\x1f" + label,
                answer=["yes" if label in a else "no" for a in answers["answer"]],
            )
            for label in labels
        ]
    )
    items, annotators, item_idx, annotator_idx, label_idx = _codes(stacked, ["no", "yes"])
    agreement = _agreement(item_idx, annotator_idx, label_idx, len(items), len(annotators), 2)
    agreement["note"] = (
        "Multi-label agreement is over one yes/no question per item and label. "
        + agreement.get("note", "")
    ).strip()
    return Consolidation(merged, {a: float(v) for a, v in accuracy.items()}, agreement)


# -- agreement -----------------------------------------------------------------------------------
def fleiss_kappa(table: np.ndarray) -> float | None:
    """Fleiss' kappa of an items × categories table of counts, every row summing to the same
    number of raters (at least 2). None when it is undefined (every answer in one category).

    Written here rather than taken from statsmodels (``statsmodels.stats.inter_rater``): it is
    six lines of arithmetic, and statsmodels would be a large dependency for them alone. Checked
    against Fleiss' worked example in the tests."""
    table = np.asarray(table, dtype=float)
    raters = table.sum(axis=1)
    if len(table) == 0 or raters[0] < 2 or not np.all(raters == raters[0]):
        return None
    n = raters[0]
    shares = table.sum(axis=0) / table.sum()
    expected = float((shares**2).sum())
    if expected >= 1.0:
        return None
    observed = float(((table * (table - 1)).sum(axis=1) / (n * (n - 1))).mean())
    return (observed - expected) / (1.0 - expected)


def krippendorff_alpha(matrix: np.ndarray) -> float | None:
    """Krippendorff's alpha (nominal) of an annotators × items matrix of category codes, NaN where
    an annotator did not answer. None when undefined (fewer than two answers on every item, or one
    category only)."""
    import krippendorff

    matrix = np.asarray(matrix, dtype=float)
    pairable = (~np.isnan(matrix)).sum(axis=0) >= 2
    values = np.unique(matrix[:, pairable][~np.isnan(matrix[:, pairable])])
    if not pairable.any() or len(values) < 2:
        return None
    return float(krippendorff.alpha(reliability_data=matrix, level_of_measurement="nominal"))


def _agreement(
    item_idx: np.ndarray,
    annotator_idx: np.ndarray,
    label_idx: np.ndarray,
    n_items: int,
    n_annotators: int,
    n_labels: int,
) -> dict:
    table = np.zeros((n_items, n_labels))
    np.add.at(table, (item_idx, label_idx), 1.0)
    per_item = table.sum(axis=1)
    several = per_item >= 2
    kappa = fleiss_kappa(table[several]) if several.any() else None
    matrix = np.full((n_annotators, n_items), np.nan)
    matrix[annotator_idx, item_idx] = label_idx
    alpha = krippendorff_alpha(matrix)
    notes = []
    if several.any() and kappa is None:
        if len(set(per_item[several])) > 1:
            notes.append(
                "Fleiss' kappa needs the same number of answers on every item; these differ, so "
                "read Krippendorff's alpha."
            )
        else:
            notes.append("Every answer is the same label: agreement is undefined.")
    return {
        "fleiss_kappa": None if kappa is None else round(kappa, 6),
        "krippendorff_alpha": None if alpha is None else round(alpha, 6),
        "note": " ".join(notes),
    }


# -- spans and boxes -----------------------------------------------------------------------------
def _overlap(a: dict, b: dict, task: str) -> float:
    """Jaccard of two character spans, or intersection over union of two boxes."""
    if task == "text-spans":
        inter = max(0, min(a["end"], b["end"]) - max(a["start"], b["start"]))
        union = (a["end"] - a["start"]) + (b["end"] - b["start"]) - inter
    else:
        width = max(0.0, min(a["x"] + a["width"], b["x"] + b["width"]) - max(a["x"], b["x"]))
        height = max(0.0, min(a["y"] + a["height"], b["y"] + b["height"]) - max(a["y"], b["y"]))
        inter = width * height
        union = a["width"] * a["height"] + b["width"] * b["height"] - inter
    return inter / union if union > 0 else 0.0


def _merge(shapes: list[dict], task: str) -> dict:
    if task == "text-spans":
        return {
            "start": int(np.median([s["start"] for s in shapes])),
            "end": int(np.median([s["end"] for s in shapes])),
            "label": shapes[0]["label"],
        }
    x0 = float(np.mean([s["x"] for s in shapes]))
    y0 = float(np.mean([s["y"] for s in shapes]))
    x1 = float(np.mean([s["x"] + s["width"] for s in shapes]))
    y1 = float(np.mean([s["y"] + s["height"] for s in shapes]))
    return {"x": x0, "y": y0, "width": x1 - x0, "height": y1 - y0, "label": shapes[0]["label"]}


def _shapes(answers: pd.DataFrame, task: str, overlap: float) -> Consolidation:
    """Group each item's spans or boxes into matches (same label, overlap >= ``overlap`` with the
    group's first member, one per annotator), keep those a majority found."""
    rows, right, given = [], {}, {}
    for item, group in answers.groupby("item", sort=False):
        voters = group["annotator"].nunique()
        clusters: list[dict] = []
        for annotator, answer in zip(group["annotator"], group["answer"], strict=True):
            for shape in answer:
                home = next(
                    (
                        c
                        for c in clusters
                        if c["label"] == shape["label"]
                        and annotator not in c["by"]
                        and _overlap(c["seed"], shape, task) >= overlap
                    ),
                    None,
                )
                if home is None:
                    clusters.append(
                        {"label": shape["label"], "seed": shape, "members": [], "by": []}
                    )
                    home = clusters[-1]
                home["members"].append(shape)
                home["by"].append(annotator)
        kept = [c for c in clusters if len(c["by"]) * 2 > voters]
        decisiveness = [max(len(c["by"]), voters - len(c["by"])) / voters for c in clusters]
        rows.append(
            (
                item,
                [_merge(c["members"], task) for c in kept],
                float(np.mean(decisiveness)) if decisiveness else 1.0,
            )
        )
        for annotator in group["annotator"]:
            mine = [c for c in clusters if annotator in c["by"]]
            hits = sum(1 for c in mine if c in kept) + sum(
                1 for c in clusters if c not in kept and annotator not in c["by"]
            )
            right[annotator] = right.get(annotator, 0) + hits
            given[annotator] = given.get(annotator, 0) + len(clusters)
    accuracy = {a: (right[a] / given[a] if given[a] else 1.0) for a in sorted(given)}
    return Consolidation(
        pd.DataFrame(rows, columns=["item", "label", "confidence"]),
        accuracy,
        {
            "fleiss_kappa": None,
            "krippendorff_alpha": None,
            "note": "Kappa and alpha are for categories; for spans and boxes each item's "
            "confidence is how decisively its candidate shapes were kept or dropped, and an "
            "annotator's accuracy is their share of those decisions they sided with.",
        },
    )
