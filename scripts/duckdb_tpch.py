#!/usr/bin/env python3
"""Runs the TPC-H or TPC-DS queries in DuckDB over parquet files and prints JSON on stdout.

Each table is a view over read_parquet('<data>/<table>/*.parquet'), the same files Canon and
the plain DataFusion session read. TPC-H's queries are q1.sql … q22.sql; TPC-DS's (--suite
tpcds) are DataFusion's texts 1.sql … 99.sql, every table a directory of the data, and a
file with several statements gives q<N>_1, q<N>_2, … as canon-bench names them; with
--suite statements every *.sql file of --queries is one statement named by its file name
(canon-bench statements). Every query runs --runs times; the JSON holds each run's
wall time in milliseconds and the first run's rows, with decimals as floats and dates as
ISO text, for canon-bench to compare:

  {"engine": "duckdb", "version": "...", "threads": N, "runs": N,
   "queries": [{"query": "q1", "times_ms": [...], "columns": [...], "rows": [[...], ...]}]}

With --serve it runs nothing up front: it prints one JSON line naming its version and
threads, then reads a statement's name per line on stdin and answers each with one JSON
line, {"query": "q1", "ms": ...} or {"query": "q1", "error": "..."}, until stdin ends.
canon-bench starts it so, to time DuckDB in the same rounds as Canon and DataFusion.
"""

import argparse
import datetime
import decimal
import json
import os
import sys
import time

import duckdb

TABLES = ["lineitem", "orders", "customer", "part", "partsupp", "supplier", "nation", "region"]


def statements(text):
    """A file's statements: split at each ';', without parts that hold only comments."""
    parts = []
    for part in text.split(";"):
        lines = [line.strip() for line in part.splitlines()]
        if any(line and not line.startswith("--") for line in lines):
            parts.append(part.strip())
    return parts


def workload(suite, data, queries):
    """The tables and the (name, path, sql) of each statement of a suite."""
    if suite == "tpch":
        out = []
        for n in range(1, 23):
            path = os.path.join(queries, f"q{n}.sql")
            with open(path, encoding="utf-8") as f:
                out.append((f"q{n}", path, f.read()))
        return TABLES, out
    tables = sorted(e.name for e in os.scandir(data) if e.is_dir() and not e.name.startswith("."))
    out = []
    if suite == "statements":
        for name in sorted(f for f in os.listdir(queries) if f.endswith(".sql")):
            path = os.path.join(queries, name)
            with open(path, encoding="utf-8") as f:
                parts = statements(f.read())
            if len(parts) != 1:
                sys.exit(f"duckdb_tpch.py: {path} holds {len(parts)} statements, not one")
            out.append((name[: -len(".sql")], path, parts[0]))
        return tables, out
    for n in range(1, 100):
        path = os.path.join(queries, f"{n}.sql")
        with open(path, encoding="utf-8") as f:
            parts = statements(f.read())
        for i, sql in enumerate(parts):
            out.append((f"q{n}_{i + 1}" if len(parts) > 1 else f"q{n}", path, sql))
    return tables, out


def plain(value):
    """A result value as JSON: numbers as numbers, dates and everything else as text."""
    if value is None or isinstance(value, (bool, int, float, str)):
        return value
    if isinstance(value, decimal.Decimal):
        return float(value)
    if isinstance(value, (datetime.date, datetime.datetime)):
        return value.isoformat()
    return str(value)


def serve(con, queries, threads):
    """Answers each statement name on stdin with one timed run of it, as a JSON line."""
    by_name = {name: sql for name, _, sql in queries}

    def answer(message):
        sys.stdout.write(json.dumps(message) + "\n")
        sys.stdout.flush()

    answer({"engine": "duckdb", "version": duckdb.__version__, "threads": threads})
    for line in sys.stdin:
        name = line.strip()
        if not name:
            continue
        sql = by_name.get(name)
        if sql is None:
            answer({"query": name, "error": f"no statement named {name}"})
            continue
        start = time.perf_counter()
        try:
            con.execute(sql).fetchall()
        except duckdb.Error as e:
            answer({"query": name, "error": str(e).splitlines()[0] if str(e) else "failed"})
            continue
        answer({"query": name, "ms": (time.perf_counter() - start) * 1e3})


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", required=True, help="directory with one directory per table")
    parser.add_argument("--queries", required=True, help="directory with the query texts")
    parser.add_argument("--suite", choices=["tpch", "tpcds", "statements"], default="tpch")
    parser.add_argument("--runs", type=int, default=5, help="timed runs per query")
    parser.add_argument("--threads", type=int, default=0, help="DuckDB threads; 0 = all cores")
    parser.add_argument(
        "--serve", action="store_true", help="time the statements named on stdin, one per line"
    )
    args = parser.parse_args()

    con = duckdb.connect()
    if args.threads > 0:
        con.execute(f"SET threads = {args.threads}")
    tables, queries = workload(args.suite, args.data, args.queries)
    if args.suite != "tpch":
        # DataFusion divides integers as integers (TPC-DS's q21, q78, q83 rely on it), as
        # Postgres does; DuckDB's `/` would give a fraction.
        con.execute("SET integer_division = true")
    for table in tables:
        pattern = os.path.join(os.path.abspath(args.data), table, "*.parquet")
        con.execute(f"CREATE VIEW {table} AS SELECT * FROM read_parquet('{pattern}')")

    threads = con.execute("SELECT current_setting('threads')").fetchone()[0]
    if args.serve:
        serve(con, queries, threads)
        return

    results = []
    for name, path, sql in queries:
        times = []
        rows = columns = error = None
        for run in range(max(args.runs, 1)):
            start = time.perf_counter()
            try:
                cursor = con.execute(sql)
                fetched = cursor.fetchall()
            except duckdb.Error as e:
                # DuckDB's parser refuses a few of DataFusion's TPC-DS texts (an alias
                # named `at`); canon-bench reports them as failed. TPC-H's all run.
                if args.suite == "tpch":
                    sys.exit(f"duckdb_tpch.py: {name} ({path}) failed: {e}")
                error = str(e)
                break
            times.append((time.perf_counter() - start) * 1e3)
            if run == 0:
                columns = [d[0] for d in cursor.description]
                rows = [[plain(v) for v in row] for row in fetched]
        if error is not None:
            results.append({"query": name, "error": error})
            continue
        results.append({"query": name, "times_ms": times, "columns": columns, "rows": rows})

    json.dump(
        {
            "engine": "duckdb",
            "version": duckdb.__version__,
            "threads": threads,
            "runs": args.runs,
            "queries": results,
        },
        sys.stdout,
    )
    sys.stdout.write("\n")


if __name__ == "__main__":
    main()
