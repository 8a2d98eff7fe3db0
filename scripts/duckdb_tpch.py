#!/usr/bin/env python3
"""Runs the TPC-H queries in DuckDB over parquet files and prints JSON on stdout.

Each table is a view over read_parquet('<data>/<table>/*.parquet'), the same files Canon and
the plain DataFusion session read. Every query runs --runs times; the JSON holds each run's
wall time in milliseconds and the first run's rows, with decimals as floats and dates as
ISO text, for canon-bench to compare:

  {"engine": "duckdb", "version": "...", "threads": N, "runs": N,
   "queries": [{"query": "q1", "times_ms": [...], "columns": [...], "rows": [[...], ...]}]}
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


def plain(value):
    """A result value as JSON: numbers as numbers, dates and everything else as text."""
    if value is None or isinstance(value, (bool, int, float, str)):
        return value
    if isinstance(value, decimal.Decimal):
        return float(value)
    if isinstance(value, (datetime.date, datetime.datetime)):
        return value.isoformat()
    return str(value)


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", required=True, help="directory with one directory per table")
    parser.add_argument("--queries", required=True, help="directory with q1.sql … q22.sql")
    parser.add_argument("--runs", type=int, default=5, help="timed runs per query")
    parser.add_argument("--threads", type=int, default=0, help="DuckDB threads; 0 = all cores")
    args = parser.parse_args()

    con = duckdb.connect()
    if args.threads > 0:
        con.execute(f"SET threads = {args.threads}")
    for table in TABLES:
        pattern = os.path.join(os.path.abspath(args.data), table, "*.parquet")
        con.execute(f"CREATE VIEW {table} AS SELECT * FROM read_parquet('{pattern}')")

    results = []
    for n in range(1, 23):
        name = f"q{n}"
        path = os.path.join(args.queries, f"{name}.sql")
        with open(path, encoding="utf-8") as f:
            sql = f.read()
        times = []
        rows = columns = None
        for run in range(max(args.runs, 1)):
            start = time.perf_counter()
            try:
                cursor = con.execute(sql)
                fetched = cursor.fetchall()
            except duckdb.Error as e:
                sys.exit(f"duckdb_tpch.py: {name} ({path}) failed: {e}")
            times.append((time.perf_counter() - start) * 1e3)
            if run == 0:
                columns = [d[0] for d in cursor.description]
                rows = [[plain(v) for v in row] for row in fetched]
        results.append({"query": name, "times_ms": times, "columns": columns, "rows": rows})

    threads = con.execute("SELECT current_setting('threads')").fetchone()[0]
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
