"""A real project for every test: parquet and CSV files written here, and its canon.toml."""

import importlib
import os
import textwrap

import pyarrow as pa
import pyarrow.csv as pacsv
import pyarrow.parquet as pq
import pytest

import canon

SALES = pa.table(
    {
        "id": pa.array(range(1, 1001), pa.int64()),
        "region": pa.array([["north", "south", "east", "west"][i % 4] for i in range(1000)]),
        "amount": pa.array([float(i % 97) * 1.5 for i in range(1000)], pa.float64()),
    }
)

REGIONS = pa.table(
    {
        "region": ["north", "south", "east", "west"],
        "manager": ["ana", "bo", "cy", "di"],
    }
)


def need(module):
    """A module the suite needs: CI installs it and fails without it; elsewhere its tests
    skip, saying so."""
    if os.environ.get("CI"):
        return importlib.import_module(module)
    return pytest.importorskip(module)


def write_project(root, extra=""):
    (root / "data" / "sales").mkdir(parents=True)
    (root / "data" / "regions").mkdir(parents=True)
    pq.write_table(SALES.slice(0, 500), root / "data" / "sales" / "part-0.parquet")
    pq.write_table(SALES.slice(500), root / "data" / "sales" / "part-1.parquet")
    pacsv.write_csv(REGIONS, root / "data" / "regions" / "regions.csv")
    project = root / "canon.toml"
    project.write_text(
        textwrap.dedent(
            """\
            [project]
            name = "shop"

            [policy]
            dialect = "postgresql"
            allow_ddl = false
            allow_dml = false

            [[dataset]]
            name = "sales"
            format = "parquet"
            location = "data/sales/"
            columns = [
              { name = "id", type = "Int64", nullable = false },
              { name = "region", type = "Utf8", nullable = false },
              { name = "amount", type = "Float64" },
            ]

            [[dataset]]
            name = "regions"
            format = "csv"
            location = "data/regions/"
            options = { has_header = "true" }
            columns = [
              { name = "region", type = "Utf8", nullable = false },
              { name = "manager", type = "Utf8", nullable = false },
            ]

            [[prepared]]
            name = "sales_over"
            sql = "SELECT count(*) AS n FROM sales WHERE amount > $1"
            params = ["DOUBLE"]
            """
        )
        + extra
    )
    return project


@pytest.fixture
def project(tmp_path):
    return write_project(tmp_path)


@pytest.fixture
def runtime(project):
    return canon.Runtime.load(str(project))


@pytest.fixture
def session(runtime):
    return runtime.session()
