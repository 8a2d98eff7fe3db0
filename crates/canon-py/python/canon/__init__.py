"""Canon from Python: a contract-first runtime for Apache DataFusion and Delta Lake.

    import canon
    rt = canon.Runtime.load("canon.toml")
    s = rt.session()
    table = s.sql("SELECT payment, count(*) FROM trips GROUP BY payment").to_pyarrow()

Every statement runs through the project's SQL policy, plan hook and diagnostics, whether
it comes as SQL text, an Ibis expression or a sqlglot expression. Results implement the
Arrow PyCapsule stream interface (``__arrow_c_stream__``), so pyarrow, pandas, polars and
DuckDB read them without copies.

``Runtime.catalog()`` and ``Runtime.udfs()`` hand Canon's datasets and functions to a
datafusion-python ``SessionContext``. The policy governs Canon's own sessions only: a
foreign context plans and runs its queries itself.
"""

from canon._canon import (
    CanonError,
    Catalog,
    Explanation,
    PolicyViolation,
    ProjectError,
    QueryError,
    Result,
    Runtime,
    ScalarUDF,
    Session,
    __version__,
)

__all__ = [
    "CanonError",
    "Catalog",
    "Explanation",
    "PolicyViolation",
    "ProjectError",
    "QueryError",
    "Result",
    "Runtime",
    "ScalarUDF",
    "Session",
    "__version__",
]
