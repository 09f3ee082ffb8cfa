"""Schemathesis against the served OpenAPI document: no 500s, answers as documented.

Generated requests (a bounded number per operation, so the suite stays fast) hit every route of
the app for the ``trained`` workspace; each answer must be a documented status with a body that
matches its documented schema, and never a server error. (Driven with hypothesis directly:
schemathesis' own pytest plugin does not run on this pytest.)
"""

import pytest
import schemathesis
from hypothesis import HealthCheck, given, settings

from kiln.serving import create_app

ROUTES = [
    ("/ping", "GET"),
    ("/metrics", "GET"),
    ("/endpoints", "GET"),
    ("/endpoints/{name}", "GET"),
    ("/endpoints/{name}/invocations", "POST"),
    ("/endpoints/{name}/models/{group}/{version}/invocations", "POST"),
    ("/metrics", "GET"),
    ("/async-invocations/{inference_id}", "GET"),
    ("/async-invocations/{inference_id}/result", "GET"),
    ("/features/{group}/records/{record_id}", "GET"),
]
# The multi-model path form ends in the handler of /endpoints/{name}/invocations, fuzzed above:
# fewer examples for its own part (the path's names).
EXAMPLES = {("/endpoints/{name}/models/{group}/{version}/invocations", "POST"): 20}
# Routes that write to the workspace: fuzzed on a private copy of it.
WRITING_ROUTES = [
    ("/endpoints/{name}/ground-truth", "POST"),
    ("/endpoints/{name}/actuals", "POST"),
    ("/endpoints/{name}/async-invocations", "POST"),
    ("/features/{group}/records", "PUT"),
    ("/features/{group}/records", "POST"),
]
HOST = {"host": "localhost"}


@pytest.fixture(scope="module")
def api_schema(trained):
    ws, _ = trained
    return schemathesis.openapi.from_asgi("/openapi.json", create_app(ws), headers=HOST)


def test_every_route_is_fuzzed(api_schema):
    documented = {
        (result.ok().path, result.ok().method.upper()) for result in api_schema.get_all_operations()
    }
    assert documented == set(ROUTES + WRITING_ROUTES)


@pytest.fixture(scope="module")
def writable_schema(trained, tmp_path_factory):
    from conftest import copy_workspace

    source, _ = trained
    ws = copy_workspace(source, tmp_path_factory.mktemp("fuzz") / "ws")
    yield schemathesis.openapi.from_asgi("/openapi.json", create_app(ws), headers=HOST)
    ws.close()


@pytest.mark.parametrize(("path", "method"), ROUTES + WRITING_ROUTES)
def test_route_answers_as_documented(api_schema, writable_schema, path, method):
    schema = writable_schema if (path, method) in WRITING_ROUTES else api_schema
    operation = schema[path][method]

    @given(case=operation.as_strategy())
    @settings(
        max_examples=EXAMPLES.get((path, method), 60),
        deadline=None,
        derandomize=True,
        suppress_health_check=list(HealthCheck),
    )
    def check(case):
        case.call_and_validate(headers=HOST)

    check()
