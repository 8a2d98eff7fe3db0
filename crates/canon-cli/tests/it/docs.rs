//! The documentation stays true: README.md and every page under docs/ are read as they are
//! on GitHub, and what they show is checked against Canon itself.
//!
//! - every ```toml block loads as a project through the model crate (a block without a
//!   `[project]` table is a fragment: the check gives it one), so the reference never shows
//!   a key or value Canon would refuse;
//! - every ```sql runnable block runs with the `canon` binary against the quickstart
//!   project, so the queries a reader copies work;
//! - every relative link leads to a file, and an anchor to a heading in it, so moving or
//!   renaming a section breaks this test instead of the reader's click.
//!
//! Fences are found by a small scanner rather than a Markdown crate: the conventions are
//! simple (``` or ~~~ fences, the info string after them) and a dependency would only
//! serve this test.

use std::collections::{BTreeMap, HashMap};
use std::path::{Path, PathBuf};

use canon::canon_model::error::ProjectError;
use canon::canon_model::project::Project;

use crate::{canon, quickstart_copy, quickstart_dir, stderr, stdout};

/// The header a TOML fragment gets so that it loads as a whole project.
const PROJECT_HEADER: &str = "[project]\nname = \"docs\"\n";

/// The workspace root, where README.md, BENCHMARKS.md and docs/ live.
pub(crate) fn workspace_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../..")
}

/// The Markdown files whose code blocks are checked: README.md and docs/**/*.md, as paths
/// relative to the workspace root (they name the file in every failure).
fn documentation() -> Vec<PathBuf> {
    let root = workspace_root();
    let mut files = vec![PathBuf::from("README.md")];
    let mut pages = Vec::new();
    collect_markdown(&root, Path::new("docs"), &mut pages);
    assert!(
        !pages.is_empty(),
        "no Markdown pages found under {}",
        root.join("docs").display()
    );
    pages.sort();
    files.extend(pages);
    files
}

/// The files whose links are checked: the documentation and BENCHMARKS.md, which the
/// documentation links into and which links to the raw results.
fn linked_files() -> Vec<PathBuf> {
    let mut files = documentation();
    files.push(PathBuf::from("BENCHMARKS.md"));
    files
}

/// Adds every `.md` file under `dir` (relative to `root`), recursively, to `found`.
fn collect_markdown(root: &Path, dir: &Path, found: &mut Vec<PathBuf>) {
    let entries = std::fs::read_dir(root.join(dir))
        .unwrap_or_else(|e| panic!("cannot read {}: {e}", root.join(dir).display()));
    for entry in entries {
        let entry = entry.expect("directory entry");
        let relative = dir.join(entry.file_name());
        if entry.file_type().expect("file type").is_dir() {
            collect_markdown(root, &relative, found);
        } else if relative.extension().is_some_and(|e| e == "md") {
            found.push(relative);
        }
    }
}

/// Reads a file relative to the workspace root.
fn read(file: &Path) -> String {
    let path = workspace_root().join(file);
    std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("cannot read {}: {e}", path.display()))
}

/// One fenced code block of a Markdown file.
#[derive(Debug)]
struct Block {
    /// The 1-based line of the opening fence.
    line: usize,
    /// The text after the opening fence, trimmed: the language and any further words.
    info: String,
    /// The lines between the fences, without the opening fence's indentation.
    text: String,
}

impl Block {
    /// The words of the info string (`sql runnable` is `["sql", "runnable"]`).
    fn words(&self) -> Vec<&str> {
        self.info.split_whitespace().collect()
    }
}

/// An opening or closing fence: its indentation, character and length, and what follows it.
fn fence(line: &str) -> Option<(usize, char, usize, &str)> {
    let content = line.trim_start();
    let indent = line.len() - content.len();
    let marker = content.chars().next().filter(|c| *c == '`' || *c == '~')?;
    let length = content.chars().take_while(|c| *c == marker).count();
    (length >= 3).then(|| (indent, marker, length, content[length..].trim()))
}

/// The fenced code blocks of a Markdown text, in order. A fence may be indented (blocks
/// inside list items are), and closes with at least as many of the same character and
/// nothing else; an unclosed block runs to the end, as CommonMark reads it.
fn fenced_blocks(markdown: &str) -> Vec<Block> {
    let mut blocks = Vec::new();
    let mut open: Option<(usize, char, usize, Block)> = None;
    for (index, line) in markdown.lines().enumerate() {
        match open.take() {
            None => {
                if let Some((indent, marker, length, info)) = fence(line) {
                    let block = Block {
                        line: index + 1,
                        info: info.to_string(),
                        text: String::new(),
                    };
                    open = Some((indent, marker, length, block));
                }
            }
            Some((indent, marker, length, mut block)) => {
                let closes = fence(line)
                    .is_some_and(|(_, m, l, rest)| m == marker && l >= length && rest.is_empty());
                if closes {
                    blocks.push(block);
                } else {
                    // Content keeps its own indentation beyond the fence's.
                    let strip = line.len() - line.trim_start().len();
                    block.text.push_str(&line[strip.min(indent)..]);
                    block.text.push('\n');
                    open = Some((indent, marker, length, block));
                }
            }
        }
    }
    if let Some((_, _, _, block)) = open {
        blocks.push(block);
    }
    blocks
}

/// The lines of a Markdown text that are outside fenced code blocks, with their 1-based
/// numbers: the only lines whose links and headings GitHub renders.
fn prose_lines(markdown: &str) -> Vec<(usize, &str)> {
    let mut lines = Vec::new();
    let mut open: Option<(char, usize)> = None;
    for (index, line) in markdown.lines().enumerate() {
        let this = fence(line);
        match open {
            None => match this {
                Some((_, marker, length, _)) => open = Some((marker, length)),
                None => lines.push((index + 1, line)),
            },
            Some((marker, length)) => {
                if this.is_some_and(|(_, m, l, rest)| m == marker && l >= length && rest.is_empty())
                {
                    open = None;
                }
            }
        }
    }
    lines
}

/// A ```toml block of the documentation, made a whole project.
pub(crate) struct TomlProject {
    /// The Markdown file, relative to the workspace root.
    pub(crate) file: PathBuf,
    /// The block as the file holds it.
    block: Block,
    /// The project text: the block, after [`PROJECT_HEADER`] when it is a fragment.
    pub(crate) text: String,
    /// Whether the header was prepended (the block has no `[project]` table).
    prepended: bool,
}

impl TomlProject {
    /// The 1-based line of the block's opening fence.
    pub(crate) fn line(&self) -> usize {
        self.block.line
    }
}

/// Every ```toml block of README.md and docs/**/*.md, each a whole project: a block
/// without a `[project]` table is a fragment and gets [`PROJECT_HEADER`].
pub(crate) fn toml_projects() -> Vec<TomlProject> {
    let mut projects = Vec::new();
    for file in documentation() {
        for block in fenced_blocks(&read(&file)) {
            if block.words().first() != Some(&"toml") {
                continue;
            }
            let prepended = !block
                .text
                .lines()
                .any(|l| l.trim_start().starts_with("[project]"));
            let text = if prepended {
                format!("{PROJECT_HEADER}{}", block.text)
            } else {
                block.text.clone()
            };
            projects.push(TomlProject {
                file: file.clone(),
                block,
                text,
                prepended,
            });
        }
    }
    assert!(
        !projects.is_empty(),
        "found no ```toml blocks in the documentation"
    );
    projects
}

#[test]
fn docs_toml_blocks_load_as_projects() {
    let root = quickstart_dir();
    let projects = toml_projects();
    let mut failures = Vec::new();
    for project in &projects {
        // Relative locations resolve against the quickstart project, where the
        // documentation's local examples point: the model checks that a local location
        // exists, though it reads no data.
        if let Err(e) = Project::parse(&project.text, Path::new("block.toml"), &root) {
            failures.push(format!(
                "{}:{}: toml block does not load as a Canon project:\n{}",
                project.file.display(),
                project.line(),
                problems_in_markdown(&e, project)
            ));
        }
    }
    assert!(
        failures.is_empty(),
        "{} of {} toml blocks fail:\n\n{}",
        failures.len(),
        projects.len(),
        failures.join("\n\n")
    );
}

/// A project error's problems, each at its line in the Markdown file: the block's text
/// starts on the line after its fence, and [`PROJECT_HEADER`] may have come first.
fn problems_in_markdown(error: &ProjectError, project: &TomlProject) -> String {
    let ProjectError::Invalid { problems, .. } = error else {
        return error.to_string();
    };
    let header_lines = if project.prepended {
        PROJECT_HEADER.lines().count()
    } else {
        0
    };
    problems
        .iter()
        .map(|p| {
            // A problem in the header itself (none is expected) is shown at the fence.
            let line = project.line() + p.line.saturating_sub(header_lines);
            format!(
                "  {}:{line}:{}: {}: {}",
                project.file.display(),
                p.column,
                p.key,
                p.message
            )
        })
        .collect::<Vec<_>>()
        .join("\n")
}

#[test]
fn docs_runnable_sql_blocks_run_on_the_quickstart() {
    // One copy for all blocks: the queries are read-only, and the copy keeps the
    // verified-files manifest out of the checkout.
    let project = quickstart_copy();
    let mut checked = 0;
    let mut in_readme = 0;
    let mut failures = Vec::new();
    for file in documentation() {
        for block in fenced_blocks(&read(&file)) {
            let words = block.words();
            if words.first() != Some(&"sql") || !words.contains(&"runnable") {
                continue;
            }
            checked += 1;
            if file == Path::new("README.md") {
                in_readme += 1;
            }
            let sql = block.text.trim();
            let output = canon(project.path(), &["query", sql], None);
            let out = stdout(&output);
            if !output.status.success() || out.trim().is_empty() {
                failures.push(format!(
                    "{}:{}: `canon query` exited with {:?} and {} bytes of output:\n{sql}\n{}",
                    file.display(),
                    block.line,
                    output.status.code(),
                    out.len(),
                    stderr(&output)
                ));
            }
        }
    }
    assert!(checked > 0, "found no ```sql runnable blocks");
    // The tour's query is the first one a newcomer runs.
    assert!(in_readme > 0, "README.md has no ```sql runnable block");
    assert!(
        failures.is_empty(),
        "{} of {checked} runnable sql blocks fail:\n\n{}",
        failures.len(),
        failures.join("\n\n")
    );
}

/// A heading's anchor as GitHub makes it: lowercased, spaces to `-`, every character other
/// than letters, digits, `-` and `_` dropped.
fn slug(heading: &str) -> String {
    heading
        .chars()
        .filter_map(|c| match c {
            ' ' => Some('-'),
            '-' | '_' => Some(c),
            c if c.is_alphanumeric() => Some(c),
            _ => None,
        })
        .flat_map(char::to_lowercase)
        .collect()
}

/// The anchors of a Markdown text's ATX headings; a repeated heading's anchor gets `-1`,
/// `-2`, … as on GitHub.
fn anchors(markdown: &str) -> Vec<String> {
    let mut seen: HashMap<String, usize> = HashMap::new();
    let mut found = Vec::new();
    for (_, line) in prose_lines(markdown) {
        let content = line.trim_start();
        let level = content.chars().take_while(|c| *c == '#').count();
        let rest = &content[level..];
        if !(1..=6).contains(&level) || !(rest.is_empty() || rest.starts_with(' ')) {
            continue;
        }
        let text = rest.trim().trim_end_matches('#').trim();
        let base = slug(text);
        let count = seen.entry(base.clone()).or_insert(0);
        found.push(if *count == 0 {
            base.clone()
        } else {
            format!("{base}-{count}")
        });
        *count += 1;
    }
    found
}

/// A line with its inline code spans blanked out, so that `[a](b)` inside backticks is not
/// taken for a link.
fn without_code_spans(line: &str) -> String {
    let mut out = String::with_capacity(line.len());
    let mut in_code = false;
    for c in line.chars() {
        if c == '`' {
            in_code = !in_code;
            out.push(' ');
        } else {
            out.push(if in_code { ' ' } else { c });
        }
    }
    out
}

/// The targets of the inline links `[text](target)` (and images) on one line, without an
/// optional title.
fn link_targets(line: &str) -> Vec<String> {
    let line = without_code_spans(line);
    let mut targets = Vec::new();
    let mut rest = line.as_str();
    while let Some(start) = rest.find("](") {
        let after = &rest[start + 2..];
        // The target ends at the parenthesis that balances the opening one.
        let mut depth = 1;
        let mut end = None;
        for (i, c) in after.char_indices() {
            match c {
                '(' => depth += 1,
                ')' => {
                    depth -= 1;
                    if depth == 0 {
                        end = Some(i);
                        break;
                    }
                }
                _ => {}
            }
        }
        let Some(end) = end else { break };
        let inner = after[..end].trim();
        // `<…>` may hold spaces; otherwise the target ends at the first space (a title follows).
        let target = match inner.strip_prefix('<') {
            Some(bracketed) => bracketed.split('>').next().unwrap_or(""),
            None => inner.split_whitespace().next().unwrap_or(""),
        };
        if !target.is_empty() {
            targets.push(target.to_string());
        }
        rest = &after[end + 1..];
    }
    targets
}

/// Whether a link leaves the repository: it has a URL scheme (`https:`, `mailto:`, …).
fn is_external(target: &str) -> bool {
    let scheme_end = target.find(':');
    let path_start = target.find(['/', '#']);
    match (scheme_end, path_start) {
        (Some(colon), Some(slash)) => colon < slash,
        (Some(_), None) => true,
        _ => false,
    }
}

#[test]
fn docs_relative_links_resolve() {
    let root = workspace_root();
    let mut headings: BTreeMap<PathBuf, Vec<String>> = BTreeMap::new();
    let mut checked = 0;
    let mut broken = Vec::new();
    for file in linked_files() {
        let markdown = read(&file);
        let dir = file.parent().unwrap_or(Path::new("")).to_path_buf();
        for (number, line) in prose_lines(&markdown) {
            for target in link_targets(line) {
                if is_external(&target) {
                    continue;
                }
                checked += 1;
                let (path, anchor) = match target.split_once('#') {
                    Some((path, anchor)) => (path, Some(anchor)),
                    None => (target.as_str(), None),
                };
                // A pure anchor points into the file itself.
                let linked = if path.is_empty() {
                    file.clone()
                } else {
                    normalize(&dir.join(path))
                };
                if !root.join(&linked).exists() {
                    broken.push(format!(
                        "{}:{number}: {target}: no file {}",
                        file.display(),
                        linked.display()
                    ));
                    continue;
                }
                let Some(anchor) = anchor else { continue };
                if linked.extension().is_none_or(|e| e != "md") {
                    continue;
                }
                let known = headings
                    .entry(linked.clone())
                    .or_insert_with(|| anchors(&read(&linked)));
                if !known.iter().any(|a| a == anchor) {
                    broken.push(format!(
                        "{}:{number}: {target}: no heading #{anchor} in {} (it has: {})",
                        file.display(),
                        linked.display(),
                        known.join(", ")
                    ));
                }
            }
        }
    }
    assert!(checked > 0, "found no relative links in the documentation");
    assert!(
        broken.is_empty(),
        "{} of {checked} relative links are broken:\n{}",
        broken.len(),
        broken.join("\n")
    );
}

/// A relative path with `.` and `..` resolved lexically, so that `docs/../BENCHMARKS.md`
/// names the same file as `BENCHMARKS.md` (and a link above the root stays visibly so).
fn normalize(path: &Path) -> PathBuf {
    let mut parts: Vec<std::path::Component> = Vec::new();
    for part in path.components() {
        match part {
            std::path::Component::CurDir => {}
            std::path::Component::ParentDir
                if parts
                    .last()
                    .is_some_and(|p| matches!(p, std::path::Component::Normal(_))) =>
            {
                parts.pop();
            }
            other => parts.push(other),
        }
    }
    parts.iter().collect()
}

#[test]
fn docs_maps_list_every_page() {
    // The README and the docs index are the two ways into the documentation; a page
    // missing from either can only be found by accident.
    let pages: Vec<PathBuf> = documentation()
        .into_iter()
        .filter(|p| p.starts_with("docs") && p != Path::new("docs/README.md"))
        .collect();
    let readme = read(Path::new("README.md"));
    let index = read(Path::new("docs/README.md"));
    let mut missing = Vec::new();
    for page in &pages {
        let name = page
            .strip_prefix("docs")
            .expect("a docs page")
            .to_string_lossy()
            .into_owned();
        if !readme.contains(&format!("(docs/{name})")) {
            missing.push(format!("README.md does not link {}", page.display()));
        }
        if !index.contains(&format!("({name})")) {
            missing.push(format!("docs/README.md does not link {}", page.display()));
        }
    }
    assert!(!pages.is_empty(), "no pages under docs/");
    assert!(missing.is_empty(), "{}", missing.join("\n"));
}

#[test]
fn docs_scanner_reads_fences_links_and_headings() {
    // The scanner is the test's own code: check it on a text whose answer is known, so a
    // scanner bug cannot make the checks above pass by finding nothing.
    let markdown = "# Title\n\nSee [a](a.md#b-c) and `[not](x.md)`.\n\n  ```sql runnable\n  SELECT 1\n  ```\n\n~~~toml\n[x]\n```\n~~~\n\n## B, c!\n## B, c!\n";
    let blocks = fenced_blocks(markdown);
    assert_eq!(blocks.len(), 2);
    assert_eq!(
        (blocks[0].line, blocks[0].info.as_str()),
        (5, "sql runnable")
    );
    assert_eq!(blocks[0].text, "SELECT 1\n");
    assert_eq!(
        (blocks[1].info.as_str(), blocks[1].text.as_str()),
        ("toml", "[x]\n```\n")
    );
    assert_eq!(
        link_targets("See [a](a.md#b-c) and `[not](x.md)`."),
        ["a.md#b-c"]
    );
    assert_eq!(
        link_targets("[t](<p q.md> \"title\") [u](f(1).md)"),
        ["p q.md", "f(1).md"]
    );
    assert_eq!(anchors(markdown), ["title", "b-c", "b-c-1"]);
    assert_eq!(
        slug("canon serve (Flight SQL and Postgres wire)"),
        "canon-serve-flight-sql-and-postgres-wire"
    );
    assert_eq!(slug("`canon check` on_delta"), "canon-check-on_delta");
    assert!(is_external("https://example.com/a") && is_external("mailto:a@b.c"));
    assert!(!is_external("docs/a.md#x:y") && !is_external("#anchor"));
    assert_eq!(
        normalize(Path::new("docs/../BENCHMARKS.md")),
        PathBuf::from("BENCHMARKS.md")
    );
}
