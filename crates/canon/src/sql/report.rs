//! SQL errors as psql and DuckDB show them: the message, the offending line of SQL, and a
//! caret under the position.
//!
//! Two sources say where an error is. The SQL parser ends its messages with
//! ` at Line: L, Column: C` (sqlparser's `Location`), and DataFusion's planner attaches a
//! [`Diagnostic`] with a span to some errors (unknown tables and functions always; unknown
//! columns when `datafusion.sql_parser.collect_spans` is on). Lines and columns count from
//! 1, columns in characters, both over the whole text that was parsed — so a statement in
//! the middle of a script points at its line in the script.

use std::fmt::Write as _;

use datafusion::common::Diagnostic;
use datafusion::error::DataFusionError;
use datafusion::sql::sqlparser::parser::ParserError;

use crate::error::CanonError;

/// Where in the SQL text an error is: 1-based line and column, and how many characters to
/// underline (at least one).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Position {
    line: usize,
    column: usize,
    width: usize,
}

/// The error's message, then — when the error says where in `sql` it is — the line and a
/// caret under the position. Errors without a position render as their message alone.
pub fn render(error: &CanonError, sql: &str) -> String {
    let (message, position) = locate(error, sql);
    let mut out = message;
    if let Some(position) = position {
        out.push_str(&excerpt(sql, position));
    }
    if let CanonError::DataFusion(e) = error
        && let Some(diagnostic) = e.diagnostic()
    {
        out.push_str(&hints(diagnostic, &out));
    }
    out
}

/// The error's message and, when the error says where in `sql` it is, the 1-based line and
/// column there (the caret's place in [`render`]).
pub fn position(error: &CanonError, sql: &str) -> (String, Option<(usize, usize)>) {
    let (message, position) = locate(error, sql);
    (message, position.map(|p| (p.line, p.column)))
}

/// The message to show and the position, if the error carries one.
fn locate(error: &CanonError, sql: &str) -> (String, Option<Position>) {
    match error {
        CanonError::DataFusion(e) => {
            if let Some(parser) = parser_error(e) {
                let (message, position) = split_parser_message(parser, sql);
                // A parser error points at a token's start, as psql's caret does.
                let position = position.or_else(|| diagnostic_position(e).map(single));
                return (message, position);
            }
            (e.strip_backtrace(), diagnostic_position(e))
        }
        // Canon's message names the construct; the parser's own says where it is.
        CanonError::Syntax(syntax) => (
            error.to_string(),
            split_parser_message(&syntax.parser, sql).1,
        ),
        other => (other.to_string(), None),
    }
}

/// The parser error inside DataFusion's wrappers, as text without sqlparser's prefix.
fn parser_error(error: &DataFusionError) -> Option<&str> {
    match error {
        DataFusionError::SQL(e, _) => Some(match e.as_ref() {
            ParserError::ParserError(message) | ParserError::TokenizerError(message) => message,
            ParserError::RecursionLimitExceeded => "recursion limit exceeded",
        }),
        DataFusionError::Diagnostic(_, inner) => parser_error(inner),
        _ => None,
    }
}

/// Splits `… at Line: L, Column: C` into the message and the position. A parser that ran
/// out of input reports `found: EOF` without a location; the caret then goes just past the
/// last character of the text, as psql says "at end of input".
fn split_parser_message(message: &str, sql: &str) -> (String, Option<Position>) {
    if let Some(at) = message.rfind(" at Line: ")
        && let Some((line, column)) = message[at + " at Line: ".len()..].split_once(", Column: ")
        && let (Ok(line), Ok(column)) = (line.trim().parse(), column.trim().parse())
        && line > 0
        && column > 0
    {
        let position = Position {
            line,
            column,
            width: 1,
        };
        return (message[..at].to_string(), Some(position));
    }
    let position = message
        .ends_with("found: EOF")
        .then(|| end_of(sql))
        .flatten();
    (message.to_string(), position)
}

/// The position just after the last non-blank character of `sql`.
fn end_of(sql: &str) -> Option<Position> {
    let trimmed = sql.trim_end();
    if trimmed.is_empty() {
        return None;
    }
    let line = trimmed.split('\n').count();
    let last = trimmed.rsplit('\n').next().unwrap_or_default();
    Some(Position {
        line,
        column: last.chars().count() + 1,
        width: 1,
    })
}

/// The span of the error's diagnostic; a span over several lines is shown by its start.
fn diagnostic_position(error: &DataFusionError) -> Option<Position> {
    let span = error.diagnostic()?.span?;
    let (line, column) = (usize::try_from(span.start.line).ok()?, span.start.column);
    let column = usize::try_from(column).ok()?;
    if line == 0 || column == 0 {
        return None;
    }
    let width = if span.end.line == span.start.line && span.end.column > span.start.column {
        usize::try_from(span.end.column - span.start.column).unwrap_or(1)
    } else {
        1
    };
    Some(Position {
        line,
        column,
        width,
    })
}

fn single(position: Position) -> Position {
    Position {
        width: 1,
        ..position
    }
}

/// `LINE n: <the line>` and the caret line under it, each preceded by a newline.
fn excerpt(sql: &str, position: Position) -> String {
    let Some(text) = sql.split('\n').nth(position.line - 1) else {
        return String::new();
    };
    let text = text.strip_suffix('\r').unwrap_or(text);
    let label = format!("LINE {}: ", position.line);
    // Tabs stay tabs in the padding, so the caret lines up however the terminal sets them.
    let mut pad: String = " ".repeat(label.len());
    pad.extend(
        text.chars()
            .take(position.column - 1)
            .map(|c| if c == '\t' { '\t' } else { ' ' }),
    );
    // A position past the end of the line (the end of input) still gets its caret.
    let past_end = (position.column - 1).saturating_sub(text.chars().count());
    pad.push_str(&" ".repeat(past_end));
    let available = text.chars().count().saturating_sub(position.column - 1);
    let width = position.width.min(available).max(1);
    format!("\n{label}{text}\n{pad}{}", "^".repeat(width))
}

/// The diagnostic's helps that the message does not already say. Its notes are left out:
/// DataFusion's messages already carry them ("Did you mean …", the valid fields).
fn hints(diagnostic: &Diagnostic, said: &str) -> String {
    let mut out = String::new();
    for help in &diagnostic.helps {
        if !said.contains(help.message.as_str()) {
            let _ = write!(out, "\nhelp: {}", help.message);
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use datafusion::common::{Location, Span};

    fn parser(message: &str) -> CanonError {
        CanonError::DataFusion(DataFusionError::SQL(
            Box::new(ParserError::ParserError(message.to_string())),
            None,
        ))
    }

    #[test]
    fn parser_error_gets_line_and_caret() {
        let sql = "SELECT 1,\n  2 FROM\n   WHERE x";
        let error = parser("Expected: identifier, found: WHERE at Line: 3, Column: 4");
        assert_eq!(
            render(&error, sql),
            "Expected: identifier, found: WHERE\nLINE 3:    WHERE x\n           ^"
        );
    }

    #[test]
    fn end_of_input_points_past_the_last_character() {
        let error = parser("Expected: an expression, found: EOF");
        assert_eq!(
            render(&error, "SELECT 1 +\n"),
            "Expected: an expression, found: EOF\nLINE 1: SELECT 1 +\n                  ^"
        );
    }

    #[test]
    fn diagnostic_span_is_underlined_and_tabs_are_kept() {
        let span = Span::new(
            Location { line: 2, column: 7 },
            Location {
                line: 2,
                column: 13,
            },
        );
        let error = DataFusionError::Plan("table 'nosuch' not found".into()).with_diagnostic(
            Diagnostic::new_error("table 'nosuch' not found", Some(span)),
        );
        let rendered = render(&CanonError::DataFusion(error), "SELECT *\n\tFROM nosuch");
        assert_eq!(
            rendered,
            "Error during planning: table 'nosuch' not found\nLINE 2: \tFROM nosuch\n        \t     ^^^^^^"
        );
    }

    #[test]
    fn errors_without_a_position_are_just_the_message() {
        let error = CanonError::DataFusion(DataFusionError::Execution("boom".into()));
        assert_eq!(render(&error, "SELECT 1"), "Execution error: boom");
    }
}
