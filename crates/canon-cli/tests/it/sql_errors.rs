//! SQL errors point into the SQL: the message, `LINE n:` with the offending line, and a
//! caret under the position — in `canon query`, `canon explain` and the shell.

use crate::{canon, quickstart_copy, stderr, stdout};

/// The statement with a parser error on its fourth line: a second `=` where an
/// expression should be.
const BROKEN: &str = "SELECT zone_id,\n       zone\n  FROM zones\n WHERE zone_id = = 1";

/// The `LINE n: …` line of an error and the caret line under it.
fn excerpt(err: &str) -> (&str, &str) {
    let lines: Vec<&str> = err.lines().collect();
    let at = lines
        .iter()
        .position(|l| l.starts_with("LINE "))
        .unwrap_or_else(|| panic!("no LINE in {err}"));
    assert!(at + 1 < lines.len(), "no caret line in {err}");
    (lines[at], lines[at + 1])
}

/// The byte index of the first caret, and how many carets follow it.
fn caret(line: &str) -> (usize, usize) {
    let start = line
        .find('^')
        .unwrap_or_else(|| panic!("no caret in {line:?}"));
    let width = line[start..].chars().take_while(|c| *c == '^').count();
    assert!(
        line[..start].chars().all(|c| c == ' '),
        "only spaces before the caret: {line:?}"
    );
    (start, width)
}

/// The column (0-based, in the `LINE` line) of the `nth` occurrence of `needle`.
fn column_of(line: &str, needle: &str, nth: usize) -> usize {
    line.match_indices(needle)
        .nth(nth)
        .map(|(i, _)| i)
        .unwrap_or_else(|| panic!("no {needle:?} #{nth} in {line:?}"))
}

#[test]
fn parser_error_in_a_multi_line_query_points_at_its_token() {
    let dir = quickstart_copy();
    let out = canon(dir.path(), &["query", BROKEN], None);
    assert_eq!(out.status.code(), Some(1));
    assert!(stdout(&out).is_empty());
    let err = stderr(&out);
    assert!(
        err.starts_with("error: Expected: an expression, found: =\n"),
        "{err}"
    );
    assert!(!err.contains("ParserError("), "{err}");
    let (line, carets) = excerpt(&err);
    assert_eq!(line, "LINE 4:  WHERE zone_id = = 1");
    // Under the second `=`.
    assert_eq!(caret(carets), (column_of(line, "=", 1), 1), "{err}");
}

#[test]
fn explain_points_at_the_same_place() {
    let dir = quickstart_copy();
    let out = canon(dir.path(), &["explain", BROKEN], None);
    assert_eq!(out.status.code(), Some(1));
    let err = stderr(&out);
    let (line, carets) = excerpt(&err);
    assert_eq!(line, "LINE 4:  WHERE zone_id = = 1");
    assert_eq!(caret(carets), (column_of(line, "=", 1), 1), "{err}");
}

#[test]
fn unknown_table_is_underlined_from_the_planner_span() {
    let dir = quickstart_copy();
    let sql = "SELECT count(*)\n  FROM trips\n  JOIN nosuch USING (zone_id)";
    let out = canon(dir.path(), &["query", sql], None);
    assert_eq!(out.status.code(), Some(1));
    let err = stderr(&out);
    assert!(err.contains("nosuch") && err.contains("not found"), "{err}");
    let (line, carets) = excerpt(&err);
    assert_eq!(line, "LINE 3:   JOIN nosuch USING (zone_id)");
    assert_eq!(
        caret(carets),
        (column_of(line, "nosuch", 0), "nosuch".len()),
        "{err}"
    );
}

#[test]
fn a_script_error_names_its_line_in_the_file() {
    let dir = quickstart_copy();
    std::fs::write(
        dir.path().join("script.sql"),
        "SELECT 1 AS one;\n\n-- the next one fails\nSELECT count(*)\n  FROM zones\n WHERE zone_id >;\n",
    )
    .expect("write script");
    let out = canon(dir.path(), &["query", "-f", "script.sql"], None);
    assert_eq!(out.status.code(), Some(1));
    let err = stderr(&out);
    let (line, carets) = excerpt(&err);
    assert_eq!(line, "LINE 6:  WHERE zone_id >;");
    assert_eq!(caret(carets), (column_of(line, ";", 0), 1), "{err}");
}

#[test]
fn unknown_column_is_underlined_when_spans_are_collected() {
    let dir = quickstart_copy();
    let file = dir.path().join("canon.toml");
    let text = std::fs::read_to_string(&file).expect("read project");
    std::fs::write(
        &file,
        text.replace(
            "[profile.settings]\n",
            "[profile.settings]\n\"datafusion.sql_parser.collect_spans\" = \"true\"\n",
        ),
    )
    .expect("write project");
    let sql = "SELECT zone_id,\n       zoen\n  FROM zones";
    let out = canon(dir.path(), &["query", sql], None);
    assert_eq!(out.status.code(), Some(1));
    let err = stderr(&out);
    let (line, carets) = excerpt(&err);
    assert_eq!(line, "LINE 2:        zoen");
    assert_eq!(
        caret(carets),
        (column_of(line, "zoen", 0), "zoen".len()),
        "{err}"
    );
}

#[test]
fn shell_points_into_the_statement_it_read() {
    let dir = quickstart_copy();
    let input = "SELECT zone\n  FROM zones\n WHERE zone_id = = 1;\nSELECT 2 AS two;\n\\q\n";
    let out = canon(dir.path(), &["shell", "--format", "csv"], Some(input));
    assert!(out.status.success(), "{}", stderr(&out));
    let err = stderr(&out);
    let (line, carets) = excerpt(&err);
    assert_eq!(line, "LINE 3:  WHERE zone_id = = 1;");
    assert_eq!(caret(carets), (column_of(line, "=", 1), 1), "{err}");
    assert!(stdout(&out).contains("two\n2\n"), "the shell goes on");
}
