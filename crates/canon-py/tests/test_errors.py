"""Errors from Python: typed, all under canon.CanonError, with the CLI's messages."""

import pytest

import canon

from conftest import write_project


def test_a_bad_project_raises_project_error(tmp_path):
    project = write_project(tmp_path)
    text = project.read_text().replace('type = "Float64"', 'type = "Floot64"')
    project.write_text(text)
    with pytest.raises(canon.ProjectError) as error:
        canon.Runtime.load(str(project))
    message = str(error.value)
    assert "canon.toml" in message and "Floot64" in message, message
    assert isinstance(error.value, canon.CanonError)


def test_a_missing_project_file(tmp_path):
    with pytest.raises(canon.ProjectError) as error:
        canon.Runtime.load(str(tmp_path / "nope.toml"))
    assert "nope.toml" in str(error.value)


def test_policy_refusals(session):
    with pytest.raises(canon.PolicyViolation) as error:
        session.sql("CREATE TABLE t AS SELECT 1 AS x")
    assert "allow_ddl" in str(error.value)
    assert isinstance(error.value, canon.CanonError)
    # The session is still usable.
    assert session.sql("SELECT 1 AS one").to_pyarrow().to_pylist() == [{"one": 1}]


def test_query_errors_point_into_the_sql(session):
    with pytest.raises(canon.QueryError) as error:
        session.sql("SELECT nope FROM sales")
    message = str(error.value)
    assert "nope" in message
    with pytest.raises(canon.QueryError) as error:
        session.sql("SELEC 1")
    assert "SELEC" in str(error.value)


def test_a_file_that_goes_bad_fails_the_read(tmp_path):
    project = write_project(tmp_path)
    runtime = canon.Runtime.load(str(project))
    session = runtime.session()
    result = session.sql("SELECT sum(amount) FROM sales")
    (tmp_path / "data" / "sales" / "part-1.parquet").write_bytes(b"not parquet")
    with pytest.raises(Exception) as error:
        result.to_pyarrow()
    assert "part-1.parquet" in str(error.value) or "parquet" in str(error.value).lower()


def test_other_objects_are_refused(session):
    with pytest.raises(TypeError) as error:
        session.sql(42)
    assert "SQL text" in str(error.value)


def test_an_ibis_table_of_an_unknown_name(session):
    with pytest.raises(canon.QueryError) as error:
        session.ibis("nope")
    assert "nope" in str(error.value)
