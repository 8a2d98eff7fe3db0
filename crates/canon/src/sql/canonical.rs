//! Canonical SQL: a plan rendered back to SQL text by DataFusion's unparser, in a form the
//! project's own dialect reads back to the same rows.

use datafusion::error::{DataFusionError, Result as DfResult};
use datafusion::logical_expr::{Expr, LogicalPlan};
use datafusion::sql::sqlparser::ast;
use datafusion::sql::sqlparser::dialect::dialect_from_str;
use datafusion::sql::sqlparser::keywords::ALL_KEYWORDS;
use datafusion::sql::unparser::Unparser;
use datafusion::sql::unparser::dialect::Dialect as UnparserDialect;

/// DataFusion's default unparser dialect, except that identifiers are quoted with the
/// character the parse dialect reads as an identifier quote (backticks for MySQL, BigQuery,
/// Hive, …), and struct literals are written as `named_struct(…)` calls where the dialect
/// has no `{…}` syntax. The engine-specific unparser dialects are not used: they rewrite
/// functions and null ordering for other engines, which DataFusion would not read back the
/// same way.
struct CanonicalDialect {
    quote: char,
    braces: bool,
}

impl UnparserDialect for CanonicalDialect {
    fn identifier_quote_style(&self, identifier: &str) -> Option<char> {
        let mut chars = identifier.chars();
        let plain = chars
            .next()
            .is_some_and(|c| c.is_ascii_lowercase() || c == '_')
            && chars.all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '_');
        // Uppercase letters are quoted so that lowercasing dialects keep them; keywords so
        // that they read as names. `id` is a ClickHouse keyword nobody means as one.
        let upper = identifier.to_ascii_uppercase();
        let keyword = upper != "ID" && ALL_KEYWORDS.binary_search(&upper.as_str()).is_ok();
        (!plain || keyword).then_some(self.quote)
    }

    fn scalar_function_to_sql_overrides(
        &self,
        unparser: &Unparser,
        func_name: &str,
        args: &[Expr],
    ) -> DfResult<Option<ast::Expr>> {
        if func_name != "named_struct" || self.braces {
            return Ok(None);
        }
        let args = args
            .iter()
            .map(|arg| {
                let arg = unparser.expr_to_sql(arg)?;
                Ok(ast::FunctionArg::Unnamed(ast::FunctionArgExpr::Expr(arg)))
            })
            .collect::<DfResult<Vec<_>>>()?;
        Ok(Some(ast::Expr::Function(ast::Function {
            name: ast::ObjectName::from(vec![ast::Ident::new(func_name)]),
            uses_odbc_syntax: false,
            parameters: ast::FunctionArguments::None,
            args: ast::FunctionArguments::List(ast::FunctionArgumentList {
                duplicate_treatment: None,
                args,
                clauses: vec![],
            }),
            filter: None,
            null_treatment: None,
            over: None,
            within_group: vec![],
        })))
    }
}

/// Renders a logical plan as SQL that `dialect` parses back to an equivalent plan.
///
/// Pass the plan as planned from SQL (or built with the DataFrame API), before optimization:
/// optimized plans carry rewrites (decorrelated subqueries, generated aliases) that render
/// as longer, less readable SQL.
pub fn canonical_sql(plan: &LogicalPlan, dialect: &str) -> Result<String, DataFusionError> {
    let parser = dialect_from_str(dialect);
    let quote = match &parser {
        Some(d)
            if !d.is_delimited_identifier_start('"') && d.is_delimited_identifier_start('`') =>
        {
            '`'
        }
        _ => '"',
    };
    let braces = parser
        .as_ref()
        .is_none_or(|d| d.supports_dictionary_syntax());
    let unparser_dialect = CanonicalDialect { quote, braces };
    let unparser = Unparser::new(&unparser_dialect).with_pretty(true);
    match unparser.plan_to_sql(plan) {
        Ok(statement) => Ok(statement.to_string()),
        Err(e) => Err(DataFusionError::NotImplemented(format!(
            "DataFusion's unparser cannot render this plan as SQL: {}",
            short_reason(&e)
        ))),
    }
}

/// The unparser's message without the debug dump of the whole plan it sometimes appends.
fn short_reason(error: &DataFusionError) -> String {
    let text = error.strip_backtrace();
    let text = text
        .strip_prefix("This feature is not implemented: ")
        .unwrap_or(&text);
    match text.split_once("Unsupported operator: ") {
        Some((_, rest)) => {
            let name: String = rest.chars().take_while(|c| c.is_alphanumeric()).collect();
            format!("unsupported operator {name}")
        }
        None => text.lines().next().unwrap_or_default().to_string(),
    }
}
