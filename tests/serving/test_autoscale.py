"""The autoscaler's decisions, as pure functions of metric samples: out after sustained load,
in after it falls, one pool for every endpoint, cool-downs honoured."""

import socket
import threading
import time

import httpx
import pytest

from helpers import free_port, read_response, start_kiln, wait_for
from kiln.serving import server_config
from kiln.serving._autoscale import (
    SUSTAINED_SAMPLES,
    DrainingServer,
    Policy,
    Sample,
    _Totals,
    decide,
    endpoint_value,
    wanted_workers,
)

POLICY = Policy(
    min_workers=1,
    max_workers=4,
    metric="invocations_per_worker",
    target=200.0,
    scale_out_cooldown_seconds=30.0,
    scale_in_cooldown_seconds=120.0,
)


def samples(*values, workers=1, start=0.0):
    return [Sample(start + 5 * i, workers, v) for i, v in enumerate(values)]


def test_scale_out_needs_sustained_load():
    busy = samples(450, 500, 420)  # per worker per minute, one worker
    assert wanted_workers(POLICY, busy[:2], workers=1, now=100, last_change=0) == (1, None)
    spike = samples(100, 900, 100)
    assert wanted_workers(POLICY, spike, workers=1, now=100, last_change=0) == (1, None)
    # The sustained level: ceil(420 / 200) = 3 workers, the least of the three asks.
    assert wanted_workers(POLICY, busy, workers=1, now=100, last_change=0) == (3, busy[-1])
    capped = samples(5000, 5000, 5000)
    assert wanted_workers(POLICY, capped, workers=1, now=100, last_change=0)[0] == 4


def test_cooldowns_are_honoured():
    busy = samples(500, 500, 500)
    assert wanted_workers(POLICY, busy, workers=1, now=100, last_change=80)[0] == 1
    assert wanted_workers(POLICY, busy, workers=1, now=110, last_change=80)[0] == 3
    quiet = samples(50, 60, 40, workers=3)
    assert wanted_workers(POLICY, quiet, workers=3, now=150, last_change=80)[0] == 3
    assert wanted_workers(POLICY, quiet, workers=3, now=200, last_change=80) == (2, quiet[-1])


def test_scale_in_one_worker_at_a_time_when_load_falls():
    # Two workers at 150 each: one would take 300 > 200, so two stay.
    steady = samples(150, 150, 150, workers=2)
    assert wanted_workers(POLICY, steady, workers=2, now=999, last_change=0)[0] == 2
    low = samples(90, 80, 95, workers=2)
    assert wanted_workers(POLICY, low, workers=2, now=999, last_change=0)[0] == 1
    idle = samples(0, 0, 0, workers=4)
    assert wanted_workers(POLICY, idle, workers=4, now=999, last_change=0)[0] == 3


def test_the_pool_follows_the_largest_ask_and_records_its_cause():
    other = Policy(2, 2, "p99_ms", 50.0, 0.0, 0.0)
    policies = {"busy": POLICY, "steady": other}
    history = {"busy": samples(500, 500, 500, workers=2), "steady": samples(10, 10, 10, workers=2)}
    decision = decide(policies, history, workers=2, now=100, last_change=0, base_workers=1)
    assert (decision.endpoint, decision.action, decision.before, decision.after) == (
        "busy",
        "scale-out",
        2,
        4,
    )
    assert decision.metric == "invocations_per_worker" and decision.value == 500
    assert "above its target 200" in decision.reason
    # Load falls on "busy", but "steady" asks for its minimum of 2: the pool stops at 2.
    history = {"busy": samples(0, 0, 0, workers=2), "steady": samples(10, 10, 10, workers=2)}
    assert decide(policies, history, workers=2, now=999, last_change=0, base_workers=1) is None
    history["busy"] = samples(0, 0, 0, workers=3)
    history["steady"] = samples(10, 10, 10, workers=3)
    decision = decide(policies, history, workers=3, now=999, last_change=0, base_workers=1)
    assert (decision.action, decision.after) == ("scale-in", 2)


def test_bounds_apply_at_once_and_no_policy_means_the_base_size():
    decision = decide(
        {"e": Policy(2, 4, "cpu_percent", 60.0, 300.0, 300.0)},
        {},
        workers=1,
        now=1,
        last_change=0,
        base_workers=1,
    )
    assert (decision.action, decision.after, decision.metric) == ("scale-out", 2, "min_workers")
    decision = decide({}, {}, workers=3, now=1, last_change=0, base_workers=1)
    assert (decision.endpoint, decision.action, decision.after) == (None, "scale-in", 1)
    assert decide({}, {}, workers=1, now=1, last_change=0, base_workers=1) is None


def test_metric_values_from_the_workers_counters():
    before = _Totals(100, {0.01: 90, 0.1: 100, float("inf"): 100}, {0.001: 100, float("inf"): 100})
    now = _Totals(700, {0.01: 190, 0.1: 600, float("inf"): 700}, {0.001: 700, float("inf"): 700})
    # 600 requests in 30 s on 2 workers: 1200 a minute, 600 per worker.
    value = endpoint_value(
        "invocations_per_worker", now, before, seconds=30, workers=2, cpu_percent=None
    )
    assert value == pytest.approx(600)
    p99 = endpoint_value("p99_ms", now, before, seconds=30, workers=2, cpu_percent=None)
    assert p99 == pytest.approx(101.0)  # 100 ms (model) + 1 ms (overhead), bucket bounds
    quiet = endpoint_value("p99_ms", now, now, seconds=30, workers=2, cpu_percent=None)
    assert quiet == 0.0
    assert endpoint_value("cpu_percent", now, before, seconds=30, workers=2, cpu_percent=42) == 42
    assert SUSTAINED_SAMPLES == 3


def test_kiln_serve_workers_follow_a_load_ramp_without_a_failed_request(trained_copy, tmp_path):
    """A real 'kiln serve' on loopback: workers grow under sustained load and shrink when it
    falls, and every request of the ramp, before, during and after each change, is answered."""
    ws, result = trained_copy
    ws.endpoints.set_autoscale(
        "churn",
        min_workers=1,
        max_workers=2,
        target_invocations_per_worker=600,  # 10 a second
        scale_out_cooldown="0s",
        scale_in_cooldown="1s",
    )
    test = ws.data.load(result.job.result["splits"]["test"]).head(1).drop(columns=["churn"])
    rows = test.astype(object).where(test.notna(), None).to_dict("records")
    port = free_port()
    log = tmp_path / "serve.log"
    process = start_kiln(
        "serve", "--port", str(port), "--autoscale-interval", "0.5", "--log-level", "warning",
        home=ws.home, log=log, new_session=True,
    )  # fmt: skip
    url = f"http://127.0.0.1:{port}"
    failures: list[str] = []
    answered = [0]
    # Busy: two threads at ~25 requests a second each (3,000 a minute on one worker, five times
    # the target, leaving CPU for the worker being added to start); light: one at ~4 a second.
    clients = {"busy": 2, "light": 0}
    stop = threading.Event()

    def up() -> bool:
        if process.poll() is not None:
            raise AssertionError(f"kiln serve exited:\n{log.read_text()}")
        try:
            return httpx.get(f"{url}/ping", timeout=2).status_code == 200
        except httpx.TransportError:
            return False

    def load(index: int) -> None:
        with httpx.Client(base_url=url, timeout=30) as client:  # keep-alive connections
            while not stop.is_set():
                busy = index < clients["busy"]
                if not busy and not (index == 0 and clients["light"]):
                    time.sleep(0.05)
                    continue
                try:
                    response = client.post("/endpoints/churn/invocations", json=rows)
                    if response.status_code != 200:
                        failures.append(f"{response.status_code} {response.text[:200]}")
                    answered[0] += 1
                except httpx.HTTPError as exc:
                    failures.append(repr(exc))
                time.sleep(0.04 if busy else 0.25)

    def actions() -> list[str]:
        return [e.action for e in ws.endpoints.scaling_events("churn")]

    try:
        wait_for(up, timeout=120, what=f"kiln serve to start ({log})")
        threads = [threading.Thread(target=load, args=(i,), daemon=True) for i in range(2)]
        for thread in threads:
            thread.start()
        wait_for(lambda: "scale-out" in actions(), timeout=60, what="a scale-out")
        pids = wait_for(
            lambda: len({httpx.get(f"{url}/ping", timeout=5).json()["pid"] for _ in range(8)}) > 1,
            timeout=60,
            what="a second worker answering",
        )
        assert pids
        clients.update(busy=0, light=1)  # the load falls; requests keep coming while it shrinks
        wait_for(lambda: actions()[-1:] == ["scale-in"], timeout=60, what="a scale-in")
        time.sleep(1.0)  # requests after the retired worker left
    finally:
        stop.set()
        process.terminate()
        process.wait(timeout=60)
    assert failures == [], failures[:5]
    events = ws.endpoints.scaling_events("churn")
    out = next(e for e in events if e.action == "scale-out")
    assert (out.before, out.after, out.metric) == (1, 2, "invocations_per_worker")
    assert out.value > 600
    assert events[-1].after == 1 and events[-1].value < 600
    assert answered[0] > 50


def test_a_retiring_worker_answers_its_idle_keep_alive_clients_then_closes(trained):
    """uvicorn's own shutdown closes an idle keep-alive connection at once, losing the request
    its client sends next; a draining worker answers it, with connection: close."""
    ws, _ = trained
    port = free_port()
    server = DrainingServer(server_config(ws, port=port, log_level="warning"))
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    wait_for(lambda: server.started, timeout=60, what="the server to start")
    ping = b"GET /ping HTTP/1.1\r\nhost: 127.0.0.1\r\n\r\n"
    with socket.create_connection(("127.0.0.1", port), timeout=30) as sock:
        stream = sock.makefile("rb")
        sock.sendall(ping)
        first = read_response(stream)
        assert first.startswith(b"HTTP/1.1 200") and b"connection: close" not in first.lower()
        server.should_exit = True  # what SIGTERM does
        wait_for(lambda: server.draining, timeout=30, what="the drain to begin")
        sock.sendall(ping)  # the client's next request on its idle keep-alive connection
        second = read_response(stream)
        assert second.startswith(b"HTTP/1.1 200") and b"connection: close" in second.lower()
        assert stream.read(1) == b""  # then the server closes the connection
    thread.join(timeout=30)
    assert not thread.is_alive()
