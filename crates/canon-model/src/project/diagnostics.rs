//! Validation of the `[diagnostics]` section: what Canon does when its event log cannot
//! be written.

use super::raw::RawDiagnostics;
use super::validate::Validator;
use crate::profile::{DiagnosticsSpec, OnWriteError};

impl Validator<'_> {
    pub(super) fn diagnostics(&mut self, raw: RawDiagnostics) -> DiagnosticsSpec {
        let mut spec = DiagnosticsSpec::default();
        if let Some(rule) = raw.on_write_error {
            match OnWriteError::from_name(rule.get_ref()) {
                Some(rule) => spec.on_write_error = rule,
                None => self.problem(
                    rule.span(),
                    "diagnostics.on_write_error",
                    format!(
                        "`{}` is not a rule; expected \"fail\" (the default) or \"warn\"",
                        rule.get_ref()
                    ),
                ),
            }
        }
        spec
    }
}
