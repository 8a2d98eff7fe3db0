//! Validation of the `[distributed]` section.

use std::collections::HashSet;
use std::time::Duration;

use toml::Spanned;

use super::raw::RawDistributed;
use super::validate::Validator;
use crate::distributed::{DistributedSpec, parse_worker};

impl Validator<'_> {
    pub(super) fn distributed(&mut self, raw: RawDistributed) -> DistributedSpec {
        let mut spec = DistributedSpec::default();
        let mut seen = HashSet::new();
        for worker in raw.workers {
            match parse_worker(worker.get_ref()) {
                Ok(url) if !seen.insert(url.clone()) => self.problem(
                    worker.span(),
                    "distributed.workers",
                    format!("`{}` is listed twice", worker.get_ref()),
                ),
                Ok(url) => spec.workers.push(url),
                Err(message) => self.problem(worker.span(), "distributed.workers", message),
            }
        }
        if let Some(timeout) = raw.connect_timeout {
            let key = "distributed.connect_timeout";
            if let Some(d) = self.bound(&timeout, key) {
                spec.connect_timeout = d;
            }
        }
        if let Some(timeout) = raw.keepalive_timeout {
            let key = "distributed.keepalive_timeout";
            if let Some(d) = self.bound(&timeout, key) {
                spec.keepalive_timeout = d;
            }
        }
        if let Some(size) = raw.bytes_per_partition {
            let key = "distributed.bytes_per_partition";
            match self.byte_size(&size, key) {
                Some(0) => self.problem(size.span(), key, "must be more than 0 bytes"),
                Some(bytes) => spec.bytes_per_partition = bytes,
                None => {}
            }
        }
        spec
    }

    /// A bound of a second or more: without one, a dead worker could stall a query.
    fn bound(&mut self, text: &Spanned<String>, key: &str) -> Option<Duration> {
        let problems = self.problems_len();
        match self.timeout(text, key) {
            Some(d) if d >= Duration::from_secs(1) => Some(d),
            _ if self.problems_len() > problems => None,
            _ => {
                let message = format!("`{}` is too short: at least 1s", text.get_ref());
                self.problem(text.span(), key, message);
                None
            }
        }
    }
}
