"""Paged lists of the registry (what Studio's model pages read): groups with their latest
version, versions filtered and sorted by a metric, without the large JSON columns."""

from __future__ import annotations

import time
from datetime import timedelta

import pytest

from helpers import ON_BOTH_STORES
from kiln.errors import ConfigError, NotFound
from kiln.store import ModelGroupRow, ModelVersionRow, now


def add_versions(ws, group: str, count: int, *, start: int = 1) -> None:
    """``count`` version records of ``group`` written straight to the store (no artifacts: the
    lists never read them)."""
    stamp = now()
    with ws.store.write() as session:
        if session.get(ModelGroupRow, group) is None:
            session.add(ModelGroupRow(name=group, description="", created_at=stamp, created_by="t"))
            session.flush()
        session.add_all(
            ModelVersionRow(
                id=f"model-{group}-{n}",
                group=group,
                version=n,
                digest="0" * 64,
                algorithm="lightgbm" if n % 2 else "xgboost",
                problem_type="binary",
                target="churn",
                signature={"inputs": [{"name": f"c{i}", "dtype": "number"} for i in range(50)]},
                metrics={"test": {"roc_auc": 0.5 + n / (10 * (count + start))}} if n != 3 else {},
                hyperparameters={},
                library_versions={},
                dataset_version_id=None,
                job_id=None,
                approval_status="Approved" if n % 3 == 0 else "PendingManualApproval",
                created_at=stamp + timedelta(milliseconds=n),
                created_by="tester@host",
                details={"leaderboard": list(range(100))},
            )
            for n in range(start, start + count)
        )


@ON_BOTH_STORES
def test_groups_page_has_each_groups_latest_version_and_count(ws):
    add_versions(ws, "churn", 5)
    add_versions(ws, "housing", 2)
    page = ws.models.groups_page()
    assert page.total == 2
    assert [(g.name, g.versions, g.latest.version) for g in page.items] == [
        ("churn", 5, 5),
        ("housing", 2, 2),
    ]
    assert page.to_dict()["items"][0]["latest"]["ref"] == "churn:5"
    assert [g.name for g in ws.models.groups_page(q="hous").items] == ["housing"]
    assert [g.name for g in ws.models.groups_page(sort="-name").items] == ["housing", "churn"]


@ON_BOTH_STORES
def test_versions_page_filters_and_sorts_without_reading_details(ws):
    add_versions(ws, "churn", 9)
    add_versions(ws, "housing", 2)
    newest = ws.models.versions_page(group="churn", limit=3)
    assert [v.version for v in newest.items] == [9, 8, 7]
    assert newest.total == 9 and newest.sort == "-created_at"
    assert not hasattr(newest.items[0], "details")
    assert "signature" not in newest.to_dict()["items"][0]
    approved = ws.models.versions_page(group="churn", status="Approved")
    assert [v.version for v in approved.items] == [9, 6, 3]
    by_auc = ws.models.versions_page(group="churn", sort="-test.roc_auc")
    assert [v.version for v in by_auc.items][:2] == [9, 8]
    assert by_auc.items[-1].version == 3  # no test.roc_auc: last either way
    assert ws.models.versions_page(group="churn", sort="test.roc_auc").items[-1].version == 3
    assert ws.models.versions_page(algorithm="xgboost").total == 5
    assert ws.models.versions_page(q="hous").total == 2
    by_version = ws.models.versions_page(sort="version", limit=2)
    assert [v.ref for v in by_version.items] == ["churn:1", "housing:1"]  # the id breaks ties
    assert ws.models.algorithms() == ["lightgbm", "xgboost"]


def test_versions_page_refuses_what_it_cannot_do(ws):
    add_versions(ws, "churn", 2)
    with pytest.raises(NotFound) as info:
        ws.models.versions_page(group="nope")
    assert info.value.code == "registry.unknown-model"
    with pytest.raises(ConfigError) as info:
        ws.models.versions_page(status="Maybe")
    assert info.value.code == "registry.bad-status"
    assert "PendingManualApproval" in info.value.message
    with pytest.raises(ConfigError) as info:
        ws.models.versions_page(sort="signature")
    assert info.value.code == "page.bad-sort" and "test.roc_auc" in info.value.message


def test_ten_thousand_versions_list_fast(ws):
    for block in range(10):
        add_versions(ws, f"g{block}", 1000)
    ws.models.versions_page(limit=50)  # warm
    timings = []
    for call in (
        lambda: ws.models.versions_page(limit=50),
        lambda: ws.models.versions_page(limit=50, offset=5000, status="Approved"),
        lambda: ws.models.versions_page(group="g3", sort="-test.roc_auc", limit=50),
        lambda: ws.models.groups_page(limit=50),
    ):
        started = time.perf_counter()
        call()
        timings.append(time.perf_counter() - started)
    assert max(timings) < 0.5, timings


def test_a_group_and_a_model_card(trained):
    ws, result = trained
    group = ws.models.group("churn")
    assert group.versions >= 1 and group.latest.ref == result.model.ref
    with pytest.raises(NotFound):
        ws.models.group("chur")
    card = ws.models.card(result.model.ref)
    assert card["model"] == result.model.ref
    assert card["data_set"] == "churn:1" and card["job"] == result.model.job_id
    assert card["headline_metric"]["metric"] == "roc_auc"
    assert card["inputs"] and {"name", "dtype", "categories"} <= set(card["inputs"][0])
    assert card["approval"]["status"] == "PendingManualApproval"
