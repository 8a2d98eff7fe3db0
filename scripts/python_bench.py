"""Canon's Python package next to datafusion-python on the same parquet files and queries:
rows per second of a large result transferred into pyarrow, and the per-query time of a
small query over a 1,000-row table (planning, running and handing over its answer), which
is mostly the per-query overhead of each.

Usage: python scripts/python_bench.py --work DIR [--rows N] [--runs R] [--small-runs S]
Prints a table; run by `scripts/bench --only python` with the release build of both.
"""

import argparse
import statistics
import time
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq

import canon
import datafusion

PROJECT = """\
[project]
name = "python-bench"

[[dataset]]
name = "events"
format = "parquet"
location = "data/"
columns = [
  {{ name = "id", type = "Int64", nullable = false }},
  {{ name = "k", type = "Int32", nullable = false }},
  {{ name = "v", type = "Float64", nullable = false }},
  {{ name = "s", type = "Utf8", nullable = false }},
]

[[dataset]]
name = "small"
format = "parquet"
location = "small/"
columns = [
  {{ name = "id", type = "Int64", nullable = false }},
  {{ name = "k", type = "Int32", nullable = false }},
]
"""

LARGE = "SELECT id, k, v, s FROM events"
SMALL = "SELECT k, count(*) AS n FROM small WHERE id < 100 GROUP BY k ORDER BY k LIMIT 1"


def prepare(work: Path, rows: int) -> Path:
    data = work / "data"
    data.mkdir(parents=True, exist_ok=True)
    file = data / "events.parquet"
    if not file.exists() or pq.read_metadata(file).num_rows != rows:
        ids = pa.array(range(rows), pa.int64())
        table = pa.table(
            {
                "id": ids,
                "k": pa.array([i % 1000 for i in range(rows)], pa.int32()),
                "v": pa.array([i * 0.5 for i in range(rows)], pa.float64()),
                "s": pa.array([f"name-{i % 5000}" for i in range(rows)]),
            }
        )
        pq.write_table(table, file)
    small = work / "small"
    small.mkdir(exist_ok=True)
    pq.write_table(
        pa.table(
            {
                "id": pa.array(range(1000), pa.int64()),
                "k": pa.array([i % 10 for i in range(1000)], pa.int32()),
            }
        ),
        small / "small.parquet",
    )
    (work / "canon.toml").write_text(PROJECT.format())
    return work / "canon.toml"


def timed(work, runs):
    times = []
    for _ in range(runs):
        started = time.perf_counter()
        result = work()
        times.append(time.perf_counter() - started)
    return result, times


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--work", type=Path, required=True)
    parser.add_argument("--rows", type=int, default=5_000_000)
    parser.add_argument("--runs", type=int, default=5)
    parser.add_argument("--small-runs", type=int, default=300)
    args = parser.parse_args()
    project = prepare(args.work, args.rows)

    session = canon.Runtime.load(str(project)).session()
    ctx = datafusion.SessionContext()
    ctx.register_parquet("events", str(args.work / "data" / "events.parquet"))
    ctx.register_parquet("small", str(args.work / "small" / "small.parquet"))

    peers = {
        "canon": lambda sql: session.sql(sql).to_pyarrow(),
        "datafusion-python": lambda sql: ctx.sql(sql).to_arrow_table(),
    }
    print(
        f"Python: canon {canon.__version__} and datafusion-python {datafusion.__version__}, "
        f"pyarrow {pa.__version__}; {args.rows} rows of parquet, and a 1,000-row table"
    )
    print(f"{'':<40}{'canon':>16}{'datafusion-python':>20}")
    large = {}
    for name, run in peers.items():
        table, times = timed(lambda: run(LARGE), args.runs)
        assert table.num_rows == args.rows, (name, table.num_rows)
        large[name] = args.rows / statistics.median(times) / 1e6
    print(
        f"{'large result into pyarrow (M rows/s)':<40}"
        f"{large['canon']:>16.2f}{large['datafusion-python']:>20.2f}"
    )
    small = {}
    for name, run in peers.items():
        run(SMALL)  # warm caches and the planner
        table, times = timed(lambda: run(SMALL), args.small_runs)
        assert table.num_rows == 1, (name, table.num_rows)
        small[name] = (statistics.median(times) * 1e3, sorted(times)[int(len(times) * 0.99) - 1] * 1e3)
    print(
        f"{'small query, p50 (ms)':<40}"
        f"{small['canon'][0]:>16.2f}{small['datafusion-python'][0]:>20.2f}"
    )
    print(
        f"{'small query, p99 (ms)':<40}"
        f"{small['canon'][1]:>16.2f}{small['datafusion-python'][1]:>20.2f}"
    )


if __name__ == "__main__":
    main()
