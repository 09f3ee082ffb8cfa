"""The HTML pages of a bias report and of an explanation."""

from __future__ import annotations

from typing import TYPE_CHECKING

from kiln.reports import Section, fields, figure, note, render, table

if TYPE_CHECKING:
    from kiln.clarify._service import BiasReport, Explanation

TOP_SHOWN = 30


def _bar(names: list[str], values: list[float], *, title: str, axis: str) -> str:
    import plotly.graph_objects as go

    fig = go.Figure(go.Bar(x=values[::-1], y=names[::-1], orientation="h"))
    fig.update_layout(title=title, xaxis_title=axis)
    return figure(fig, height=max(260, 22 * len(names) + 110), compact=True)


def bias_page(report: BiasReport) -> str:
    facts = report.facts
    setup = fields(
        {
            "data": report.data,
            "model": report.model or "— (pre-training metrics only)",
            "label (positive outcome)": facts["label"],
            "facet d (disfavoured)": facts["facet"],
            "facet a": "every other row",
            "group (CDDL, CDDPL)": report.group or "—",
            "rows": facts["rows"],
            "rows in a / d": f"{facts['rows_a']} / {facts['rows_d']}",
            "positive labels in a / d": f"{facts['positive_a']} / {facts['positive_d']}",
            "rows left out (no facet value or label)": facts["rows_left_out"],
        }
    )
    sections = [Section("Setup", setup)]
    for stage in ("pre-training", "post-training"):
        chosen = [m for m in report.metrics if m.info.stage == stage]
        if not chosen:
            continue
        rows = [
            [
                m.name,
                m.info.title,
                m.value,
                m.info.range,
                m.info.reading if m.value is not None else f"undefined: {m.reason}",
                m.info.formula,
            ]
            for m in chosen
        ]
        body = table(["metric", "name", "value", "range", "reading", "formula"], rows)
        defined = [m for m in chosen if m.value is not None and m.name not in ("DI",)]
        if defined:
            body += _bar(
                [m.name for m in defined],
                [m.value for m in defined],
                title=f"{stage.capitalize()} metrics (0: no difference between a and d)",
                axis="value",
            )
        sections.append(Section(f"{stage.capitalize()} bias", body))
    sections.append(
        Section(
            "Reading the metrics",
            note(
                "Facet d is the group the facet selects, a every other row. Pre-training "
                "metrics describe the data's labels; post-training metrics the model's "
                "predicted labels against the observed ones. A metric is undefined (—) when "
                "its formula divides by zero on this data; the reason is given. Formulas: "
                "docs/clarify.md."
            ),
        )
    )
    return render(
        f"Bias report: {report.data}",
        sections,
        subtitle=f"facet {facts['facet']} · label {facts['label']}",
        plotly_bundle="cartesian",
    )


def explanation_page(explanation: Explanation) -> str:
    names = list(explanation.attributions)[:TOP_SHOWN]
    values = [explanation.attributions[n] for n in names]
    body = _bar(
        names,
        values,
        title=f"Mean |SHAP value| per input column ({explanation.rows} rows)",
        axis=f"mean |SHAP value| ({explanation.units})",
    ) + note(
        f"SHAP values from {explanation.method}, summed over the features each input column "
        "becomes in the recipe (one-hot columns, missing-value indicators)."
    )
    sections = [Section("Global attributions", body)]
    if explanation.row_explanations:
        rows = []
        for row in explanation.row_explanations:
            prediction = row["prediction"]
            shown = prediction.get("label", prediction.get("value"))
            contributions = "; ".join(
                f"{c['column']}={c['value']}: {c['attribution']:+.4f}" for c in row["contributions"]
            )
            rows.append([row["row"], shown, contributions])
        sections.append(
            Section(
                "Per-row attributions",
                table(["row", "prediction", "largest contributions (column=value: SHAP)"], rows)
                + note(
                    f"Each row's largest contributions in {explanation.units}, towards the "
                    "predicted class (binary: the positive class) or value."
                ),
            )
        )
    return render(
        f"Explanation: {explanation.model}",
        sections,
        subtitle=f"data {explanation.data}",
        plotly_bundle="cartesian",
    )
