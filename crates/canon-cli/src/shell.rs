//! The interactive shell: statements end with `;`, and `\q` quits.

use canon::{CanonError, Runtime, Session};
use rustyline::DefaultEditor;
use rustyline::error::ReadlineError;

use crate::Failure;
use crate::output::{self, OutputFormat};
use crate::stream::{self, StreamError};
use canon::sql::render_error;

const HELP: &str =
    "Statements end with `;`. \\d lists datasets, \\d NAME describes one, \\q quits.";

/// Runs the shell until end of input or `\q`.
pub async fn run(runtime: &Runtime, format: OutputFormat) -> Result<(), Failure> {
    let mut editor = DefaultEditor::new()
        .map_err(|e| Failure::runtime(format!("cannot start the shell: {e}")))?;
    let history =
        std::env::var_os("HOME").map(|h| std::path::PathBuf::from(h).join(".canon_history"));
    if let Some(path) = &history {
        // A missing history file is normal on first use.
        let _ = editor.load_history(path);
    }
    let session = runtime.session();
    eprintln!("canon shell: project `{}`. {HELP}", runtime.project().name);
    let mut buffer = String::new();
    loop {
        let prompt = if buffer.is_empty() {
            "canon> "
        } else {
            "   ..> "
        };
        let line = match editor.readline(prompt) {
            Ok(line) => line,
            Err(ReadlineError::Interrupted) => {
                buffer.clear();
                continue;
            }
            Err(ReadlineError::Eof) => break,
            Err(e) => return Err(Failure::runtime(format!("reading input: {e}"))),
        };
        let trimmed = line.trim();
        if buffer.is_empty() && trimmed.starts_with('\\') {
            let _ = editor.add_history_entry(trimmed);
            match meta_command(runtime, &session, trimmed).await {
                Ok(Some(text)) => print!("{text}"),
                Ok(None) => break,
                Err(e) => eprintln!("error: {e}"),
            }
            continue;
        }
        buffer.push_str(&line);
        buffer.push('\n');
        if !trimmed.ends_with(';') {
            continue;
        }
        let _ = editor.add_history_entry(buffer.trim());
        if let Err(e) = run_sql(&session, &buffer, format).await {
            eprintln!("error: {e}");
        }
        buffer.clear();
    }
    if let Some(path) = &history {
        // Failing to save history must not turn a clean exit into an error.
        let _ = editor.save_history(path);
    }
    Ok(())
}

/// Handles a backslash command; `None` means quit. Listings come from Canon's
/// prepared system statements, as in the other commands.
async fn meta_command(
    runtime: &Runtime,
    session: &Session,
    command: &str,
) -> Result<Option<String>, CanonError> {
    let mut words = command.split_whitespace();
    Ok(match (words.next(), words.next()) {
        (Some("\\q"), _) => None,
        (Some("\\d"), None) => {
            let batches = session
                .execute("canon_datasets", vec![])
                .await?
                .collect()
                .await?;
            let rows = output::cells(&batches).map_err(|e| CanonError::DataFusion(e.into()))?;
            Some(
                rows.iter()
                    .map(|r| format!("{}  ({}, {})\n", r[0], r[1], r[2]))
                    .collect(),
            )
        }
        (Some("\\d"), Some(name)) if runtime.dataset(name).is_some() => {
            Some(crate::describe(runtime, session, name).await?)
        }
        (Some("\\d"), Some(name)) => Some(format!("no dataset `{name}`\n")),
        _ => Some(format!("{HELP}\n")),
    })
}

/// Runs the statements of `sql`; an error comes back rendered, pointing into `sql`.
async fn run_sql(session: &Session, sql: &str, format: OutputFormat) -> Result<(), String> {
    let mut out = stream::Output::new(std::io::stdout().lock());
    let statements = session.parse(sql).map_err(|e| render_error(&e, sql))?;
    for (i, statement) in statements.into_iter().enumerate() {
        let df = session
            .statement(statement)
            .await
            .map_err(|e| render_error(&e, sql))?;
        match stream::print(df, &mut out, format, i == 0).await {
            Ok(()) => {}
            Err(StreamError::Query(e)) => return Err(render_error(&e, sql)),
            // Standard output's reader went away: nothing more can be shown.
            Err(StreamError::Output(_)) if out.closed() => return Ok(()),
            Err(StreamError::Output(e)) => return Err(e.to_string()),
        }
    }
    Ok(())
}
