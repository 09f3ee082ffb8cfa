"""The request readers (RequestSchema) on their own: JSON bodies and CSV bodies against a signature
with every storage type. The HTTP tests (test_app.py) run the same readers behind a real model."""

from __future__ import annotations

import csv
import datetime
import io

import numpy as np
import orjson
import pytest
from hypothesis import HealthCheck, event, given, settings
from hypothesis import strategies as st

from kiln.errors import RequestError
from kiln.serving import RequestSchema
from test_errors import _documented_codes

SIGNATURE = {
    "inputs": [
        {"name": "n", "type": "numeric", "dtype": "number"},
        {"name": "c", "type": "categorical", "dtype": "string", "categories": ["a", "b"]},
        {"name": "b", "type": "boolean", "dtype": "boolean", "categories": [False, True]},
        {"name": "d", "type": "datetime", "dtype": "date"},
        {"name": "t", "type": "datetime", "dtype": "time"},
        {"name": "ts", "type": "datetime", "dtype": "datetime"},
    ],
    "ignored": [{"name": "id", "type": "identifier"}],
    "outputs": {"problem_type": "regression", "target": "y"},
}
ROW = {"n": 1.5, "c": "a", "b": True, "d": "2023-01-05", "t": "12:30:00", "ts": "2023-01-05T12:00"}


@pytest.fixture(scope="module")
def schema():
    return RequestSchema(SIGNATURE)


def read_json(schema: RequestSchema, body) -> tuple[dict, list[str]]:
    """What the endpoint does with a JSON body: parse, find the records, check their columns."""
    raw = body if isinstance(body, bytes) else orjson.dumps(body)
    return schema.columns_from_records(schema.records(schema.parse_json(raw)))


def csv_body(rows: list[dict], *, newline: str = "\n") -> bytes:
    names = list(rows[0])
    lines = [",".join(names)] + [
        ",".join("" if r[n] is None else str(r[n]) for n in names) for r in rows
    ]
    return (newline.join(lines) + newline).encode()


def error(call, *args) -> RequestError:
    with pytest.raises(RequestError) as caught:
        call(*args)
    return caught.value


# -- dates, times and date-times (issue 19, item 2) --------------------------------------------
def test_valid_temporal_values_are_converted_like_the_training_data(schema):
    data, warnings = read_json(schema, [ROW, dict(ROW, d=None, t=None, ts=None)])
    assert list(data["d"]) == [datetime.date(2023, 1, 5), None]
    assert list(data["t"]) == [datetime.time(12, 30), None]
    assert data["ts"][0] == np.datetime64("2023-01-05T12:00") and np.isnat(data["ts"][1])
    assert warnings == []
    frame, _ = schema.frame_from_csv(csv_body([ROW, dict(ROW, d=None, t=None, ts=None)]))
    assert list(frame["d"]) == [datetime.date(2023, 1, 5), None]
    assert list(frame["t"]) == [datetime.time(12, 30), None]
    assert frame["ts"].iloc[0] == np.datetime64("2023-01-05T12:00") and frame["ts"].isna().iloc[1]


@pytest.mark.parametrize(
    ("column", "value"),
    [
        ("d", "not a date"),
        ("d", ""),
        ("d", "2023-99-99"),
        ("d", "10000-01-01"),
        ("d", "2023-01-05T10:00"),
        ("t", "25:00"),
        ("t", "noon"),
        ("ts", "not a date"),
        ("ts", ""),
        ("ts", "2023-99-99"),
        ("ts", "10000-01-01"),
    ],
)
def test_invalid_temporal_values_are_a_wrong_type_naming_the_row_over_json_and_csv(
    schema, column, value
):
    rows = [ROW, dict(ROW, **{column: value})]
    found = error(read_json, schema, rows)
    assert (found.code, found.field) == ("request.wrong-type", column)
    assert "row 1" in found.message and repr(value) in found.message
    if value:  # an empty CSV field is a missing value, as everywhere in CSV
        found = error(schema.frame_from_csv, csv_body(rows))
        assert (found.code, found.field) == ("request.wrong-type", column)
        assert "row 1" in found.message and repr(value) in found.message


def test_a_legacy_signature_of_a_date_column_keeps_its_strings_but_checks_them():
    """Models trained before dates had their own storage type recorded a date column as a
    string; its requests pass the text on as before, and text that is no date is refused."""
    legacy = RequestSchema(
        {
            "inputs": [{"name": "d", "type": "datetime", "dtype": "string"}],
            "outputs": {"problem_type": "regression", "target": "y"},
        }
    )
    data, _ = read_json(legacy, [{"d": "2023-01-05"}, {"d": "2023-01-05T10:00"}, {"d": None}])
    assert list(data["d"]) == ["2023-01-05", "2023-01-05T10:00", None]
    frame, _ = legacy.frame_from_csv(b"d\n2023-01-05\n")
    assert list(frame["d"]) == ["2023-01-05"]
    for bad in ("not a date", "", "2023-99-99"):
        assert error(read_json, legacy, [{"d": bad}]).code == "request.wrong-type"
    assert error(legacy.frame_from_csv, b"d\nnot a date\n").code == "request.wrong-type"


# -- numbers (item 5) ---------------------------------------------------------------------------
@pytest.mark.parametrize("text", [b"1e400", b"-1e400", b"NaN", b"Infinity"])
def test_json_cannot_carry_a_non_finite_number(schema, text):
    import orjson

    with pytest.raises(orjson.JSONDecodeError):
        schema.parse_json(b'[{"n": ' + text + b"}]")


@pytest.mark.parametrize("value", ["inf", "-inf", "1e400"])
def test_a_csv_number_must_be_finite(schema, value):
    found = error(schema.frame_from_csv, csv_body([ROW, dict(ROW, n=value)]))
    assert (found.code, found.field) == ("request.wrong-type", "n")
    assert "row 1" in found.message and "finite" in found.message


# -- duplicates (item 6) ------------------------------------------------------------------------
def _json_row(pairs: list[tuple[str, object]]) -> bytes:
    return b"{" + b",".join(orjson.dumps(k) + b":" + orjson.dumps(v) for k, v in pairs) + b"}"


@pytest.mark.parametrize(
    "template",
    [b"[%s,%s]", b'{"instances": [%s, %s]}', b'{"instances":[%s,%s],"meta":{"x:y":1}}'],
)
def test_a_json_key_given_twice_is_refused_naming_it_and_the_row(schema, template):
    good = _json_row(list(ROW.items()))
    twice = _json_row([*ROW.items(), ("n", 2.5)])
    found = error(read_json, schema, template % (good, twice))
    assert (found.code, found.field) == ("request.duplicate-column", "n")
    assert "Row 1" in found.message


@pytest.mark.parametrize(
    "extra",
    [
        # colons inside values and keys, escaped quotes and colons: no duplicate, nothing refused
        b'"id": "a:b\\"c\\\\d"',
        b'"id": "\\u003a:\\u003A"',
        b'"id": {"nested": {"x": 1, "y": [1, {"z:": ":"}], "w": {}}}',
        b'"id": [[[[":"]]]]',
    ],
)
def test_json_bodies_without_duplicates_pass_the_check(schema, extra):
    body = b"[" + _json_row(list(ROW.items()))[:-1] + b", " + extra + b"}]"
    data, _ = read_json(schema, body)
    assert data["n"][0] == 1.5


def test_a_duplicate_hidden_by_an_escaped_colon_is_still_found(schema):
    # One \u003a escape (a colon the raw body does not show) and one duplicate key (a colon the
    # parsed body does not show) balance the cheap count: the escape alone means a full check.
    body = b'[{"id": "\\u003a", ' + _json_row(list(ROW.items()))[1:-1] + b', "c": "b"}]'
    assert error(read_json, schema, body).code == "request.duplicate-column"


def test_a_duplicate_in_a_nested_value_is_the_value_s_problem(schema):
    body = b"[" + _json_row([*ROW.items()])[:-1] + b', "id": {"k": 1, "k": 2}}]'
    data, _ = read_json(schema, body)  # an ignored column's value, whatever it holds
    assert data["n"][0] == 1.5


def test_the_instances_key_given_twice_is_refused(schema):
    row = _json_row(list(ROW.items()))
    found = error(read_json, schema, b'{"instances": [%s], "instances": [%s]}' % (row, row))
    assert (found.code, found.field) == ("request.duplicate-column", "instances")


@pytest.mark.parametrize("header", ["n,c,b,d,t,ts,n", "n,c,b,d,t,ts,id,id"])
def test_a_csv_column_given_twice_is_refused(schema, header):
    values = ",".join(["1.5", "a", "true", "2023-01-05", "12:30", "2023-01-05T12:00", "9", "9"])
    body = f"{header}\n{','.join(values.split(',')[: len(header.split(','))])}\n".encode()
    found = error(schema.frame_from_csv, body)
    assert found.code == "request.duplicate-column" and found.field == header.split(",")[-1]


# -- CSV bodies (item 7) ------------------------------------------------------------------------
@pytest.mark.parametrize("newline", ["\n", "\r\n", "\r"])
def test_csv_line_endings(schema, newline):
    frame, _ = schema.frame_from_csv(csv_body([ROW, dict(ROW, n=2.5)], newline=newline))
    assert list(frame["n"]) == [1.5, 2.5]


def test_csv_with_a_byte_order_mark(schema):
    frame, _ = schema.frame_from_csv(b"\xef\xbb\xbf" + csv_body([ROW]))
    assert list(frame["n"]) == [1.5]


def test_csv_header_with_a_quoted_newline_is_an_unknown_column(schema):
    body = csv_body([ROW]).replace(b"n,c,", b'n,c,"x\ny",', 1).replace(b"\n1.5,a,", b"\n1.5,a,0,")
    found = error(schema.frame_from_csv, body)
    assert (found.code, found.field) == ("request.unknown-column", "x\ny")


def test_a_quote_never_closed_in_a_csv_body_is_refused_not_a_lost_tail(schema):
    """Arrow alone reads the rows after such a quote into the last value: 5 rows scored as 2."""
    rows = [{k: v for k, v in ROW.items() if k != "c"} | {"c": f"v{i}"} for i in range(5)]
    lines = csv_body(rows).decode().splitlines()
    lines[2] = lines[2].replace(",v1", ',"v1')
    found = error(schema.frame_from_csv, ("\n".join(lines) + "\n").encode())
    assert found.code == "request.bad-row"
    assert "line 3" in found.message and "never closed" in found.message


@pytest.mark.parametrize(
    ("body", "code"),
    [
        (b"n,c,b,d,t,ts,\n1,a,true,2023-01-05,12:30,2023-01-05,\n", "request.unnamed-column"),
        (b"n,,c,b,d,t,ts\n1,,a,true,2023-01-05,12:30,2023-01-05\n", "request.unnamed-column"),
        (b"n,c,b,d,t,ts\n", "request.empty"),
        (b"n,c,b,d,t,ts", "request.empty"),
        (b"\xef\xbb\xbf", "request.empty"),
        (b"n,c\xff,b,d,t,ts\n1,a,true,2023-01-05,12:30,2023-01-05\n", "request.bad-body"),
        (b"n,c,b,d,t,ts\n1,a\xff,true,2023-01-05,12:30,2023-01-05\n", "request.bad-body"),
        (b"n,c,b,d,t,ts\n1,a,true,2023-01-05,12:30,2023-01-05,extra\n", "request.bad-row"),
        (b"n,c,b,d,t,ts\n1,a\n", "request.bad-row"),
        (b'n,c,b,d,t,ts\n1,"a,true,2023-01-05,12:30,2023-01-05\n', "request.bad-row"),
        (b"n,c,b,d,t,ts\nx,a,true,2023-01-05,12:30,2023-01-05\n", "request.wrong-type"),
        (b"n,c,b,d,t,ts\n1,a,maybe,2023-01-05,12:30,2023-01-05\n", "request.wrong-type"),
    ],
)
def test_bad_csv_bodies_are_a_4xx(schema, body, code):
    assert error(schema.frame_from_csv, body).code == code


def test_a_csv_wrong_type_names_the_column_the_row_and_the_value(schema):
    rows = [ROW, ROW, dict(ROW, n="many")]
    found = error(schema.frame_from_csv, csv_body(rows))
    assert found.field == "n" and "row 2" in found.message and "'many'" in found.message


# -- values echoed in messages (items 8 and 16) -------------------------------------------------
def test_a_deeply_nested_row_is_a_bad_row_with_a_short_rendering(schema):
    depth = 1000
    body = b"[" + b"[" * depth + b"]" * depth + b"]"
    found = error(read_json, schema, body)
    assert found.code == "request.bad-row" and len(found.message) < 300


def test_a_deeply_nested_value_is_a_wrong_type_with_a_short_rendering(schema):
    depth = 1000
    row = _json_row(list(ROW.items()))
    body = b"[" + row.replace(b'"n":1.5', b'"n":' + b"[" * depth + b"]" * depth) + b"]"
    found = error(read_json, schema, body)
    assert (found.code, found.field) == ("request.wrong-type", "n")
    assert len(found.message) < 400


HUGE = "x" * 1_000_000
BIG = "x" * 1000


@pytest.mark.parametrize(
    "body",
    [
        [dict(ROW, **{HUGE: 1})],  # an unknown key
        [dict(ROW, n=HUGE)],  # a wrong type
        [dict(ROW, d=HUGE)],  # not a date
        [dict(ROW, ts=HUGE)],  # not a date-time
        [HUGE],  # a row that is not an object
        {HUGE: []},  # an object without instances
        [dict(ROW, n=[[BIG] * 50] * 50)],  # a wrong type that is a big structure
    ],
)
def test_json_errors_echo_values_truncated(schema, body):
    found = error(read_json, schema, body)
    assert len(found.message) < 500
    assert found.field is None or len(found.field) <= 100


def test_warnings_echo_unseen_values_truncated(schema):
    _, warnings = read_json(schema, [dict(ROW, c=HUGE)] * 30)
    assert warnings and all(len(w) < 500 for w in warnings)


@pytest.mark.parametrize(
    "body",
    [
        f"n,c,b,d,t,ts,{HUGE}\n1,a,true,2023-01-05,12:30,2023-01-05,1\n".encode(),
        f"n,c,b,d,t,ts\n{HUGE},a,true,2023-01-05,12:30,2023-01-05\n".encode(),
        f"n,c,b,d,t,ts\n1,a,true,{HUGE},12:30,2023-01-05\n".encode(),
        f"n,c,b,d,t,ts\n1,a,true,2023-01-05,12:30,2023-01-05,{HUGE}\n".encode(),
    ],
)
def test_csv_errors_echo_values_truncated(schema, body):
    found = error(schema.frame_from_csv, body)
    assert len(found.message) < 500
    assert found.field is None or len(found.field) <= 100


def test_the_truncation_helper():
    from kiln.serving._validation import shown

    assert shown("abc") == "'abc'"
    assert shown("abc", quote=False) == "abc"
    long = shown("y" * 10_000)
    assert len(long) < 100 and "10,000 characters" in long
    assert len(shown("y" * 10_000, quote=False)) <= 80
    nested: list = []
    for _ in range(5000):
        nested = [nested]
    assert len(shown(nested)) < 100  # no RecursionError
    assert len(shown({i: "z" * 1000 for i in range(1000)})) < 200


# -- property-based: whatever the body, rows or a documented 4xx --------------------------------
DOCUMENTED = _documented_codes()
PROPERTY = settings(max_examples=100, deadline=None, suppress_health_check=[HealthCheck.too_slow])

# Values as JSON text, so that bodies can also hold what orjson will not write: a key twice, an
# array nested a thousand deep.
scalars = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(min_value=-(2**63), max_value=2**64 - 1),
    st.floats(allow_nan=False, allow_infinity=False),
    st.text(max_size=30),
    st.builds(lambda c, n: c * n, st.characters(), st.integers(0, 100_000)),  # huge strings
    st.dates().map(str),
    st.times().map(str),
    st.datetimes(timezones=st.none() | st.timezones()).map(lambda d: d.isoformat()),
    st.sampled_from(["", " ", "a", "b", "true", "NaN", "2023-99-99", "12:30", "1e5", ":"]),
)
nested = st.recursive(
    scalars,
    lambda inner: (
        st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=5), inner, max_size=3)
    ),
    max_leaves=6,
)
fragments = st.one_of(
    nested.map(orjson.dumps),
    st.integers(1, 1_030).map(lambda d: b"[" * d + b"]" * d),
    st.integers(2**64, 2**70).map(lambda i: str(i).encode()),  # orjson reads them as floats
    st.sampled_from([b"1e400", b"-1e999", b"NaN", b"Infinity", b'"\\u003a"', b'"\\ud800"']),
)


def _body(pairs_per_row: list[list[tuple[str, bytes]]], wrap: str) -> bytes:
    rows = [
        b"{" + b",".join(orjson.dumps(k) + b":" + v for k, v in pairs) + b"}"
        for pairs in pairs_per_row
    ]
    listed = b"[" + b",".join(rows) + b"]"
    return {"list": listed, "instances": b'{"instances":' + listed + b"}"}.get(wrap, wrap.encode())


def _sometimes(draw) -> bool:
    """True one time in eight: each kind of damage is rare enough that many bodies stay valid."""
    return draw(st.integers(0, 7)) == 0


@st.composite
def json_rows(draw, base: list[dict]) -> list[list[tuple[str, bytes]]]:
    """Rows that start from real ones and are mutated: values replaced, keys dropped, unknown
    or repeated keys added, the order shuffled."""
    out = []
    for _ in range(draw(st.integers(1, 3))):
        row = draw(st.sampled_from(base))
        pairs = [(k, orjson.dumps(v)) for k, v in row.items()]
        if _sometimes(draw):
            i = draw(st.integers(0, len(pairs) - 1))
            pairs[i] = (pairs[i][0], draw(fragments))
        if _sometimes(draw):
            del pairs[draw(st.integers(0, len(pairs) - 1))]
        if _sometimes(draw):
            pairs.append((draw(st.text(max_size=8)), draw(fragments)))
        if _sometimes(draw):
            pairs.append((draw(st.sampled_from(pairs))[0], draw(fragments)))
        out.append(draw(st.permutations(pairs)))
    return out


def _readers_json(schema: RequestSchema, body: bytes):
    try:
        data, _ = read_json(schema, body)
    except orjson.JSONDecodeError:
        event("request.malformed-json")  # what the app answers
        return None
    except RequestError as error:
        assert error.code in DOCUMENTED, error.code
        assert len(error.message) < 2_000 and len(error.field or "") <= 100
        event(error.code)
        return None
    event("read")
    return data


@PROPERTY
@given(
    rows=json_rows([ROW, dict(ROW, d=None, t="23:59:59.5", c="zz")]),
    wrap=st.sampled_from(["list"] * 4 + ["instances"] * 2 + ["3", '"x"', "{}"]),
)
def test_json_reader_gives_columns_or_a_documented_error(schema, rows, wrap):
    data = _readers_json(schema, _body(rows, wrap))
    if data is not None:
        assert all(len(values) == len(rows) for values in data.values())


csv_cells = st.one_of(
    scalars.map(lambda v: "" if v is None else str(v)),
    st.sampled_from(["inf", "-inf", "1e400", '"', "a,b", "x\ny", "\r", "NA", "\xff"]),
)


@st.composite
def csv_bodies(draw, base: list[dict]) -> bytes:
    header = list(base[0])
    if _sometimes(draw):
        del header[draw(st.integers(0, len(header) - 1))]
    if _sometimes(draw):
        header.append(draw(st.sampled_from([*base[0], "", " ", "zz", "x\ny"])))
    header = draw(st.permutations(header))
    rows = []
    for _ in range(draw(st.integers(0, 3))):
        row = draw(st.sampled_from(base))
        cells = ["" if row.get(h) is None else str(row.get(h, "")) for h in header]
        if cells and _sometimes(draw):
            cells[draw(st.integers(0, len(cells) - 1))] = draw(csv_cells)
        if draw(st.integers(0, 9)) == 0:
            cells.append("extra")
        rows.append(cells)
    text = io.StringIO()
    writer = csv.writer(text, lineterminator=draw(st.sampled_from(["\n", "\r\n", "\r"])))
    writer.writerow(header)
    writer.writerows(rows)
    body = (
        text.getvalue().replace("\xff", "").encode()
        if draw(st.booleans())
        else text.getvalue().encode()
    )
    if draw(st.integers(0, 9)) == 0:
        body = body.replace(b"\xc3\xbf", b"\xff")  # a byte that is not UTF-8
    return (b"\xef\xbb\xbf" if draw(st.integers(0, 4)) == 0 else b"") + body


@PROPERTY
@given(body=csv_bodies([ROW, dict(ROW, d=None, t="23:59:59.5", c="zz")]))
def test_csv_reader_gives_a_frame_or_a_documented_error(schema, body):
    try:
        frame, _ = schema.frame_from_csv(body)
    except RequestError as error:
        assert error.code in DOCUMENTED, error.code
        assert len(error.message) < 2_000 and len(error.field or "") <= 100
        event(error.code)
        return
    event("read")
    assert set(schema.columns) <= set(frame.columns)


# -- the same bodies sent to a real endpoint: predictions, or a documented 4xx -----------------
@pytest.fixture(scope="module")
def churn(trained):
    from fastapi.testclient import TestClient

    from kiln.serving import create_app

    ws, result = trained
    test = ws.data.load(result.job.result["splits"]["test"]).head(5).drop(columns=["churn"])
    rows = test.astype(object).where(test.notna(), None).to_dict("records")
    with TestClient(create_app(ws), base_url="http://localhost") as client:
        yield client, rows


def _answer(client, body: bytes, content_type: str) -> dict:
    response = client.post(
        "/endpoints/churn/invocations", content=body, headers={"content-type": content_type}
    )
    assert response.status_code == 200 or 400 <= response.status_code < 500, response.text[:300]
    answer = response.json()
    if response.status_code != 200:
        assert answer["error"] in DOCUMENTED, answer
        assert len(response.content) < 4_000
        event(answer["error"])
    else:
        event("predicted")
    return answer


@PROPERTY
@given(data=st.data())
def test_an_endpoint_answers_any_json_body_with_predictions_or_a_documented_4xx(churn, data):
    client, rows = churn
    pairs = data.draw(json_rows(rows))
    wrap = data.draw(st.sampled_from(["list"] * 4 + ["instances"] * 2 + ["3", "{}"]))
    answer = _answer(client, _body(pairs, wrap), "application/json")
    if "predictions" in answer:
        assert len(answer["predictions"]) == len(pairs)


@PROPERTY
@given(data=st.data())
def test_an_endpoint_answers_any_csv_body_with_predictions_or_a_documented_4xx(churn, data):
    client, rows = churn
    _answer(client, data.draw(csv_bodies(rows)), "text/csv")


def test_date_times_with_and_without_offsets_in_one_request_are_refused(schema):
    rows = [dict(ROW, ts="2023-01-05T12:00:00+02:00"), dict(ROW, ts="2023-01-05T12:00:00")]
    found = error(read_json, schema, rows)
    assert (found.code, found.field) == ("request.wrong-type", "ts")
    data, _ = read_json(schema, [dict(ROW, ts="2023-01-05T12:00:00+02:00")] * 2)
    assert data["ts"][0] == data["ts"][1]


# -- boolean columns (issue 11) -----------------------------------------------------------------
BOOLEANS = {
    "inputs": [
        {"name": "yn", "type": "boolean", "dtype": "string", "categories": ["no", "yes"]},
        {"name": "bit", "type": "boolean", "dtype": "number", "categories": [0, 1]},
        {"name": "flag", "type": "boolean", "dtype": "boolean", "categories": [False, True]},
    ],
    "outputs": {"problem_type": "regression", "target": "y"},
}


def test_a_boolean_column_takes_json_booleans_as_the_training_data_wrote_them():
    schema = RequestSchema(BOOLEANS)
    rows = [{"yn": True, "bit": True, "flag": True}, {"yn": False, "bit": False, "flag": None}]
    columns, warnings = read_json(schema, rows)
    assert columns["yn"].tolist() == ["yes", "no"] and columns["bit"].tolist() == [1.0, 0.0]
    assert columns["flag"].tolist() == [True, None] and warnings == []
    # the words that spell a boolean are read the same, in JSON and in CSV
    columns, warnings = read_json(schema, [{"yn": "True", "bit": 1, "flag": False}])
    assert columns["yn"].tolist() == ["yes"] and warnings == []
    frame, warnings = schema.frame_from_csv(b"yn,bit,flag\ntrue,1,true\nNO,0,false\n")
    assert frame["yn"].tolist() == ["yes", "no"] and warnings == []
    properties = schema.json_schema()["properties"]
    assert properties["yn"]["type"] == ["string", "boolean", "null"]
    assert properties["bit"]["type"] == ["number", "boolean", "null"]


def test_an_unknown_value_in_a_boolean_column_is_an_unseen_category_over_json_and_csv():
    schema = RequestSchema(BOOLEANS)
    columns, warnings = read_json(schema, [{"yn": "maybe", "bit": 2, "flag": True}])
    assert columns["yn"].tolist() == ["maybe"] and len(warnings) == 2
    assert "'yn'" in warnings[0] and "'maybe'" in warnings[0] and "'bit'" in warnings[1]
    _, warnings = schema.frame_from_csv(b"yn,bit,flag\nmaybe,1,true\n")
    assert len(warnings) == 1 and "'maybe'" in warnings[0]
    # a value of another storage type is still a wrong type, as in a categorical column
    found = error(read_json, schema, [{"yn": 1, "bit": 1, "flag": True}])
    assert found.code == "request.wrong-type" and found.field == "yn"
