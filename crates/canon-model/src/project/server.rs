//! Validation of the `[server]` section.

use std::time::Duration;

use toml::Spanned;

use super::raw::RawServer;
use super::validate::Validator;
use crate::server::ServerSpec;

impl Validator<'_> {
    pub(super) fn server(&mut self, raw: RawServer) -> ServerSpec {
        let mut spec = ServerSpec::default();
        if let Some(max) = raw.max_connections {
            match u32::try_from(*max.get_ref()) {
                Ok(n) if n > 0 => spec.max_connections = n,
                _ => self.problem(
                    max.span(),
                    "server.max_connections",
                    format!(
                        "{} is not a number of connections (1 or more)",
                        max.get_ref()
                    ),
                ),
            }
        }
        if let Some(timeout) = raw.statement_timeout {
            spec.statement_timeout = self.timeout(&timeout, "server.statement_timeout");
        }
        if let Some(timeout) = raw.idle_timeout {
            spec.idle_timeout = self.timeout(&timeout, "server.idle_timeout");
        }
        if let Some(timeout) = raw.shutdown_timeout {
            let key = "server.shutdown_timeout";
            if let Some(d) = self.timeout(&timeout, key) {
                spec.shutdown_timeout = d;
            }
        }
        spec
    }

    /// A duration such as "30s"; "0s" means no limit.
    pub(super) fn timeout(&mut self, text: &Spanned<String>, key: &str) -> Option<Duration> {
        match humantime::parse_duration(text.get_ref()) {
            Ok(d) if d.is_zero() => None,
            Ok(d) => Some(d),
            Err(e) => {
                let message = format!(
                    "`{}` is not a duration like \"30s\" or \"5m\": {e}",
                    text.get_ref()
                );
                self.problem(text.span(), key, message);
                None
            }
        }
    }
}
