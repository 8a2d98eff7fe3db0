//! Malformed `[functions]`, `[[function]]` and `[[prepared]]` sections: each problem names
//! the file, line, column and key, like the rest of the project file.

use crate::common::{Fixture, assert_contains, position_at};

/// Loads `toml` and asserts exactly one problem, at the first occurrence of `at`.
#[track_caller]
fn expect_problem(toml: &str, at: &str, key: &str, message: &str) {
    let fx = Fixture::new();
    let err = fx.project_error(toml);
    let offset = toml
        .find(at)
        .unwrap_or_else(|| panic!("{at:?} not in project text"));
    let (line, column) = position_at(toml, offset);
    let location = format!("{}:{line}:{column}: {key}: ", fx.project_file());
    assert_contains(&err, &["invalid project file\n", &location, message]);
    let prefix = format!("  {}:", fx.project_file());
    let problems = err.lines().filter(|l| l.starts_with(&prefix)).count();
    assert_eq!(problems, 1, "expected exactly one problem:\n{err}");
}

const HEAD: &str = "[project]\nname = \"p\"\n";

#[test]
fn unknown_keys_are_refused() {
    let toml = format!(
        "{HEAD}\n[[function]]\nname = \"f\"\nreturns = \"BIGINT\"\nbody = \"1\"\nlanguage = \"sql\"\n"
    );
    expect_problem(&toml, "language", "language", "unknown field `language`");
    let toml = format!("{HEAD}\n[[prepared]]\nname = \"p\"\nsql = \"SELECT 1\"\ntypes = []\n");
    expect_problem(&toml, "types", "types", "unknown field `types`");
    let toml = format!("{HEAD}\n[functions]\noverride = [\"abs\"]\n");
    expect_problem(&toml, "override", "override", "unknown field `override`");
}

#[test]
fn names_are_lowercase_sql_names_declared_once() {
    let toml =
        format!("{HEAD}\n[[function]]\nname = \"Net\"\nreturns = \"BIGINT\"\nbody = \"1\"\n");
    expect_problem(
        &toml,
        "\"Net\"",
        "function[Net].name",
        "must be a lowercase SQL name",
    );
    let toml = format!(
        "{HEAD}\n[[prepared]]\nname = \"q\"\nsql = \"SELECT 1\"\n\n[[prepared]]\nname = \"q\"\nsql = \"SELECT 2\"\n"
    );
    let second = toml.rfind("\"q\"").unwrap();
    let fx = Fixture::new();
    let err = fx.project_error(&toml);
    let (line, column) = position_at(&toml, second);
    assert_contains(
        &err,
        &[&format!(
            "{}:{line}:{column}: prepared[q].name: declared twice (first at line 5)",
            fx.project_file()
        )],
    );
    let toml = format!(
        "{HEAD}\n[[function]]\nname = \"f\"\nargs = [{{ name = \"x\", type = \"BIGINT\" }}, {{ name = \"x\", type = \"INT\" }}]\nreturns = \"BIGINT\"\nbody = \"x\"\n"
    );
    let second = toml.rfind("name = \"x\"").unwrap() + "name = ".len();
    let fx = Fixture::new();
    let err = fx.project_error(&toml);
    let (line, column) = position_at(&toml, second);
    assert_contains(
        &err,
        &[&format!(
            "{}:{line}:{column}: function[f].args[1].name: declared twice",
            fx.project_file()
        )],
    );
}

#[test]
fn macro_bodies_must_parse() {
    let toml = format!(
        "{HEAD}\n[[function]]\nname = \"f\"\nargs = [{{ name = \"x\", type = \"BIGINT\" }}]\nreturns = \"BIGINT\"\nbody = \"x +\"\n"
    );
    expect_problem(
        &toml,
        "\"x +\"",
        "function[f].body",
        "does not parse as CREATE FUNCTION",
    );
    let toml = format!("{HEAD}\n[[function]]\nname = \"f\"\nreturns = \"\"\nbody = \"1\"\n");
    expect_problem(&toml, "\"\"", "function[f].returns", "must not be empty");
}

#[test]
fn prepared_statements_must_parse_and_pass_the_policy() {
    let toml = format!("{HEAD}\n[[prepared]]\nname = \"q\"\nsql = \"SELEC 1\"\n");
    expect_problem(&toml, "\"SELEC 1\"", "prepared[q].sql", "does not parse");
    let toml = format!("{HEAD}\n[[prepared]]\nname = \"q\"\nsql = \"SELECT 1; SELECT 2\"\n");
    expect_problem(
        &toml,
        "\"SELECT 1;",
        "prepared[q].sql",
        "must be exactly one statement, found 2",
    );
    let toml = format!("{HEAD}\n[[prepared]]\nname = \"q\"\nsql = \"INSERT INTO t VALUES ($1)\"\n");
    expect_problem(
        &toml,
        "\"INSERT",
        "prepared[q].sql",
        "SQL policy refuses DML (policy.allow_dml = false): INSERT INTO t VALUES ($1)",
    );
    let toml = format!("{HEAD}\n[[prepared]]\nname = \"q\"\nsql = \"EXECUTE other(1)\"\n");
    expect_problem(
        &toml,
        "\"EXECUTE",
        "prepared[q].sql",
        "not a PREPARE, EXECUTE or DEALLOCATE",
    );
    let toml = format!("{HEAD}\n[[prepared]]\nname = \"canon_datasets\"\nsql = \"SELECT 1\"\n");
    expect_problem(
        &toml,
        "\"canon_datasets\"",
        "prepared[canon_datasets].name",
        "is the name of one of Canon's system statements",
    );
    let toml = format!(
        "{HEAD}\n[[prepared]]\nname = \"q\"\nsql = \"SELECT $1\"\nparams = [\"NOT A TYPE(\"]\n"
    );
    expect_problem(
        &toml,
        "\"NOT A TYPE(\"",
        "prepared[q].params",
        "parameter types do not parse",
    );
}
