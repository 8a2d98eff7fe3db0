//! Validation of the `[distributed]` section.

use std::collections::HashSet;

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
        if let Some(timeout) = raw.connect_timeout
            && let Some(d) = self.timeout(&timeout, "distributed.connect_timeout")
        {
            spec.connect_timeout = d;
        }
        if let Some(timeout) = raw.keepalive_timeout
            && let Some(d) = self.timeout(&timeout, "distributed.keepalive_timeout")
        {
            spec.keepalive_timeout = d;
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
}
