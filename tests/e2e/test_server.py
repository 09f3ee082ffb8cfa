"""A real ``kiln serve`` process on a loopback port, driven over HTTP and by ``kiln predict``
(the client in this process, ``run_cli``: the server is the process under test)."""

import json
import threading

import httpx
import pandas as pd
import pytest

from helpers import wait_for


@pytest.fixture(scope="module")
def rows(trained):
    ws, result = trained
    test = ws.data.load(result.job.result["splits"]["test"]).head(4).drop(columns=["churn"])
    return test.astype(object).where(test.notna(), None).to_dict("records")


def test_invocations_over_http(server, rows, trained):
    _, result = trained
    response = httpx.post(f"{server}/endpoints/churn/invocations", json=rows)
    assert response.status_code == 200
    body = response.json()
    assert body["model"] == result.model.ref
    assert [set(p) for p in body["predictions"]] == [{"label", "probabilities"}] * 4
    csv = pd.DataFrame(rows).to_csv(index=False)
    as_csv = httpx.post(
        f"{server}/endpoints/churn/invocations", content=csv, headers={"content-type": "text/csv"}
    )
    assert as_csv.json()["predictions"] == body["predictions"]


def test_bad_requests_never_500_and_the_server_keeps_serving(server, rows):
    url = f"{server}/endpoints/churn/invocations"
    bad = [
        httpx.post(url, json=[dict(rows[0], surprise=1)]),
        httpx.post(url, json=[{k: v for k, v in rows[0].items() if k != "contract"}]),
        httpx.post(url, json=[dict(rows[0], monthly_charges="lots")]),
        httpx.post(url, json=[]),
        httpx.post(url, content=b"{not json", headers={"content-type": "application/json"}),
        httpx.post(f"{server}/endpoints/ghost/invocations", json=rows),
        httpx.post(
            url,
            content=b"[" + b"0," * 6_000_000 + b"0]",
            headers={"content-type": "application/json"},
        ),
    ]
    assert [r.status_code for r in bad] == [422, 422, 422, 422, 422, 404, 413]
    for response in bad:
        assert set(response.json()) >= {"error", "detail"}
    assert httpx.post(url, json=rows).status_code == 200


def test_concurrent_clients_get_their_own_answers(server, rows):
    url = f"{server}/endpoints/churn/invocations"
    expected = httpx.post(url, json=rows).json()["predictions"]
    results = []

    def client(i):
        with httpx.Client() as http:
            for _ in range(10):
                row = rows[i % len(rows)]
                results.append((i, http.post(url, json=[row]).json()["predictions"][0]))

    threads = [threading.Thread(target=client, args=(i,)) for i in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert len(results) == 80
    for i, prediction in results:
        assert prediction == expected[i % len(rows)]


def test_kiln_predict_against_the_running_server(server, rows, tmp_path, run_cli):
    path = tmp_path / "rows.csv"
    pd.DataFrame(rows).to_csv(path, index=False)
    result = run_cli(
        "predict", "--endpoint", "churn", "--data", str(path), "--url", server, "--json", check=True
    )
    assert len(json.loads(result.stdout)["predictions"]) == 4
    as_json = tmp_path / "rows.json"
    as_json.write_text(json.dumps(rows))
    table = run_cli(
        "predict", "--endpoint", "churn", "--data", str(as_json), "--url", server, check=True
    )
    assert "Predictions of churn" in table.stdout
    wrong = tmp_path / "wrong.json"
    wrong.write_text(json.dumps([dict(rows[0], tenure="x")]))
    refused = run_cli("predict", "--endpoint", "churn", "--data", str(wrong), "--url", server)
    assert refused.returncode == 2 and "'tenure'" in refused.stderr


def test_a_new_deployment_is_picked_up_without_a_restart(server, served, rows):
    ws, result = served  # the server's own copy of the trained workspace
    retrained = ws.train("churn", target="churn", algorithm="linear", name="churn_linear")
    ws.endpoints.deploy(retrained.model.ref, endpoint="churn_v2", allow_unapproved=True)

    # The first request looks at the workspace; a model still loading answers 503 with
    # Retry-After (serving.endpoint-loading), as documented: a client retries.
    def answered():
        response = httpx.post(f"{server}/endpoints/churn_v2/invocations", json=rows)
        loading = response.status_code == 503
        if loading:
            assert response.json()["error"] == "serving.endpoint-loading"
            assert int(response.headers["retry-after"]) >= 1
        return None if loading else response

    response = wait_for(answered, timeout=60, what="the new endpoint to load")
    assert response.status_code == 200 and response.json()["model"] == retrained.model.ref
    assert (
        httpx.post(f"{server}/endpoints/churn/invocations", json=rows).json()["model"]
        == result.model.ref
    )


def test_predict_without_a_server_says_how_to_start_one(tmp_path, rows, run_cli):
    from helpers import free_port

    path = tmp_path / "rows.json"
    path.write_text(json.dumps(rows))
    result = run_cli(
        "predict",
        "--endpoint",
        "churn",
        "--data",
        str(path),
        "--url",
        f"http://127.0.0.1:{free_port()}",
    )
    assert result.returncode == 2 and "kiln serve" in result.stderr
