"""datafusion-python on Canon's catalog and functions, and Ibis and sqlglot queries under
Canon's policy."""

import pyarrow as pa
import pytest

import canon

from conftest import SALES, need

PER_REGION = [{"region": r, "n": 250} for r in ["east", "north", "south", "west"]]


def test_datafusion_python_reads_canons_datasets(runtime):
    datafusion = need("datafusion")
    catalog = runtime.catalog()
    assert "public" in catalog.schema_names()
    ctx = datafusion.SessionContext()
    ctx.register_catalog_provider("shop", catalog)
    table = ctx.sql(
        "SELECT region, count(*) AS n FROM shop.public.sales GROUP BY region ORDER BY region"
    ).to_arrow_table()
    assert table.to_pylist() == PER_REGION
    # The contract's schema, not the files' inferred one.
    schema = ctx.sql("SELECT * FROM shop.public.sales").schema()
    assert schema.field("id").type == pa.int64()
    assert not schema.field("id").nullable
    # Canon's system tables come along.
    names = ctx.sql("SELECT name FROM shop.canon.datasets ORDER BY name").to_arrow_table()
    assert names.column("name").to_pylist() == ["regions", "sales"]


def test_canons_functions_in_datafusion_python(runtime, session):
    datafusion = need("datafusion")
    ctx = datafusion.SessionContext()
    names = []
    for function in runtime.udfs():
        ctx.register_udf(datafusion.udf(function))
        names.append(function.name)
    assert {"stable_hash64", "stable_id"} <= set(names)
    sql = "SELECT stable_hash64('north', 7) AS h, stable_id('sale', 'north', 7) AS i"
    foreign = ctx.sql(sql).to_arrow_table().to_pylist()
    own = session.sql(sql).to_pyarrow().to_pylist()
    assert foreign == own


def test_ibis_expressions_run_under_the_policy(session):
    ibis = need("ibis")
    sales = session.ibis("sales")
    assert dict(sales.schema().items())["id"] == ibis.dtype("!int64")
    expr = (
        sales.group_by("region")
        .aggregate(n=sales.count(), total=sales.amount.sum())
        .order_by("region")
    )
    got = session.sql(expr).to_pyarrow()
    want = session.sql(
        "SELECT region, count(*) AS n, sum(amount) AS total FROM sales "
        "GROUP BY region ORDER BY region"
    ).to_pyarrow()
    assert got.column("region").to_pylist() == want.column("region").to_pylist()
    assert got.column("n").to_pylist() == want.column("n").to_pylist()
    assert got.column("total").to_pylist() == pytest.approx(want.column("total").to_pylist())
    # The query went through the session's plan hook like SQL text.
    kinds = session.diagnostics().column("kind").to_pylist()
    assert kinds.count("query_finished") >= 2


def test_sqlglot_expressions_run_in_the_policys_dialect(session):
    sqlglot = need("sqlglot")
    tree = sqlglot.select("count(*) AS n").from_("sales").where("amount > 100")
    got = session.sql(tree).to_pyarrow().to_pylist()
    want = sum(1 for a in SALES.column("amount").to_pylist() if a > 100)
    assert got == [{"n": want}]
    with pytest.raises(canon.PolicyViolation):
        session.sql(sqlglot.parse_one("CREATE TABLE t AS SELECT 1 AS x"))
