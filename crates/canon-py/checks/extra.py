"""Runs one extra of the `canon` package the way a user would, outside pytest.

    python extra.py {pandas|polars|datafusion|ibis}

Run it in a virtual environment that holds only the wheel and that extra, so that a
dependency the extra forgets to declare fails here instead of being supplied by the test
tools (pytest brings `packaging`, which ibis-framework imports without declaring).
Writes a small project to a temporary directory, runs the extra's entry points against
it and compares their rows with the same query as SQL text. Exits 1 with the reason on a
mismatch.
"""

import sys
import tempfile
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq

import canon

PROJECT = """\
[project]
name = "extras"

[[dataset]]
name = "sales"
format = "parquet"
location = "sales/"
columns = [
  { name = "id", type = "Int64", nullable = false },
  { name = "region", type = "Utf8" },
  { name = "amount", type = "Float64" },
]
"""

SQL = "SELECT region, count(*) AS n FROM sales GROUP BY region ORDER BY region"


def project(root):
    """A runtime over 100 rows of sales in four regions."""
    (root / "sales").mkdir()
    regions = ["east", "north", "south", "west"]
    table = pa.table(
        {
            "id": pa.array(range(100), pa.int64()),
            "region": [regions[i % 4] for i in range(100)],
            "amount": [float(i) for i in range(100)],
        }
    )
    pq.write_table(table, root / "sales" / "part-0.parquet")
    (root / "canon.toml").write_text(PROJECT)
    return canon.Runtime.load(str(root / "canon.toml"))


def rows(session, query):
    """The query's rows as Python dicts, whatever form the query takes."""
    return session.sql(query).to_pyarrow().to_pylist()


def check_pandas(rt):
    frame = rt.session().sql(SQL).to_pandas()
    return frame.to_dict("records")


def check_polars(rt):
    frame = rt.session().sql(SQL).to_polars()
    return frame.to_dicts()


def check_datafusion(rt):
    import datafusion

    ctx = datafusion.SessionContext()
    ctx.register_catalog_provider("canon", rt.catalog())
    sql = SQL.replace("FROM sales", "FROM canon.public.sales")
    return ctx.sql(sql).to_arrow_table().to_pylist()


def check_ibis(rt):
    import sqlglot

    session = rt.session()
    sales = session.ibis("sales")
    expr = sales.group_by("region").aggregate(n=sales.count()).order_by("region")
    from_ibis = rows(session, expr)
    tree = (
        sqlglot.select("region", "count(*) AS n")
        .from_("sales")
        .group_by("region")
        .order_by("region")
    )
    from_sqlglot = rows(session, tree)
    if from_ibis != from_sqlglot:
        raise SystemExit(f"ibis gave {from_ibis}, sqlglot gave {from_sqlglot}")
    return from_ibis


CHECKS = {
    "pandas": check_pandas,
    "polars": check_polars,
    "datafusion": check_datafusion,
    "ibis": check_ibis,
}


def main():
    if len(sys.argv) != 2 or sys.argv[1] not in CHECKS:
        raise SystemExit(f"usage: extra.py {{{'|'.join(CHECKS)}}}")
    extra = sys.argv[1]
    with tempfile.TemporaryDirectory() as tmp:
        rt = project(Path(tmp))
        want = rows(rt.session(), SQL)
        got = CHECKS[extra](rt)
        # Counts may come back as numpy integers from pandas: compare as plain ints.
        got = [{"region": r["region"], "n": int(r["n"])} for r in got]
        if got != want:
            raise SystemExit(f"canon[{extra}]: got {got}, want {want}")
    print(f"canon[{extra}]: {len(want)} rows as from SQL text")


if __name__ == "__main__":
    main()
