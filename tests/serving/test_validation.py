"""The request readers (RequestSchema) on their own: JSON bodies and CSV bodies against a signature
with every storage type. The HTTP tests (test_app.py) run the same readers behind a real model."""

from __future__ import annotations

import datetime

import numpy as np
import orjson
import pytest

from kiln.errors import RequestError
from kiln.serving import RequestSchema

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


def test_date_times_with_and_without_offsets_in_one_request_are_refused(schema):
    rows = [dict(ROW, ts="2023-01-05T12:00:00+02:00"), dict(ROW, ts="2023-01-05T12:00:00")]
    found = error(read_json, schema, rows)
    assert (found.code, found.field) == ("request.wrong-type", "ts")
    data, _ = read_json(schema, [dict(ROW, ts="2023-01-05T12:00:00+02:00")] * 2)
    assert data["ts"][0] == data["ts"][1]
