"""Queries from Python: Arrow results through the PyCapsule stream, equal to pyarrow's own
computation over the same files; explanations; prepared statements; system tables."""

import pyarrow as pa
import pyarrow.compute as pc
import pytest

import canon

from conftest import SALES, need


def expected_totals():
    grouped = SALES.group_by("region").aggregate([("amount", "sum"), ("id", "count")])
    return {
        row["region"]: (row["amount_sum"], row["id_count"]) for row in grouped.to_pylist()
    }


TOTALS = "SELECT region, sum(amount) AS total, count(*) AS n FROM sales GROUP BY region"


def test_results_stream_into_pyarrow(session):
    result = session.sql(TOTALS)
    table = pa.table(result)
    got = {r["region"]: (r["total"], r["n"]) for r in table.to_pylist()}
    want = expected_totals()
    assert got.keys() == want.keys()
    for region, (total, n) in want.items():
        assert got[region][0] == pytest.approx(total)
        assert got[region][1] == n
    # Each read runs the query again, with the same answer.
    again = pa.RecordBatchReader.from_stream(result).read_all()
    assert result.to_pyarrow().sort_by("region").equals(again.sort_by("region"))


def test_contract_schema_is_the_result_schema(session):
    table = session.sql("SELECT * FROM sales").to_pyarrow()
    assert table.schema.field("id").type == pa.int64()
    assert not table.schema.field("id").nullable
    assert table.schema.field("amount").type == pa.float64()
    assert table.num_rows == SALES.num_rows
    assert pc.sum(table["amount"]).as_py() == pytest.approx(pc.sum(SALES["amount"]).as_py())


def test_pandas_and_polars(session):
    pandas = pytest.importorskip("pandas")
    frame = session.sql("SELECT id, region FROM sales WHERE id <= 3 ORDER BY id").to_pandas()
    assert isinstance(frame, pandas.DataFrame)
    assert frame["id"].tolist() == [1, 2, 3]
    polars = pytest.importorskip("polars")
    frame = session.sql("SELECT count(*) AS n FROM sales").to_polars()
    assert isinstance(frame, polars.DataFrame)
    assert frame["n"].to_list() == [SALES.num_rows]
    direct = polars.DataFrame(session.sql("SELECT id FROM sales WHERE id < 11"))
    assert sorted(direct["id"].to_list()) == list(range(1, 11))


def test_join_with_csv_dataset(session):
    table = session.sql(
        "SELECT r.manager, count(*) AS n FROM sales s JOIN regions r ON s.region = r.region "
        "GROUP BY r.manager ORDER BY r.manager"
    ).to_pyarrow()
    assert table.to_pylist() == [
        {"manager": m, "n": 250} for m in ["ana", "bo", "cy", "di"]
    ]


def test_explain_gives_fingerprint_lineage_and_plan(session):
    explanation = session.explain(TOTALS)
    assert isinstance(explanation, canon.Explanation)
    assert len(explanation.fingerprint) >= 16
    assert "Aggregate" in explanation.plan
    assert "sales" in str(explanation.lineage)
    again = session.explain(TOTALS)
    assert again.fingerprint == explanation.fingerprint
    other = session.explain("SELECT region FROM sales")
    assert other.fingerprint != explanation.fingerprint


def test_prepared_statements_of_the_project(session):
    over = session.execute("sales_over", [100.0]).to_pyarrow()
    want = pc.sum(pc.greater(SALES["amount"], 100.0)).as_py()
    assert over.to_pylist() == [{"n": want}]
    with pytest.raises(canon.QueryError) as error:
        session.execute("sales_over", [])
    assert "sales_over" in str(error.value)
    with pytest.raises(TypeError):
        session.execute("sales_over", [object()])


def test_system_tables(runtime, session):
    datasets = runtime.datasets()
    assert isinstance(datasets, pa.Table)
    assert sorted(datasets.column("name").to_pylist()) == ["regions", "sales"]
    session.sql("SELECT count(*) FROM sales").to_pyarrow()
    events = session.diagnostics()
    kinds = set(events.column("kind").to_pylist())
    assert "query_finished" in kinds, kinds


def test_duckdb_reads_results(session):
    duckdb = need("duckdb")
    result = session.sql("SELECT region, amount FROM sales")
    counted = duckdb.sql(
        "SELECT region, count(*) AS n FROM result GROUP BY region ORDER BY region"
    ).fetchall()
    assert counted == [(r, 250) for r in ["east", "north", "south", "west"]]
