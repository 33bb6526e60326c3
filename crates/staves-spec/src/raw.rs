//! The spec as TOML gives it, before any check: every top-level key named once (the parser
//! and the "known keys" hint share the list), per-package tables told apart from misspelt
//! keys, and where a key stands in the text.

use std::collections::BTreeMap;
use std::ops::Range;

use serde::Deserialize;
use serde::de::{self, MapAccess, Visitor};
use toml::Spanned;

use crate::{
    AccountSpec, BuildEnv, PackageOptions, PathSpec, RepositorySpec, ServiceSpec, TaskSpec,
};

/// Where `key = …` starts at the top level of the spec, for a message about it.
pub(crate) fn top_level_key_span(source: &str, key: &str) -> Range<usize> {
    let mut offset = 0;
    for line in source.split_inclusive('\n') {
        let trimmed = line.trim_start();
        if trimmed.starts_with('[') {
            break;
        }
        if let Some(rest) = trimmed.strip_prefix(key)
            && rest.trim_start().starts_with('=')
        {
            let start = offset + (line.len() - trimmed.len());
            return start..start + key.len();
        }
        offset += line.len();
    }
    0..0
}

/// The spec as TOML gives it, before validation.
#[derive(Default)]
pub(crate) struct RawSpec {
    pub(crate) name: Option<Spanned<String>>,
    pub(crate) packages: Option<Spanned<Vec<Spanned<String>>>>,
    pub(crate) command: Option<Vec<String>>,
    pub(crate) arch: Option<Spanned<String>>,
    pub(crate) archs: Option<Vec<Spanned<String>>>,
    pub(crate) recommends: Option<bool>,
    pub(crate) exclude: Option<Vec<Spanned<String>>>,
    pub(crate) use_flags: Option<Vec<Spanned<String>>>,
    pub(crate) repositories: Option<Vec<RepositorySpec>>,
    pub(crate) package_options: BTreeMap<String, Spanned<PackageOptions>>,
    pub(crate) unknown: Vec<Spanned<String>>,
    pub(crate) tag: Option<Spanned<String>>,
    pub(crate) cmd: Option<Vec<String>>,
    pub(crate) environment: Option<BTreeMap<String, String>>,
    pub(crate) workdir: Option<String>,
    pub(crate) user: Option<Spanned<String>>,
    pub(crate) ports: Option<Vec<Spanned<String>>>,
    pub(crate) volumes: Option<Vec<String>>,
    pub(crate) labels: Option<BTreeMap<String, String>>,
    pub(crate) annotations: Option<BTreeMap<String, String>>,
    pub(crate) stop_signal: Option<String>,
    pub(crate) accounts: Option<Vec<AccountSpec>>,
    pub(crate) paths: Option<Vec<PathSpec>>,
    pub(crate) base: Option<Spanned<String>>,
    pub(crate) layers: Option<Spanned<i64>>,
    pub(crate) services: Option<BTreeMap<String, Spanned<ServiceSpec>>>,
    pub(crate) tasks: Option<BTreeMap<String, Spanned<TaskSpec>>>,
    pub(crate) init: Option<Spanned<bool>>,
    pub(crate) env: Option<BuildEnv>,
    pub(crate) recipes: Option<Vec<Spanned<String>>>,
    pub(crate) debs: Option<Vec<Spanned<String>>>,
    pub(crate) debug: Option<bool>,
    pub(crate) debug_packages: Option<Vec<Spanned<String>>>,
}

/// The most layers `layers` may ask for (engines handle up to 127; far fewer pay).
pub const MAX_LAYERS: usize = 64;

/// Every top-level key of a spec and the field it fills: the one place keys are named, so
/// the parser and the "known keys" hint cannot drift apart.
macro_rules! spec_keys {
    ($($key:literal => $field:ident),* $(,)?) => {
        /// The spec's top-level keys, in the order GUIDE.md lists them.
        pub(crate) const KNOWN_KEYS: &[&str] = &[$($key),*];

        /// Fills the field `key` names from the map's next value; `false` for any other key.
        fn set_known<'de, A: MapAccess<'de>>(
            raw: &mut RawSpec,
            key: &str,
            map: &mut A,
        ) -> Result<bool, A::Error> {
            match key {
                $($key => raw.$field = Some(map.next_value()?),)*
                _ => return Ok(false),
            }
            Ok(true)
        }
    };
}

spec_keys! {
    "name" => name,
    "base" => base,
    "layers" => layers,
    "packages" => packages,
    "command" => command,
    "arch" => arch,
    "archs" => archs,
    "recommends" => recommends,
    "exclude" => exclude,
    "use" => use_flags,
    "repositories" => repositories,
    "tag" => tag,
    "cmd" => cmd,
    "environment" => environment,
    "workdir" => workdir,
    "user" => user,
    "ports" => ports,
    "volumes" => volumes,
    "labels" => labels,
    "annotations" => annotations,
    "stop-signal" => stop_signal,
    "accounts" => accounts,
    "paths" => paths,
    "init" => init,
    "services" => services,
    "tasks" => tasks,
    "env" => env,
    "recipes" => recipes,
    "debs" => debs,
    "debug" => debug,
    "debug-packages" => debug_packages,
}

/// A per-package table, or any other value under a key nobody knows.
pub(crate) enum TableOrOther {
    Table(PackageOptions),
    Other,
}

impl<'de> Deserialize<'de> for TableOrOther {
    fn deserialize<D: de::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V;
        impl<'de> Visitor<'de> for V {
            type Value = TableOrOther;
            fn expecting(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                f.write_str("a per-package table")
            }
            fn visit_map<A: MapAccess<'de>>(self, map: A) -> Result<TableOrOther, A::Error> {
                PackageOptions::deserialize(de::value::MapAccessDeserializer::new(map))
                    .map(TableOrOther::Table)
            }
            fn visit_bool<E>(self, _: bool) -> Result<TableOrOther, E> {
                Ok(TableOrOther::Other)
            }
            fn visit_i64<E>(self, _: i64) -> Result<TableOrOther, E> {
                Ok(TableOrOther::Other)
            }
            fn visit_f64<E>(self, _: f64) -> Result<TableOrOther, E> {
                Ok(TableOrOther::Other)
            }
            fn visit_str<E>(self, _: &str) -> Result<TableOrOther, E> {
                Ok(TableOrOther::Other)
            }
            fn visit_seq<A: de::SeqAccess<'de>>(
                self,
                mut seq: A,
            ) -> Result<TableOrOther, A::Error> {
                while seq.next_element::<de::IgnoredAny>()?.is_some() {}
                Ok(TableOrOther::Other)
            }
        }
        d.deserialize_any(V)
    }
}

impl<'de> Deserialize<'de> for RawSpec {
    fn deserialize<D: de::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V;
        impl<'de> Visitor<'de> for V {
            type Value = RawSpec;
            fn expecting(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                f.write_str("a staves.toml spec")
            }
            fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<RawSpec, A::Error> {
                let mut raw = RawSpec::default();
                while let Some(key) = map.next_key::<Spanned<String>>()? {
                    if set_known(&mut raw, key.get_ref(), &mut map)? {
                        continue;
                    }
                    // Any other table holds one package's options.
                    let value: Spanned<TableOrOther> = map.next_value()?;
                    let span = value.span();
                    match value.into_inner() {
                        TableOrOther::Table(options) => {
                            raw.package_options
                                .insert(key.into_inner(), Spanned::new(span, options));
                        }
                        TableOrOther::Other => raw.unknown.push(key),
                    }
                }
                Ok(raw)
            }
        }
        d.deserialize_map(V)
    }
}
