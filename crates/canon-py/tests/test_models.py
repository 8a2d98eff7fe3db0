"""Models from Python: compile the graph, build it, read the built tables, see failures."""

import textwrap

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

import canon
from conftest import write_project

MODELS = textwrap.dedent(
    """
    [[model]]
    name = "region_sales"
    location = "build/region_sales"
    sql = "SELECT region, count(*) AS sales, sum(amount) AS amount FROM sales GROUP BY region"
    primary_key = ["region"]
    constraints = ["amount >= 0"]
    columns = [
      { name = "region", type = "Utf8", nullable = false },
      { name = "sales", type = "Int64", nullable = false },
      { name = "amount", type = "Float64" },
    ]

    [[model]]
    name = "manager_sales"
    location = "build/manager_sales"
    sql = \"\"\"
    SELECT r.manager, s.sales, s.amount
    FROM region_sales s JOIN regions r ON r.region = s.region
    \"\"\"
    primary_key = ["manager"]
    columns = [
      { name = "manager", type = "Utf8", nullable = false },
      { name = "sales", type = "Int64", nullable = false },
      { name = "amount", type = "Float64" },
    ]
    """
)


def test_compile_returns_the_graph_in_build_order(tmp_path):
    rt = canon.Runtime.load(str(write_project(tmp_path, MODELS)))
    graph = rt.compile()
    assert graph.column_names == ["model", "kind", "reads"]
    assert graph.to_pylist() == [
        {"model": "region_sales", "kind": "table", "reads": ["sales"]},
        {"model": "manager_sales", "kind": "table", "reads": ["region_sales", "regions"]},
    ]


def test_build_returns_the_summary_and_sessions_read_the_models(tmp_path):
    rt = canon.Runtime.load(str(write_project(tmp_path, MODELS)))
    with pytest.raises(canon.QueryError, match="is not built: run `canon build manager_sales`"):
        rt.session().sql("SELECT * FROM manager_sales").to_pyarrow()
    summary = rt.build()
    assert summary.column_names == ["model", "kind", "status", "rows", "seconds", "message"]
    rows = {r["model"]: r for r in summary.to_pylist()}
    assert rows["region_sales"]["status"] == "built"
    assert rows["region_sales"]["rows"] == 4
    assert rows["manager_sales"]["rows"] == 4
    # The same session API reads the built tables, with the rows the query yields.
    s = rt.session()
    built = s.sql("SELECT manager, sales FROM manager_sales ORDER BY manager").to_pyarrow()
    by_hand = s.sql(
        "SELECT r.manager, count(*) AS sales FROM sales s JOIN regions r USING (region) "
        "GROUP BY r.manager ORDER BY r.manager"
    ).to_pyarrow()
    assert built.to_pylist() == by_hand.to_pylist()
    assert sum(r["sales"] for r in built.to_pylist()) == 1000


def test_a_failed_model_is_in_the_summary_and_commits_nothing(tmp_path):
    project = write_project(tmp_path, MODELS)
    rt = canon.Runtime.load(str(project))
    rt.build()
    before = rt.session().sql("SELECT sum(sales) AS n FROM region_sales").to_pyarrow()
    bad = pa.table(
        {
            "id": pa.array([5000], pa.int64()),
            "region": ["north"],
            "amount": pa.array([-1.0e9], pa.float64()),
        }
    )
    pq.write_table(bad, tmp_path / "data" / "sales" / "part-2.parquet")
    rt = canon.Runtime.load(str(project))
    summary = {r["model"]: r for r in rt.build(["region_sales"], downstream=True).to_pylist()}
    assert summary["region_sales"]["status"] == "failed"
    assert "refused: constraint" in summary["region_sales"]["message"]
    assert "nothing was committed" in summary["region_sales"]["message"]
    assert summary["manager_sales"]["status"] == "skipped"
    after = rt.session().sql("SELECT sum(sales) AS n FROM region_sales").to_pyarrow()
    assert after.to_pylist() == before.to_pylist()


def test_a_model_that_does_not_compile_raises_with_the_place(tmp_path):
    broken = MODELS.replace('{ name = "sales", type = "Int64"', '{ name = "sales", type = "Int32"', 1)
    rt = canon.Runtime.load(str(write_project(tmp_path, broken)))
    with pytest.raises(canon.ProjectError, match=r"column `sales`: expected Int32, found Int64"):
        rt.compile()
    with pytest.raises(canon.ProjectError, match="2 problems in models"):
        rt.build()
