"""Queries built in Python, turned into SQL text for a Canon session.

Ibis expressions are compiled for DataFusion; sqlglot expressions are rendered in the
policy's dialect. Either way the text then passes the session's policy like any SQL.
"""

# Canon's dialect names (DataFusion's) as sqlglot spells them, where they differ.
_SQLGLOT_DIALECTS = {"generic": "", "ansi": "", "postgresql": "postgres", "mssql": "tsql"}


def to_sql(query, dialect):
    """SQL text for an Ibis or sqlglot expression, or a TypeError saying what was given."""
    module = type(query).__module__.split(".")[0]
    if module == "sqlglot":
        return query.sql(dialect=_SQLGLOT_DIALECTS.get(dialect, dialect))
    if module == "ibis":
        import ibis

        return ibis.to_sql(query, dialect="datafusion")
    raise TypeError(
        "Session.sql takes SQL text, an Ibis expression or a sqlglot expression, "
        f"not {type(query).__name__}"
    )


def ibis_table(name, schema):
    """An unbound Ibis table named `name` with the pyarrow `schema`."""
    import ibis

    return ibis.table(ibis.Schema.from_pyarrow(schema), name=name)
