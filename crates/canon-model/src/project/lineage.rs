//! Validation of the `[lineage]` section: OpenLineage's destination and namespace.

use std::path::Path;

use super::raw::{RawLineage, RawOpenLineage};
use super::validate::Validator;
use crate::openlineage::{LineageSpec, OpenLineageSpec, Transport};

impl Validator<'_> {
    pub(super) fn lineage(&mut self, raw: RawLineage, project: &str, root: &Path) -> LineageSpec {
        let namespace = match raw.namespace {
            Some(namespace) if namespace.get_ref().trim().is_empty() => {
                self.problem(namespace.span(), "lineage.namespace", "must not be empty");
                return LineageSpec::default();
            }
            Some(namespace) => namespace.into_inner(),
            None => project.to_string(),
        };
        let Some(raw) = raw.openlineage else {
            return LineageSpec::default();
        };
        let span = raw.span();
        let transport = match raw.into_inner() {
            RawOpenLineage {
                url: Some(url),
                file: None,
                timeout,
                retries,
                queue,
            } => {
                let parsed = url::Url::parse(url.get_ref());
                match parsed {
                    Ok(u) if matches!(u.scheme(), "http" | "https") && u.has_host() => {
                        if !u.username().is_empty() || u.password().is_some() {
                            self.problem(
                                url.span(),
                                "lineage.openlineage.url",
                                "must not carry credentials; Canon sends none",
                            );
                            return LineageSpec::default();
                        }
                    }
                    _ => {
                        self.problem(
                            url.span(),
                            "lineage.openlineage.url",
                            "is not an http:// or https:// address",
                        );
                        return LineageSpec::default();
                    }
                }
                let timeout = match timeout {
                    Some(t) => match self.timeout(&t, "lineage.openlineage.timeout") {
                        Some(d) if d > Transport::MAX_TIMEOUT => {
                            let message = "is longer than 10 minutes, the longest a POST may take";
                            self.problem(t.span(), "lineage.openlineage.timeout", message);
                            Transport::DEFAULT_TIMEOUT
                        }
                        Some(d) => d,
                        None => Transport::DEFAULT_TIMEOUT,
                    },
                    None => Transport::DEFAULT_TIMEOUT,
                };
                let retries = match retries.map(|r| (u32::try_from(*r.get_ref()), r.span())) {
                    None => Transport::DEFAULT_RETRIES,
                    Some((Ok(n), _)) if n <= 10 => n,
                    Some((_, span)) => {
                        let message = "is not a number of retries from 0 to 10";
                        self.problem(span, "lineage.openlineage.retries", message);
                        Transport::DEFAULT_RETRIES
                    }
                };
                let queue = match queue.map(|q| (usize::try_from(*q.get_ref()), q.span())) {
                    None => Transport::DEFAULT_QUEUE,
                    Some((Ok(n), _)) if n > 0 && n <= Transport::MAX_QUEUE => n,
                    Some((_, span)) => {
                        let message = "is not a number of events from 1 to 1000000";
                        self.problem(span, "lineage.openlineage.queue", message);
                        Transport::DEFAULT_QUEUE
                    }
                };
                Transport::Http {
                    url: url.into_inner(),
                    timeout,
                    retries,
                    queue,
                }
            }
            RawOpenLineage {
                file: Some(file),
                url: None,
                timeout: None,
                retries: None,
                queue: None,
            } => {
                if file.get_ref().trim().is_empty() {
                    self.problem(file.span(), "lineage.openlineage.file", "must not be empty");
                    return LineageSpec::default();
                }
                Transport::File {
                    path: root.join(file.get_ref()),
                }
            }
            RawOpenLineage {
                file: Some(_),
                url: None,
                ..
            } => {
                let message = "timeout, retries and queue are for `url`; a `file` takes none";
                self.problem(span, "lineage.openlineage", message);
                return LineageSpec::default();
            }
            _ => {
                let message = "needs exactly one of `url` (an HTTP endpoint) or `file`";
                self.problem(span, "lineage.openlineage", message);
                return LineageSpec::default();
            }
        };
        LineageSpec {
            openlineage: Some(OpenLineageSpec {
                namespace,
                transport,
            }),
        }
    }
}

#[cfg(test)]
mod tests {
    use std::path::Path;

    use crate::Project;
    use crate::openlineage::Transport;

    fn parse(section: &str) -> Result<Project, String> {
        let text = format!("[project]\nname = \"p\"\n\n[lineage]\n{section}\n");
        Project::parse(&text, Path::new("canon.toml"), Path::new("/srv/p"))
            .map_err(|e| e.to_string())
    }

    #[test]
    fn an_endpoint_or_a_file_with_the_defaults_filled_in() {
        let project = parse("openlineage = { url = \"http://marquez:5000/api/v1/lineage\" }");
        let spec = project.ok().and_then(|p| p.lineage.openlineage);
        let spec = spec.expect("an OpenLineage destination");
        assert_eq!(spec.namespace, "p");
        assert_eq!(
            spec.transport,
            Transport::Http {
                url: "http://marquez:5000/api/v1/lineage".into(),
                timeout: Transport::DEFAULT_TIMEOUT,
                retries: Transport::DEFAULT_RETRIES,
                queue: Transport::DEFAULT_QUEUE,
            }
        );
        let project = parse("namespace = \"analytics\"\nopenlineage = { file = \"l.jsonl\" }");
        let spec = project.ok().and_then(|p| p.lineage.openlineage);
        let spec = spec.expect("an OpenLineage destination");
        assert_eq!(spec.namespace, "analytics");
        assert_eq!(spec.transport.target(), "/srv/p/l.jsonl");
        let project = parse("openlineage = { url = \"https://h/api/v1/lineage?code=s3cret#x\" }");
        let spec = project.ok().and_then(|p| p.lineage.openlineage);
        let spec = spec.expect("an OpenLineage destination");
        assert_eq!(spec.transport.target(), "https://h/api/v1/lineage");
    }

    #[test]
    fn mistakes_are_refused_with_their_key() {
        for (section, expected) in [
            (
                "openlineage = { url = \"http://a\", file = \"b\" }",
                "needs exactly one",
            ),
            ("openlineage = {}", "needs exactly one"),
            ("openlineage = { url = \"ftp://host/x\" }", "is not an http"),
            (
                "openlineage = { url = \"http://u:secret@host/x\" }",
                "must not carry credentials",
            ),
            (
                "openlineage = { file = \"x\", timeout = \"1s\" }",
                "a `file` takes none",
            ),
            (
                "openlineage = { url = \"http://h\", retries = 11 }",
                "from 0 to 10",
            ),
            (
                "openlineage = { url = \"http://h\", queue = 0 }",
                "from 1 to 1000000",
            ),
            (
                "openlineage = { url = \"http://h\", queue = 9999999 }",
                "from 1 to 1000000",
            ),
            (
                "openlineage = { url = \"http://h\", timeout = \"1h\" }",
                "longer than 10 minutes",
            ),
            (
                "openlineage = { url = \"http://h\", timeout = \"soon\" }",
                "not a duration",
            ),
            ("namespace = \" \"", "must not be empty"),
        ] {
            let error = parse(section).err().unwrap_or_default();
            assert!(error.contains(expected), "{section}: {error}");
            assert!(error.contains("lineage"), "{section}: {error}");
            assert!(!error.contains("secret"), "{section}: {error}");
        }
    }
}
