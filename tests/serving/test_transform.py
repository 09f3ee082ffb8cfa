import pandas as pd
import pytest

from conftest import copy_workspace
from kiln.errors import DataError


@pytest.fixture(scope="module")
def trained(trained, tmp_path_factory):
    """This module's own copy of the session's workspace: each transform records a job."""
    source, result = trained
    workspace = copy_workspace(source, tmp_path_factory.mktemp("transform_ws") / "ws")
    yield workspace, result
    workspace.close()


@pytest.fixture(scope="module")
def scored_input(trained, tmp_path_factory):
    ws, result = trained
    folder = tmp_path_factory.mktemp("transform")
    test = ws.data.load(result.job.result["splits"]["test"])
    path = folder / "input.csv"
    test.assign(customer=[f"c{i}" for i in range(len(test))]).to_csv(path, index=False)
    return path, test


def test_csv_to_csv_in_chunks_keeps_input_columns_and_matches_the_model(
    trained, scored_input, tmp_path
):
    ws, result = trained
    path, test = scored_input
    output = tmp_path / "out.csv"
    job = ws.transform(result.model.ref, input=path, output=output, chunk_rows=500)
    assert job.status == "Completed" and job.result["rows"] == len(test)
    out = pd.read_csv(output)
    assert list(out.columns[:21]) == [*test.columns, "customer"]
    assert {"prediction", "probability_No", "probability_Yes"} <= set(out.columns)
    expected = ws.models.load(result.model.ref).predict_proba(test)[:, 1]
    assert out["probability_Yes"].to_numpy() == pytest.approx(expected, abs=1e-9)
    assert ((out["probability_Yes"] > 0.5) == (out["prediction"] == "Yes")).all()


def test_parquet_output_with_only_an_id_column(trained, scored_input, tmp_path):
    ws, result = trained
    path, test = scored_input
    output = tmp_path / "out.parquet"
    ws.transform(result.model.ref, input=path, output=output, keep="id", id_column="customer")
    out = pd.read_parquet(output)
    assert list(out.columns) == ["customer", "prediction", "probability_No", "probability_Yes"]
    assert len(out) == len(test)


def test_parquet_input(trained, scored_input, tmp_path):
    ws, result = trained
    path, test = scored_input
    parquet = tmp_path / "in.parquet"
    pd.read_csv(path).to_parquet(parquet)
    job = ws.transform(
        result.model.ref, input=parquet, output=tmp_path / "o.csv", keep="none", chunk_rows=300
    )
    assert job.result["rows"] == len(test)
    assert list(pd.read_csv(tmp_path / "o.csv").columns) == [
        "prediction",
        "probability_No",
        "probability_Yes",
    ]


@pytest.mark.parametrize("source", ["csv", "parquet"])
def test_the_output_keeps_the_input_types(trained, scored_input, tmp_path, source):
    import pyarrow.parquet as pq

    ws, result = trained
    path, test = scored_input
    if source == "parquet":
        path = tmp_path / "in.parquet"
        pd.read_csv(scored_input[0]).to_parquet(path)
    output = tmp_path / "out.parquet"
    ws.transform(result.model.ref, input=path, output=output, chunk_rows=500)
    types = {field.name: str(field.type) for field in pq.read_schema(output)}
    # tenure is a model input of whole numbers, monthly_charges one of decimals
    assert types["tenure"] == "int64" and types["female"] == "int64"
    assert types["monthly_charges"] == "double"
    expected = ws.models.load(result.model.ref).predict_proba(test)[:, 1]
    assert pd.read_parquet(output)["probability_Yes"].to_numpy() == pytest.approx(expected)


def test_a_decimal_after_the_first_block_of_a_whole_number_column_is_named(
    trained, scored_input, tmp_path
):
    ws, result = trained
    path, _ = scored_input
    frame = pd.read_csv(path)
    big = pd.concat([frame] * (9_000_000 // len(path.read_bytes()) + 1), ignore_index=True)
    big["tenure"] = big["tenure"].astype(object)
    big.loc[len(big) - 1, "tenure"] = 12.5  # past Arrow's first 8 MiB block
    source = tmp_path / "big.csv"
    big.to_csv(source, index=False)
    assert source.stat().st_size > 8 << 20
    output = tmp_path / "o.parquet"
    with pytest.raises(DataError, match="column 'tenure'.*int64.*'12.5'") as error:
        ws.transform(result.model.ref, input=source, output=output)
    assert error.value.code == "data.wrong-type"
    assert not output.exists()


def test_missing_model_column_fails_and_leaves_no_output(trained, scored_input, tmp_path):
    ws, result = trained
    path, _ = scored_input
    broken = tmp_path / "broken.csv"
    pd.read_csv(path).drop(columns=["tenure"]).to_csv(broken, index=False)
    output = tmp_path / "o.csv"
    with pytest.raises(DataError, match="tenure") as error:
        ws.transform(result.model.ref, input=broken, output=output)
    assert error.value.code == "data.missing-column" and error.value.job_id is not None
    assert not output.exists()
    assert not list(tmp_path.glob(".o.csv*"))


def test_wrong_type_in_a_later_chunk_fails_cleanly(trained, scored_input, tmp_path):
    ws, result = trained
    path, _ = scored_input
    frame = pd.read_csv(path)
    frame["tenure"] = frame["tenure"].astype(object)
    frame.loc[len(frame) - 1, "tenure"] = "many"
    bad = tmp_path / "bad.csv"
    frame.to_csv(bad, index=False)
    output = tmp_path / "o.csv"
    with pytest.raises(DataError, match="column 'tenure'.*'many'"):
        ws.transform(result.model.ref, input=bad, output=output, chunk_rows=200)
    assert not output.exists()


@pytest.mark.parametrize("line", [3, 1200])  # within the first 64 KiB, and after it
def test_a_broken_row_is_named_by_its_line(trained, scored_input, tmp_path, line):
    ws, result = trained
    path, _ = scored_input
    lines = path.read_text().splitlines()
    assert len("\n".join(lines[:1199]).encode()) > 1 << 16
    lines[line - 1] += ",one,too,many"
    broken = tmp_path / "broken.csv"
    broken.write_text("\n".join(lines) + "\n")
    output = tmp_path / "o.csv"
    with pytest.raises(DataError, match=f"line {line}") as error:
        ws.transform(result.model.ref, input=broken, output=output)
    assert error.value.code == "data.broken-rows"
    assert not output.exists()


def test_a_quote_never_closed_is_a_broken_row_not_a_lost_tail(trained, scored_input, tmp_path):
    ws, result = trained
    path, _ = scored_input
    lines = path.read_text().splitlines()
    head, last = lines[10].rsplit(",", 1)
    lines[10] = f'{head},"{last}'  # row 10's last field opens a quote that never closes
    broken = tmp_path / "broken.csv"
    broken.write_text("\n".join(lines) + "\n")
    output = tmp_path / "o.csv"
    with pytest.raises(DataError, match="line 11") as error:
        ws.transform(result.model.ref, input=broken, output=output)
    assert error.value.code == "data.broken-rows"
    assert not output.exists()


def test_the_output_folder_is_created(trained, scored_input, tmp_path):
    ws, result = trained
    path, test = scored_input
    output = tmp_path / "new" / "folder" / "o.parquet"
    job = ws.transform(result.model.ref, input=path, output=output, keep="none")
    assert job.result["rows"] == len(test) and len(pd.read_parquet(output)) == len(test)


def test_an_output_that_cannot_be_written_is_named(trained, scored_input, tmp_path):
    from kiln.errors import ConfigError

    ws, result = trained
    path, _ = scored_input
    (tmp_path / "a_file").write_text("")
    (tmp_path / "a_folder.csv").mkdir()
    for output, named in (
        (tmp_path / "a_file" / "o.csv", tmp_path / "a_file"),
        (tmp_path / "a_folder.csv", tmp_path / "a_folder.csv"),
    ):
        with pytest.raises(ConfigError) as error:
            ws.transform(result.model.ref, input=path, output=output)
        assert error.value.code == "transform.bad-output" and str(named) in error.value.message


def test_missing_input_file(trained, tmp_path):
    ws, result = trained
    with pytest.raises(DataError, match="No such input file"):
        ws.transform(result.model.ref, input=tmp_path / "none.csv", output=tmp_path / "o.csv")


def test_chunks_never_exceed_chunk_rows():
    import pyarrow as pa

    from kiln.serving._transform import _rechunk

    batches = [pa.record_batch({"x": list(range(n))}) for n in (7, 30, 3, 11)]
    sizes = [t.num_rows for t in _rechunk(iter(batches), 10)]
    assert sizes == [10, 10, 10, 10, 10, 1]


@pytest.fixture(scope="module")
def parquet_parts(scored_input, tmp_path_factory):
    """The scored input as three Parquet parts, one in a Hive-style subfolder."""
    path, test = scored_input
    folder = tmp_path_factory.mktemp("parts") / "in"
    (folder / "day=2").mkdir(parents=True)
    frame = pd.read_csv(path)
    thirds = [frame.iloc[i::3] for i in range(3)]
    names = ["part-0.parquet", "part-1.parquet", "day=2/part-2.parquet"]
    for name, part in zip(names, thirds, strict=True):
        part.to_parquet(folder / name, index=False)
    return folder, names, thirds


def test_a_folder_of_parquet_parts_is_scored_part_by_part_into_parts_of_the_same_names(
    trained, parquet_parts, tmp_path, run_cli
):
    ws, result = trained
    folder, names, thirds = parquet_parts
    logs = []
    job = ws.transform(result.model.ref, input=folder, output=tmp_path / "out", on_log=logs.append)
    assert job.result["parts"] == 3 and job.result["rows"] == sum(len(t) for t in thirds)
    model = ws.models.load(result.model.ref)
    for name, part in zip(names, thirds, strict=True):
        out = pd.read_parquet(tmp_path / "out" / name)
        assert list(out["customer"]) == list(part["customer"])
        expected = model.predict_proba(part.drop(columns=["customer"]))[:, 1]
        assert out["probability_Yes"].to_numpy() == pytest.approx(expected, abs=1e-9)
    assert any(line.startswith("Progress 100.0%") for line in logs)
    # A glob names the same parts; a second run replaces the outputs rather than adding any.
    glob = f"{folder}/**/*.parquet"
    again = run_cli(
        "transform",
        result.model.ref,
        "--input",
        glob,
        "--output",
        str(tmp_path / "out"),
        home=ws.home,
        check=True,
    )
    assert f"Wrote {job.result['rows']:,} predictions to" in again.stdout
    assert "(3 parts)" in again.stdout
    assert sorted(
        str(p.relative_to(tmp_path / "out")) for p in (tmp_path / "out").rglob("*") if p.is_file()
    ) == sorted(names)


def test_partitioned_input_that_cannot_be_scored_is_refused(trained, parquet_parts, tmp_path):
    from kiln.errors import ConfigError

    ws, result = trained
    folder, names, _ = parquet_parts
    empty = tmp_path / "empty"
    empty.mkdir()
    (empty / "notes.txt").write_text("no parts here")
    with pytest.raises(DataError, match="holds no Parquet files") as caught:
        ws.transform(result.model.ref, input=empty, output=tmp_path / "out")
    assert caught.value.code == "transform.no-parts"
    with pytest.raises(DataError, match="No file matches") as caught:
        ws.transform(result.model.ref, input=f"{empty}/*.parquet", output=tmp_path / "out")
    assert caught.value.code == "data.file-not-found"
    (tmp_path / "taken").write_text("a file")
    with pytest.raises(ConfigError, match="is a file, but a partitioned input") as caught:
        ws.transform(result.model.ref, input=folder, output=tmp_path / "taken")
    assert caught.value.code == "transform.bad-output"
    with pytest.raises(ConfigError, match="must lie outside the input folder") as caught:
        ws.transform(result.model.ref, input=folder, output=folder / "scored")
    assert caught.value.code == "transform.same-file"


def test_starting_a_transform_loads_neither_scikit_learn_nor_pandas():
    """What the command that starts a transform imports (the job's process scores): the
    libraries it leaves out are most of a transform's fixed cost."""
    import subprocess
    import sys

    heavy = ("sklearn", "scipy", "pandas", "kiln.recipe", "kiln.algorithms")
    code = (
        "import sys, kiln.cli, kiln.workspace, kiln.serving._transform; "
        f"print([m for m in {heavy} if m in sys.modules])"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]"


def test_a_transform_started_without_waiting_returns_the_job_at_once(
    trained, scored_input, tmp_path
):
    ws, result = trained
    path, test = scored_input
    output = tmp_path / "later.csv"
    job = ws.transform(result.model.ref, input=path, output=output, wait=False)
    assert job.status == "Pending"
    done = ws.jobs.wait(job.id, timeout=120)
    assert done.status == "Completed" and done.result["rows"] == len(test)
    assert len(pd.read_csv(output)) == len(test)
