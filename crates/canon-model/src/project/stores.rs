//! Validation of `[[store]]` declarations: one store per bucket, container or host, with
//! object_store's option names and secrets only as environment variable references.

use std::collections::{BTreeMap, HashMap};

use toml::Spanned;

use super::raw::RawStore;
use super::validate::Validator;
use crate::store::{StoreKind, StoreSpec, store_key};

impl Validator<'_> {
    pub(super) fn stores(&mut self, raw: Vec<Spanned<RawStore>>) -> Vec<StoreSpec> {
        let mut seen: HashMap<String, usize> = HashMap::new();
        let mut stores = Vec::new();
        for (index, raw) in raw.into_iter().enumerate() {
            let span = raw.span();
            let raw = raw.into_inner();
            let label = format!("store[{index}]");
            let before = self.problems_len();
            let Some((url, kind)) = self.store_url(&raw.url, &label) else {
                continue;
            };
            let origin = self.origin(&span);
            if let Some(first) = seen.insert(url.clone(), origin.line) {
                let message = format!("`{url}` is declared twice (first at line {first})");
                self.problem(raw.url.span(), format!("{label}.url"), message);
                continue;
            }
            let options = self.store_options(kind, raw.options, &label);
            let mut secrets = BTreeMap::new();
            for (name, secret) in raw.secrets {
                let key = format!("{label}.secrets.{}", name.get_ref());
                match kind.option(name.get_ref()) {
                    Ok(option) => {
                        let env = secret.get_ref().env.get_ref().trim();
                        if env.is_empty() {
                            self.problem(secret.span(), key, "names no environment variable");
                        } else {
                            secrets.insert(option.key, env.to_string());
                        }
                    }
                    Err(message) => self.problem(name.span(), key, message),
                }
            }
            if self.problems_len() == before {
                stores.push(StoreSpec {
                    url,
                    kind,
                    options,
                    secrets,
                    origin,
                });
            }
        }
        stores
    }

    /// The store's URL as `scheme://authority`, and the kind its scheme names.
    fn store_url(&mut self, url: &Spanned<String>, label: &str) -> Option<(String, StoreKind)> {
        let text = url.get_ref().trim().trim_end_matches('/');
        let key = format!("{label}.url");
        let kind = text
            .split_once("://")
            .and_then(|(scheme, _)| StoreKind::of_scheme(&scheme.to_ascii_lowercase()));
        let Some(kind) = kind else {
            let message = format!(
                "`{text}` names no object store; expected s3://, az://, abfss://, gs:// or \
                 http(s)://, followed by a bucket, container or host"
            );
            self.problem(url.span(), key, message);
            return None;
        };
        match store_key(text) {
            Some(store) if store.len() == text.len() => Some((store, kind)),
            Some(store) => {
                let message = format!(
                    "`{text}` has a path; a store serves a whole bucket, container or host: \
                     write `{store}`"
                );
                self.problem(url.span(), key, message);
                None
            }
            None => {
                let message = format!("`{text}` names no bucket, container or host");
                self.problem(url.span(), key, message);
                None
            }
        }
    }

    fn store_options(
        &mut self,
        kind: StoreKind,
        raw: super::raw::SpannedMap,
        label: &str,
    ) -> BTreeMap<String, String> {
        let mut options = BTreeMap::new();
        for (name, value) in raw {
            let key = format!("{label}.options.{}", name.get_ref());
            let option = match kind.option(name.get_ref()) {
                Ok(option) => option,
                Err(message) => {
                    self.problem(name.span(), key, message);
                    continue;
                }
            };
            if option.secret {
                // The value is not echoed: it is a credential written where it must not be.
                let message = format!(
                    "`{}` is a secret and is never written in the project file; name the \
                     environment variable that holds it: secrets = {{ {} = {{ env = \"…\" }} }}",
                    name.get_ref(),
                    name.get_ref()
                );
                self.problem(value.span(), key, message);
                continue;
            }
            let text = match value.get_ref() {
                toml::Value::String(s) => s.clone(),
                toml::Value::Boolean(b) => b.to_string(),
                toml::Value::Integer(i) => i.to_string(),
                other => {
                    let message = format!(
                        "must be a string, boolean or integer, not {}",
                        other.type_str()
                    );
                    self.problem(value.span(), key, message);
                    continue;
                }
            };
            options.insert(option.key, text);
        }
        options
    }
}
