//! What Postgres clients read about the database: a `pg_catalog` schema over the
//! session's own catalogs (datasets, session tables and Canon's system tables), Postgres's
//! catalog functions, and the rewrites that let DataFusion plan the catalog queries psql,
//! pgcli and DBeaver send. All of it comes from `datafusion-pg-catalog`.

use std::borrow::Cow;
use std::panic::{AssertUnwindSafe, catch_unwind};
use std::sync::{Arc, LazyLock};

use canon::datafusion::arrow::datatypes::DataType;
use canon::datafusion::common::ScalarValue;
use canon::datafusion::logical_expr::{ColumnarValue, Volatility, create_udf};
use std::ops::ControlFlow;

use canon::datafusion::sql::sqlparser::ast::{
    BinaryOperator, CastKind, DataType as SqlType, Expr, Statement, Value, visit_expressions_mut,
};
use canon::{CanonError, Session};
use datafusion_pg_catalog::pg_catalog::context::EmptyContextProvider;
use datafusion_pg_catalog::setup_pg_catalog;
use datafusion_pg_catalog::sql::PostgresCompatibilityParser;

/// The parser of client queries, with its rewrite rules; built once per process because
/// it tokenizes its table of whole-query replacements.
static PARSER: LazyLock<PostgresCompatibilityParser> =
    LazyLock::new(PostgresCompatibilityParser::new);

/// Gives `session` a `pg_catalog` schema in its default catalog, and the Postgres
/// functions catalog queries call (`pg_table_is_visible`, `format_type`, …), with
/// `session_user` answering `user`, the name the client logged in with.
pub fn install(session: &Session, user: &str) -> Result<(), CanonError> {
    let (catalog, _) = session.default_namespace();
    let user = ScalarValue::Utf8(Some(user.to_string()));
    session.extend(|ctx| {
        // `::TEXT` is Utf8 here, as the catalog functions' signatures expect: a Utf8View
        // reaching one from a prepared statement would fail it.
        ctx.state_ref()
            .write()
            .config_mut()
            .options_mut()
            .sql_parser
            .map_string_types_to_utf8view = false;
        setup_pg_catalog(ctx, &catalog, EmptyContextProvider).map_err(|e| *e)?;
        ctx.register_udf(create_udf(
            "session_user",
            Vec::new(),
            DataType::Utf8,
            Volatility::Stable,
            Arc::new(move |_: &[ColumnarValue]| Ok(ColumnarValue::Scalar(user.clone()))),
        ));
        Ok(())
    })
}

/// Query text as DataFusion can plan it: read as Postgres SQL, with Postgres's spellings
/// (`OPERATOR(pg_catalog.~)`, `COLLATE`, `'t'::regclass`, unqualified `pg_class`, …)
/// rewritten, and `SHOW` of a setting clients read at connect time answered as a query.
///
/// Only text made of queries is rewritten. Anything else, or text the Postgres parser
/// cannot read (Canon's own DDL such as `CREATE EXTERNAL TABLE`), is kept as it is, for
/// the session to parse in the policy's dialect.
pub fn rewrite<'a>(sql: &'a str, session: &Session) -> Cow<'a, str> {
    match show_client_setting(sql, session) {
        Some(query) => Cow::Owned(query),
        None => rewrite_queries(sql),
    }
}

/// Client queries, as [`rewrite`] makes them.
fn rewrite_queries(sql: &str) -> Cow<'_, str> {
    // The rules index into client-written syntax trees; a rule that fails on an odd tree
    // must cost this rewrite only, never the connection.
    let parsed = catch_unwind(AssertUnwindSafe(|| PARSER.parse(sql)));
    match parsed {
        Ok(Ok(mut statements))
            if !statements.is_empty()
                && statements.iter().all(|s| matches!(s, Statement::Query(_))) =>
        {
            let _ = visit_expressions_mut(&mut statements, |expr| {
                procedure_against_zero(expr);
                ControlFlow::<()>::Continue(())
            });
            let texts: Vec<String> = statements.iter().map(ToString::to_string).collect();
            Cow::Owned(texts.join(";\n"))
        }
        _ => Cow::Borrowed(sql),
    }
}

/// `typreceive != 0`: a `regproc` column compared with the OID 0, as ADBC's PostgreSQL
/// driver lists the types it can read. The catalog holds procedures by name, and Postgres
/// shows OID 0 as `-`, so the comparison becomes `typreceive::TEXT != '-'`.
fn procedure_against_zero(expr: &mut Expr) {
    const PROCEDURES: [&str; 4] = ["typreceive", "typsend", "typinput", "typoutput"];
    let Expr::BinaryOp { left, op, right } = expr else {
        return;
    };
    if !matches!(op, BinaryOperator::Eq | BinaryOperator::NotEq) {
        return;
    }
    let column = match left.as_ref() {
        Expr::Identifier(ident) => &ident.value,
        Expr::CompoundIdentifier(parts) => match parts.last() {
            Some(ident) => &ident.value,
            None => return,
        },
        _ => return,
    };
    let zero =
        matches!(right.as_ref(), Expr::Value(v) if v.value == Value::Number("0".into(), false));
    if !zero || !PROCEDURES.contains(&column.to_ascii_lowercase().as_str()) {
        return;
    }
    let name = std::mem::replace(left.as_mut(), Expr::Value(Value::Null.into()));
    **left = Expr::Cast {
        kind: CastKind::DoubleColon,
        expr: Box::new(name),
        data_type: SqlType::Text,
        array: false,
        format: None,
    };
    **right = Expr::Value(Value::SingleQuotedString("-".into()).into());
}

/// `SHOW name` for a Postgres setting DataFusion does not have but clients read when they
/// connect (JDBC, DBeaver, pgcli), as a query answering what Canon's sessions behave by.
fn show_client_setting(sql: &str, session: &Session) -> Option<String> {
    let mut words = sql.trim().trim_end_matches(';').split_whitespace();
    if !words.next()?.eq_ignore_ascii_case("show") {
        return None;
    }
    let name = words.collect::<Vec<_>>().join(" ").to_ascii_lowercase();
    let value = match name.as_str() {
        "search_path" => session.default_namespace().1,
        "transaction isolation level" | "transaction_isolation" => "read committed".into(),
        "server_encoding" | "client_encoding" => "UTF8".into(),
        "standard_conforming_strings" | "integer_datetimes" => "on".into(),
        "datestyle" => "ISO, MDY".into(),
        "max_identifier_length" => "63".into(),
        _ => return None,
    };
    let column = name.replace(' ', "_");
    Some(format!(
        "SELECT '{}' AS {column}",
        value.replace('\'', "''")
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn catalog_spellings_are_rewritten() {
        let sql = "SELECT c.relname FROM pg_catalog.pg_class c \
                   WHERE c.relname OPERATOR(pg_catalog.~) '^(sales)$' COLLATE pg_catalog.default";
        let rewritten = rewrite_queries(sql);
        assert!(!rewritten.contains("OPERATOR"), "{rewritten}");
        assert!(!rewritten.contains("COLLATE"), "{rewritten}");
    }

    #[test]
    fn procedures_compared_with_oid_zero_are_compared_with_its_name() {
        let sql = "SELECT oid FROM pg_catalog.pg_type \
                   WHERE (typreceive != 0 OR t.typsend = 0) AND typtype != 'r' AND typlen != 0";
        let rewritten = rewrite_queries(sql);
        assert!(
            rewritten.contains("typreceive::TEXT <> '-'")
                && rewritten.contains("t.typsend::TEXT = '-'"),
            "{rewritten}"
        );
        assert!(rewritten.contains("typlen <> 0"), "{rewritten}");
    }

    #[test]
    fn other_statements_are_kept() {
        let ddl = "CREATE EXTERNAL TABLE t STORED AS CSV LOCATION 'x.csv'";
        assert!(matches!(rewrite_queries(ddl), Cow::Borrowed(_)));
        let insert = "INSERT INTO t VALUES (1)";
        assert!(matches!(rewrite_queries(insert), Cow::Borrowed(_)));
    }
}
