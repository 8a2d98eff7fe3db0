//! Validation of the `[profile]` and `[policy]` sections: sizes, durations, and every
//! DataFusion setting checked against DataFusion's own list and value parsers.

use std::path::{Path, PathBuf};

use datafusion_common::config::ConfigOptions;
use toml::Spanned;

use super::raw::{RawPolicy, RawProfile};
use super::validate::Validator;
use crate::dialect::IdentifierCase;
use crate::policy::SqlPolicy;
use crate::profile::{ProfileSpec, owner_of_setting};

impl Validator<'_> {
    pub(super) fn profile(&mut self, raw: RawProfile, root: &Path) -> ProfileSpec {
        let mut spec = ProfileSpec {
            diagnostics: self.diagnostics(raw.diagnostics),
            stores: self.stores(raw.stores),
            ..ProfileSpec::default()
        };
        if let Some(n) = raw.target_partitions {
            spec.target_partitions = n;
        }
        if let Some(size) = raw.batch_size {
            match *size.get_ref() {
                0 => self.problem(size.span(), "profile.batch_size", "must be at least 1"),
                n => spec.batch_size = n,
            }
        }
        if let Some(limit) = raw.memory_limit {
            spec.memory_limit = self.byte_size(&limit, "profile.memory_limit");
        }
        if let Some(pool) = raw.memory_pool {
            spec.memory_pool = pool;
        }
        if let Some(order) = raw.join_order {
            spec.join_order = order;
        }
        if let Some(dir) = raw.spill_dir {
            let resolved: PathBuf = root.join(dir.get_ref()).components().collect();
            spec.spill_dir = Some((dir.into_inner(), resolved));
        }
        if let Some(size) = raw.max_temp_directory_size {
            let key = "profile.max_temp_directory_size";
            if let Some(bytes) = self.byte_size(&size, key) {
                spec.max_temp_directory_size = bytes;
            }
        }
        if let Some(size) = raw.cache.metadata {
            spec.cache.metadata = self.byte_size(&size, "profile.cache.metadata").unwrap_or(0);
        }
        if let Some(size) = raw.cache.list_files {
            spec.cache.list_files = self
                .byte_size(&size, "profile.cache.list_files")
                .unwrap_or(0);
        }
        if let Some(ttl) = raw.cache.list_files_ttl {
            match humantime::parse_duration(ttl.get_ref()) {
                Ok(d) => spec.cache.list_files_ttl = Some(d),
                Err(e) => self.problem(
                    ttl.span(),
                    "profile.cache.list_files_ttl",
                    format!(
                        "`{}` is not a duration like \"60s\" or \"5m\": {e}",
                        ttl.get_ref()
                    ),
                ),
            }
        }
        if let Some(stats) = raw.cache.statistics {
            spec.cache.statistics = stats;
        }

        let mut scratch = ConfigOptions::new();
        for (key, value) in raw.parquet {
            let full = format!("datafusion.execution.parquet.{}", key.get_ref());
            let label = format!("profile.parquet.{}", key.get_ref());
            if let Some(value) = self.config_value(&mut scratch, &key, &full, &label, &value) {
                spec.parquet.insert(full, value);
            }
        }
        for (key, value) in raw.settings {
            let label = format!("profile.settings.\"{}\"", key.get_ref());
            if let Some(owner) = owner_of_setting(key.get_ref()) {
                self.problem(
                    key.span(),
                    label,
                    format!("is set by Canon's {owner}; set it there"),
                );
                continue;
            }
            if let Some(value) =
                self.config_value(&mut scratch, &key, key.get_ref(), &label, &value)
            {
                spec.settings.insert(key.into_inner(), value);
            }
        }
        spec
    }

    /// Checks one DataFusion setting against DataFusion's own list and value parser.
    fn config_value(
        &mut self,
        scratch: &mut ConfigOptions,
        key: &Spanned<String>,
        full_key: &str,
        label: &str,
        value: &Spanned<toml::Value>,
    ) -> Option<String> {
        let text = self.scalar(value, label)?;
        match scratch.set(full_key, &text) {
            Ok(()) => Some(text),
            Err(e) => {
                let message = format!("not a valid DataFusion setting: {}", e.strip_backtrace());
                self.problem(key.span(), label, message);
                None
            }
        }
    }

    pub(super) fn scalar(&mut self, value: &Spanned<toml::Value>, label: &str) -> Option<String> {
        match value.get_ref() {
            toml::Value::String(s) => Some(s.clone()),
            toml::Value::Boolean(b) => Some(b.to_string()),
            toml::Value::Integer(i) => Some(i.to_string()),
            toml::Value::Float(f) => Some(f.to_string()),
            other => {
                let message = format!(
                    "must be a string, number or boolean, not {}",
                    other.type_str()
                );
                self.problem(value.span(), label, message);
                None
            }
        }
    }

    pub(super) fn byte_size(&mut self, value: &Spanned<String>, key: &str) -> Option<u64> {
        let text = value.get_ref().trim();
        if text == "0" {
            return Some(0);
        }
        match text.parse::<bytesize::ByteSize>() {
            Ok(size) => Some(size.as_u64()),
            Err(e) => {
                let message = format!("`{text}` is not a size like \"64MiB\" or \"4GiB\": {e}");
                self.problem(value.span(), key, message);
                None
            }
        }
    }

    pub(super) fn policy(&mut self, raw: RawPolicy) -> SqlPolicy {
        let mut policy = SqlPolicy::default();
        if let Some(dialect) = raw.dialect {
            let name = dialect.get_ref().to_lowercase();
            let mut scratch = ConfigOptions::new();
            match scratch.set("datafusion.sql_parser.dialect", &name) {
                Ok(()) => policy.dialect = name,
                Err(e) => self.problem(dialect.span(), "policy.dialect", e.strip_backtrace()),
            }
        }
        policy.allow_ddl = raw.allow_ddl.unwrap_or(policy.allow_ddl);
        policy.allow_dml = raw.allow_dml.unwrap_or(policy.allow_dml);
        policy.allow_statements = raw.allow_statements.unwrap_or(policy.allow_statements);
        if let Some(identifiers) = raw.identifiers {
            match IdentifierCase::from_name(identifiers.get_ref()) {
                Some(case) => policy.identifiers = case,
                None => self.problem(
                    identifiers.span(),
                    "policy.identifiers",
                    format!(
                        "`{}` is not an identifier rule; expected \"lower\" or \"preserve\"",
                        identifiers.get_ref()
                    ),
                ),
            }
        }
        policy
    }
}
