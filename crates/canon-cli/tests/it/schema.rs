//! `canon schema` and the schema it prints: the committed `schema/canon.schema.json`, what
//! editors validate against, agrees with the loader. It accepts every example project and
//! every TOML block of the documentation, refuses the mistakes the loader refuses, and its
//! patterns for sizes, durations, timestamps and dialects read values as the loader does.

use std::path::{Path, PathBuf};

use canon::canon_model::project::Project;
use serde_json::Value;

use crate::docs::{toml_projects, workspace_root};
use crate::{canon, ok};

/// The committed schema file, as text.
fn committed_text() -> String {
    let path = workspace_root().join("schema/canon.schema.json");
    std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("cannot read {}: {e}", path.display()))
}

/// A validator for the committed schema (which must itself be valid JSON Schema).
fn validator() -> jsonschema::Validator {
    let schema: Value = serde_json::from_str(&committed_text()).expect("the schema is JSON");
    jsonschema::validator_for(&schema).expect("the schema is valid JSON Schema")
}

/// What the schema says of a TOML text: `Ok`, or its errors, one per line.
fn schema_verdict(validator: &jsonschema::Validator, text: &str) -> Result<(), String> {
    let instance: Value = toml::from_str(text).map_err(|e| format!("not TOML: {e}"))?;
    let errors: Vec<String> = validator
        .iter_errors(&instance)
        .map(|e| format!("{}: {e}", e.instance_path()))
        .collect();
    if errors.is_empty() {
        Ok(())
    } else {
        Err(errors.join("\n"))
    }
}

/// What the loader says of a project text whose relative paths resolve against `root`.
fn loader_verdict(text: &str, root: &Path) -> Result<(), String> {
    Project::parse(text, Path::new("canon.toml"), root)
        .map(drop)
        .map_err(|e| e.to_string())
}

#[test]
fn schema_command_prints_the_committed_schema_without_a_project() {
    // An empty directory: no canon.toml, and none named by CANON_PROJECT.
    let dir = tempfile::tempdir().expect("tempdir");
    let printed = ok(canon(dir.path(), &["schema"], None));
    let parsed: Value = serde_json::from_str(&printed).expect("canon schema prints JSON");
    assert_eq!(parsed["title"], "Canon project file (canon.toml)");
    assert!(
        printed == committed_text(),
        "schema/canon.schema.json is not what `canon schema` prints; regenerate it with \
         `canon schema > schema/canon.schema.json`"
    );
}

#[test]
fn example_projects_validate() {
    let validator = validator();
    let mut projects = Vec::new();
    find_projects(&workspace_root().join("examples"), &mut projects);
    assert!(!projects.is_empty(), "no examples/**/canon.toml found");
    for project in projects {
        let text = std::fs::read_to_string(&project).expect("read example");
        if let Err(errors) = schema_verdict(&validator, &text) {
            panic!("{} does not validate:\n{errors}", project.display());
        }
        // The `#:schema` directive editors read is a comment to the loader.
        Project::load(&project).unwrap_or_else(|e| panic!("{e}"));
    }
}

/// What an editor does with the `#:schema` directive, done by the engine editors use:
/// taplo lints every example against the schema it names (a path relative to the file),
/// and a misspelled key in a copy is reported.
#[test]
fn taplo_validates_the_examples_through_their_schema_directive() {
    let Some(taplo) = crate::taplo() else { return };
    let mut projects = Vec::new();
    find_projects(&workspace_root().join("examples"), &mut projects);
    for project in &projects {
        let output = std::process::Command::new(&taplo)
            .args(["lint", "--colors", "never"])
            .arg(project)
            .output()
            .expect("run taplo");
        assert!(
            output.status.success(),
            "taplo refuses {}: {}",
            project.display(),
            crate::stderr(&output)
        );
    }
    // A broken copy elsewhere, its directive pointing at the committed schema.
    let quickstart = workspace_root().join("examples/quickstart/canon.toml");
    let text = std::fs::read_to_string(quickstart).expect("read");
    let schema = workspace_root().join("schema/canon.schema.json");
    let directive = format!("#:schema {}", schema.display());
    let broken = text
        .replacen("#:schema ../../schema/canon.schema.json", &directive, 1)
        .replacen("format = \"csv\"", "formatt = \"csv\"", 1);
    assert!(
        broken.starts_with(&directive) && broken.contains("formatt"),
        "the quickstart names its schema and declares a CSV dataset"
    );
    let dir = tempfile::tempdir().expect("tempdir");
    let copy = tempfile::Builder::new()
        .suffix(".toml")
        .tempfile_in(dir.path())
        .expect("a temporary project file");
    std::fs::write(copy.path(), broken).expect("write the copy");
    let output = std::process::Command::new(&taplo)
        .args(["lint", "--colors", "never"])
        .arg(copy.path())
        .output()
        .expect("run taplo");
    let said = format!("{}{}", crate::stdout(&output), crate::stderr(&output));
    assert!(
        !output.status.success(),
        "taplo accepts a misspelled key: {said}"
    );
    assert!(said.contains("formatt"), "{said}");
}

fn find_projects(dir: &Path, found: &mut Vec<PathBuf>) {
    for entry in std::fs::read_dir(dir)
        .expect("read dir")
        .map(|e| e.expect("entry"))
    {
        let path = entry.path();
        if entry.file_type().expect("file type").is_dir() {
            find_projects(&path, found);
        } else if path.file_name().is_some_and(|n| n == "canon.toml") {
            found.push(path);
        }
    }
}

/// A project directory with an empty `data/`, for datasets whose location must exist.
fn project_dir() -> tempfile::TempDir {
    let dir = tempfile::tempdir().expect("tempdir");
    std::fs::create_dir(dir.path().join("data")).expect("mkdir data");
    dir
}

/// A project with one parquet dataset, its dataset table extended by `extra` lines.
fn with_dataset(extra: &str) -> String {
    format!(
        "[project]\nname = \"t\"\n\n[[dataset]]\nname = \"d\"\nformat = \"parquet\"\n\
         location = \"data/\"\ncolumns = [{{ name = \"id\", type = \"Int64\" }}]\n{extra}\n"
    )
}

/// A project with one parquet dataset and one model, the model's table extended by `extra`
/// lines.
fn with_model(extra: &str) -> String {
    format!(
        "{}\n[[model]]\nname = \"m\"\ncolumns = [{{ name = \"id\", type = \"Int64\" }}]\n{extra}\n",
        with_dataset("")
    )
}

/// A project with one Delta dataset, its dataset table extended by `extra` lines.
fn with_delta(extra: &str) -> String {
    format!(
        "[project]\nname = \"t\"\n\n[[dataset]]\nname = \"e\"\nformat = \"delta\"\n\
         location = \"tables/e\"\ncolumns = [{{ name = \"id\", type = \"Int64\" }}]\n{extra}\n"
    )
}

/// A project of `[project]` and `extra`.
fn project(extra: &str) -> String {
    format!("[project]\nname = \"t\"\n{extra}\n")
}

#[test]
fn schema_refuses_what_the_loader_refuses() {
    let validator = validator();
    let dir = project_dir();
    let bad = [
        ("an unknown top-level key", project("colour = \"blue\"")),
        ("an unknown dataset key", with_dataset("colour = \"blue\"")),
        (
            "an unknown format",
            with_dataset("").replace("\"parquet\"", "\"xlsx\""),
        ),
        (
            "an unknown memory pool",
            project("[profile]\nmemory_pool = \"lazy\""),
        ),
        (
            "a string batch size",
            project("[profile]\nbatch_size = \"big\""),
        ),
        ("a zero batch size", project("[profile]\nbatch_size = 0")),
        (
            "a size without a unit",
            project("[profile]\nmemory_limit = \"lots\""),
        ),
        (
            "a duration without a unit",
            project("[server]\nidle_timeout = \"30\""),
        ),
        (
            "an unknown dialect",
            project("[policy]\ndialect = \"oracle\""),
        ),
        (
            "an unknown identifier rule",
            project("[policy]\nidentifiers = \"upper\""),
        ),
        (
            "an unknown on_write_error",
            project("[diagnostics]\non_write_error = \"ignore\""),
        ),
        (
            "an unknown DataFusion setting",
            project("[profile.settings]\n\"datafusion.no.such\" = 1"),
        ),
        (
            "a setting Canon owns",
            project("[profile.settings]\n\"datafusion.execution.batch_size\" = 1"),
        ),
        (
            "an unknown parquet setting",
            project("[profile.parquet]\nno_such = true"),
        ),
        (
            "a dataset without columns",
            with_dataset("").replace("columns = [{ name = \"id\", type = \"Int64\" }]", ""),
        ),
        (
            "a dataset without a location",
            with_dataset("").replace("location = \"data/\"", ""),
        ),
        (
            "a blank dataset name",
            with_dataset("").replace("name = \"d\"", "name = \" \""),
        ),
        (
            "[dataset.delta] on parquet",
            with_dataset("[dataset.delta]\nview_types = true"),
        ),
        (
            "evolution rules on Delta",
            with_delta("[dataset.evolution]\nwiden = true"),
        ),
        (
            "both version and timestamp",
            with_delta("[dataset.delta]\nversion = 1\ntimestamp = \"2026-01-01T00:00:00Z\""),
        ),
        (
            "a negative version",
            with_delta("[dataset.delta]\nversion = -1"),
        ),
        (
            "an unknown evolution rule",
            with_dataset("[dataset.evolution]\nmissing = \"skip\""),
        ),
        (
            "a store of an unknown scheme",
            project("[[store]]\nurl = \"ftp://host\""),
        ),
        (
            "a secret not from the environment",
            project("[[store]]\nurl = \"s3://b\"\nsecrets = { access_key_id = \"AKIA\" }"),
        ),
        (
            "an https worker",
            project("[distributed]\nworkers = [\"https://w1:50061\"]"),
        ),
        (
            "an uppercase macro name",
            project("[[function]]\nname = \"Net\"\nreturns = \"DOUBLE\"\nbody = \"1\""),
        ),
        (
            "a system statement's name",
            project("[[prepared]]\nname = \"canon_datasets\"\nsql = \"SELECT 1\""),
        ),
        (
            "a model without a query",
            with_model("location = \"build/m\""),
        ),
        (
            "a model with both sql and sql_file",
            with_model("location = \"build/m\"\nsql = \"SELECT id FROM d\"\nsql_file = \"m.sql\""),
        ),
        (
            "a stored model without a location",
            with_model("sql = \"SELECT id FROM d\""),
        ),
        (
            "a view with a location",
            with_model("kind = \"view\"\nlocation = \"build/m\"\nsql = \"SELECT id FROM d\""),
        ),
        (
            "an unknown model kind",
            with_model("kind = \"snapshot\"\nlocation = \"build/m\"\nsql = \"SELECT id FROM d\""),
        ),
        (
            "an append model without incremental",
            with_model(
                "kind = \"append\"\nlocation = \"build/m\"\nsql = \"SELECT id FROM d\"\nprimary_key = [\"id\"]",
            ),
        ),
        (
            "incremental on a table model",
            with_model(
                "location = \"build/m\"\nsql = \"SELECT id FROM d\"\nincremental = { column = \"id\" }",
            ),
        ),
        (
            "a model stored as parquet",
            with_model("format = \"parquet\"\nlocation = \"build/m\"\nsql = \"SELECT id FROM d\""),
        ),
        (
            "no [project] table",
            "[profile]\nbatch_size = 1\n".to_string(),
        ),
    ];
    for (what, text) in bad {
        assert!(
            loader_verdict(&text, dir.path()).is_err(),
            "the loader accepts {what}:\n{text}"
        );
        assert!(
            schema_verdict(&validator, &text).is_err(),
            "the schema accepts {what}:\n{text}"
        );
    }

    let good = [
        (
            "a dataset with evolution rules",
            with_dataset(
                "[dataset.evolution]\nmissing = \"default\"\ndefaults = { id = \"0\" }\n\
             renames = { ident = \"id\" }\nwiden = true",
            ),
        ),
        (
            "a Delta dataset",
            with_delta(
                "partitioned_by = [\"id\"]\n[dataset.delta]\nfile_column = \"_file\"\nversion = 3\n\
             change_data_feed = true",
            ),
        ),
        (
            "a [[function]]",
            project(
                "[[function]]\nname = \"net\"\nargs = [{ name = \"amount\", type = \"DOUBLE\" }]\n\
             returns = \"DOUBLE\"\nbody = \"amount * 0.9\"\ndescription = \"Net amount\"",
            ),
        ),
        (
            "a table model",
            with_model(
                "location = \"build/m\"\nsql = \"SELECT id FROM d\"\nunique = [[\"id\"]]\n\
                 description = \"Ids\"\nconstraints = [\"id > 0\"]",
            ),
        ),
        (
            "an append model",
            with_model(
                "kind = \"append\"\nlocation = \"build/m\"\nsql = \"SELECT id FROM d\"\n\
                 primary_key = [\"id\"]\nincremental = { column = \"id\" }",
            )
            .replace(
                "type = \"Int64\" }]\nkind",
                "type = \"Int64\", nullable = false }]\nkind",
            ),
        ),
        (
            "a view model",
            with_model("kind = \"view\"\nsql = \"SELECT id FROM d\""),
        ),
        (
            "a [[prepared]]",
            project("[[prepared]]\nname = \"one\"\nsql = \"SELECT $1\"\nparams = [\"INT\"]"),
        ),
        (
            "a store with secrets",
            project(
                "[[store]]\nurl = \"s3://lake\"\noptions = { region = \"eu-west-1\", allow_http = true }\n\
             secrets = { secret_access_key = { env = \"LAKE_SECRET\" } }",
            ),
        ),
        (
            "server limits and workers",
            project(
                "[server]\nmax_connections = 8\nstatement_timeout = \"0s\"\n\
             [distributed]\nworkers = [\"http://w1:50061\"]\nconnect_timeout = \"5s\"\n\
             bytes_per_partition = \"16MiB\"",
            ),
        ),
        (
            "DataFusion and parquet settings",
            project(
                "[profile.parquet]\npushdown_filters = true\n\
             [profile.settings]\n\"datafusion.optimizer.prefer_hash_join\" = \"true\"",
            ),
        ),
    ];
    for (what, text) in good {
        if let Err(e) = loader_verdict(&text, dir.path()) {
            panic!("the loader refuses {what}: {e}\n{text}");
        }
        if let Err(e) = schema_verdict(&validator, &text) {
            panic!("the schema refuses {what}: {e}\n{text}");
        }
    }
}

/// A kind of value, the project that sets it to a value, and the values to try.
type ValueCase = (&'static str, fn(&str) -> String, &'static [&'static str]);

/// The schema's patterns read sizes, durations, timestamps and dialect names as the
/// loader's parsers (bytesize, humantime, chrono, DataFusion) read them.
#[test]
fn value_patterns_agree_with_the_loader() {
    let validator = validator();
    let dir = project_dir();
    let cases: [ValueCase; 4] = [
        (
            "size",
            |v| project(&format!("[profile]\nmemory_limit = {v:?}")),
            &[
                "64MiB",
                "4GiB",
                "0",
                "512",
                "1.5GB",
                " 2 kib ",
                "8b",
                ".5M",
                "lots",
                "12 parsecs",
                "1.2.3MB",
                "",
                "-1MB",
                "1e3",
                "GiB",
            ],
        ),
        (
            "duration",
            |v| project(&format!("[server]\nstatement_timeout = {v:?}")),
            &[
                "30s",
                "1h 30m",
                "1h30m",
                "1.5s",
                "0",
                "0s",
                "2days",
                "500ms",
                "1µs",
                " 5 m ",
                "3M",
                "30",
                "s",
                "1.s",
                "3 fortnights",
                "-1s",
                "",
                "1h,30m",
            ],
        ),
        (
            "timestamp",
            |v| with_delta(&format!("[dataset.delta]\ntimestamp = {v:?}")),
            &[
                "2026-01-01T00:00:00Z",
                "2026-01-01 09:30:00+02:00",
                "2026-01-01t00:00:00.123z",
                "2026-01-01T00:00:00-05:00",
                "2026-01-01",
                "2026-01-01T00:00:00",
                "yesterday",
            ],
        ),
        (
            "dialect",
            |v| project(&format!("[policy]\ndialect = {v:?}")),
            &[
                "generic",
                "PostgreSQL",
                "postgres",
                "SparkSQL",
                "duckdb",
                "oracle",
                "",
            ],
        ),
    ];
    for (kind, text, values) in cases {
        for value in values {
            let text = text(value);
            let loader = loader_verdict(&text, dir.path());
            let schema = schema_verdict(&validator, &text);
            assert_eq!(
                loader.is_ok(),
                schema.is_ok(),
                "{kind} {value:?}: the loader says {loader:?}, the schema {schema:?}"
            );
        }
    }
}

/// Every ```toml block of README.md and docs/**/*.md validates (a block without a
/// `[project]` table gets one), so the documentation never shows what editors would flag.
#[test]
fn documentation_toml_blocks_validate() {
    let validator = validator();
    let projects = toml_projects();
    let mut failures = Vec::new();
    for project in &projects {
        if let Err(errors) = schema_verdict(&validator, &project.text) {
            let (file, line) = (project.file.display(), project.line());
            failures.push(format!("{file}:{line}:\n{errors}"));
        }
    }
    assert!(
        failures.is_empty(),
        "```toml blocks the schema refuses:\n{}",
        failures.join("\n\n")
    );
}
