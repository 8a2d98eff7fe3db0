//! The project file, `canon.toml`: parsing, path resolution relative to the file, and
//! validation with errors that name the file, line and key.

mod declarations;
mod delta;
mod diagnostics;
mod distributed;
mod keys;
mod lineage;
mod models;
pub(crate) mod raw;
mod rules;
mod server;
mod settings;
mod stores;
mod validate;

use std::path::{Path, PathBuf};

use crate::contract::DatasetSpec;
use crate::declarations::PreparedSpec;
use crate::declarations::{MacroSpec, OverrideSpec};
use crate::distributed::DistributedSpec;
use crate::error::{Problem, ProjectError};
use crate::model::ModelSpec;
use crate::openlineage::LineageSpec;
use crate::policy::SqlPolicy;
use crate::profile::{DiagnosticsSpec, ProfileSpec};
use crate::server::ServerSpec;

/// A loaded and validated project: profile, policy and dataset contracts.
#[derive(Debug, Clone)]
pub struct Project {
    /// The project's name.
    pub name: String,
    /// The project file, as given.
    pub file: PathBuf,
    /// The directory relative paths in the project file are resolved against.
    pub root: PathBuf,
    /// Session and runtime settings.
    pub profile: ProfileSpec,
    /// What SQL may run.
    pub policy: SqlPolicy,
    /// Every dataset contract, in file order.
    pub datasets: Vec<DatasetSpec>,
    /// Every model (`[[model]]`), in file order.
    pub models: Vec<ModelSpec>,
    /// SQL macros (`[[function]]`), in file order.
    pub functions: Vec<MacroSpec>,
    /// Builtin or Canon functions that Canon's functions and macros may replace.
    pub overrides: Vec<OverrideSpec>,
    /// Prepared statements every session can execute (`[[prepared]]`), in file order.
    pub prepared: Vec<PreparedSpec>,
    /// The limits `canon serve` keeps (`[server]`).
    pub server: ServerSpec,
    /// The workers distributed plans run on (`[distributed]`).
    pub distributed: DistributedSpec,
    /// Where OpenLineage events about the project's runs go (`[lineage]`).
    pub lineage: LineageSpec,
}

impl Project {
    /// Reads and validates a project file.
    pub fn load(file: impl AsRef<Path>) -> Result<Self, ProjectError> {
        let file = file.as_ref();
        let text = std::fs::read_to_string(file).map_err(|source| ProjectError::Read {
            file: file.to_path_buf(),
            source,
        })?;
        let root = match file.parent() {
            Some(p) if !p.as_os_str().is_empty() => p.to_path_buf(),
            _ => PathBuf::from("."),
        };
        let root = std::path::absolute(&root).map_err(|source| ProjectError::Read {
            file: file.to_path_buf(),
            source,
        })?;
        Self::parse(&text, file, &root)
    }

    /// Parses and validates project text; relative paths resolve against `root`.
    pub fn parse(text: &str, file: &Path, root: &Path) -> Result<Self, ProjectError> {
        let source = Source::new(text, file);
        let mut raw: raw::RawProject = toml::from_str(text).map_err(|e| {
            let (line, column) = e
                .span()
                .map(|span| source.locate(span.start))
                .unwrap_or((1, 1));
            ProjectError::Invalid {
                file: file.to_path_buf(),
                problems: vec![Problem {
                    line,
                    column,
                    key: parse_error_key(e.message()),
                    message: e.message().trim().to_string(),
                }],
            }
        })?;
        raw.profile.diagnostics = std::mem::take(&mut raw.diagnostics);
        raw.profile.stores = std::mem::take(&mut raw.stores);
        validate::project(raw, &source, root)
    }

    /// What Canon does when its diagnostics log cannot be written (`[diagnostics]`).
    pub fn diagnostics(&self) -> &DiagnosticsSpec {
        &self.profile.diagnostics
    }

    /// Where Canon keeps what it may reuse between runs of this project (today the
    /// manifest of verified data files): `.canon/` beside the project file.
    pub fn cache_dir(&self) -> PathBuf {
        self.root.join(".canon")
    }

    /// The model with this name, if the project declares one.
    pub fn model(&self, name: &str) -> Option<&ModelSpec> {
        self.models.iter().find(|m| m.name == name)
    }

    /// The dataset with this name, if the project declares one.
    pub fn dataset(&self, name: &str) -> Option<&DatasetSpec> {
        self.datasets.iter().find(|d| d.name == name)
    }

    /// The contract of the dataset or model with this name: what readers of it rely on.
    pub fn contract(&self, name: &str) -> Option<&DatasetSpec> {
        self.dataset(name)
            .or_else(|| self.model(name).map(|m| &m.contract))
    }
}

/// The project text, for turning byte offsets into lines and columns.
pub(crate) struct Source<'a> {
    text: &'a str,
    file: &'a Path,
    /// Byte offset of each line's start, ascending: every declaration is located, so a
    /// project of thousands of datasets must not rescan the text for each one.
    line_starts: Vec<usize>,
}

impl<'a> Source<'a> {
    fn new(text: &'a str, file: &'a Path) -> Self {
        let line_starts = std::iter::once(0)
            .chain(text.match_indices('\n').map(|(i, _)| i + 1))
            .collect();
        Self {
            text,
            file,
            line_starts,
        }
    }

    /// 1-based line and column of a byte offset.
    fn locate(&self, offset: usize) -> (usize, usize) {
        let offset = offset.min(self.text.len());
        // The first line starts at 0, so at least one start is at or before `offset`.
        let line = self.line_starts.partition_point(|&start| start <= offset);
        let start = self
            .line_starts
            .get(line.saturating_sub(1))
            .copied()
            .unwrap_or(0);
        let column = self
            .text
            .get(start..offset)
            .map_or(0, |l| l.chars().count())
            + 1;
        (line.max(1), column)
    }
}

/// serde names the offending key inside backticks; surface it as the problem's key.
fn parse_error_key(message: &str) -> String {
    let key = message
        .split('`')
        .nth(1)
        .filter(|k| !k.is_empty())
        .unwrap_or("(syntax)");
    key.to_string()
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Every offset, including ends of lines, multi-byte characters and past the end,
    /// is located as counting from the start of the text would locate it.
    #[test]
    fn locate_matches_counting_from_the_start() {
        let text = "[project]\nname = \"é\"\n\n[[dataset]]\r\nname = \"ä ö\"\n";
        let source = Source::new(text, Path::new("canon.toml"));
        for offset in (0..=text.len() + 3).filter(|&o| o >= text.len() || text.is_char_boundary(o))
        {
            let before = &text[..offset.min(text.len())];
            let line = before.matches('\n').count() + 1;
            let column = before.rsplit('\n').next().map_or(0, |l| l.chars().count()) + 1;
            assert_eq!(source.locate(offset), (line, column), "offset {offset}");
        }
    }
}
