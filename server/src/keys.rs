//! Venue API keys for live execution: from the secrets file (mode 0600, the fields of
//! the operator documents: `binance_key`, `binance_secret`, `okx_key`, `okx_secret`,
//! `okx_passphrase`) or, where the file has none, from the environment
//! (`BINANCE_API_KEY`, `BINANCE_API_SECRET`, `OKX_API_KEY`, `OKX_API_SECRET`,
//! `OKX_API_PASSPHRASE`; on testnet the `…_TESTNET` names of the operator documents
//! first). A venue's set comes whole from one source: the file when it has any of
//! the venue's fields (half a set there is an error), else the environment.
//!
//! A live or testnet start without a complete set for each venue is refused with a
//! message that names every missing field and variable, and never a value.

use propbot_engine::config::Profile;
use propbot_engine::model::Venue;
use propbot_venues::sign::VenueKeys;
use serde_json::Value;
use std::collections::BTreeMap;

/// One credential of a venue: the file field and the environment variables that can
/// hold it, most specific first.
struct Field {
    file: &'static str,
    env: &'static [&'static str],
    testnet_env: &'static [&'static str],
}

const BINANCE: [Field; 2] = [
    Field {
        file: "binance_key",
        env: &["BINANCE_API_KEY"],
        testnet_env: &["BINANCE_UM_API_KEY_TESTNET"],
    },
    Field {
        file: "binance_secret",
        env: &["BINANCE_API_SECRET"],
        testnet_env: &["BINANCE_UM_API_SECRET_TESTNET"],
    },
];

const OKX: [Field; 3] = [
    Field {
        file: "okx_key",
        env: &["OKX_API_KEY"],
        testnet_env: &["OKX_API_KEY_TESTNET"],
    },
    Field {
        file: "okx_secret",
        env: &["OKX_API_SECRET"],
        testnet_env: &["OKX_API_SECRET_TESTNET"],
    },
    Field {
        file: "okx_passphrase",
        env: &["OKX_API_PASSPHRASE"],
        testnet_env: &["OKX_API_PASSPHRASE_TESTNET"],
    },
];

fn fields(venue: Venue) -> &'static [Field] {
    match venue {
        Venue::Binance => &BINANCE,
        Venue::Okx => &OKX,
    }
}

/// Why the keys could not be found: every missing field, by venue.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
#[error(
    "live execution needs venue API keys; missing: {}. Put them in the secrets file \
     (mode 0600) or the environment",
    missing.join("; ")
)]
pub struct MissingKeys {
    /// One line per venue: `binance-um: binance_key / BINANCE_API_KEY, …`.
    pub missing: Vec<String>,
}

/// Where a venue's keys were found (for the start-up line; never the values).
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum KeySource {
    /// The secrets file.
    File,
    /// These environment variables.
    Environment(Vec<&'static str>),
}

/// Both venues' keys, by `Venue::index()`.
#[derive(Clone, Debug)]
pub struct LiveKeys {
    /// Keys per venue.
    pub keys: [VenueKeys; 2],
    /// Where each came from.
    pub sources: [KeySource; 2],
}

impl LiveKeys {
    /// Every secret value (secrets and passphrases), so a test can grep for them.
    pub fn secret_values(&self) -> Vec<String> {
        let mut v = Vec::new();
        for k in &self.keys {
            v.push(k.secret.clone());
            v.extend(k.passphrase.clone());
        }
        v
    }
}

/// Finds both venues' keys in the secrets file's extra fields, else the environment
/// (`env` reads a variable; the service passes `std::env::var`).
pub fn resolve(
    file_fields: &BTreeMap<String, Value>,
    profile: Profile,
    env: &dyn Fn(&str) -> Option<String>,
) -> Result<LiveKeys, MissingKeys> {
    let mut found = Vec::new();
    let mut missing = Vec::new();
    for venue in Venue::ALL {
        match venue_keys(venue, file_fields, profile, env) {
            Ok(k) => found.push(k),
            Err(line) => missing.push(line),
        }
    }
    if !missing.is_empty() {
        return Err(MissingKeys { missing });
    }
    let [(b, bs), (o, os)]: [(VenueKeys, KeySource); 2] =
        found.try_into().expect("two venues, both found");
    Ok(LiveKeys {
        keys: [b, o],
        sources: [bs, os],
    })
}

fn non_empty(v: Option<String>) -> Option<String> {
    v.map(|s| s.trim().to_owned()).filter(|s| !s.is_empty())
}

/// One venue's keys: the whole set from the file, else the whole set from the
/// environment; `Err` names what is missing from each.
fn venue_keys(
    venue: Venue,
    file_fields: &BTreeMap<String, Value>,
    profile: Profile,
    env: &dyn Fn(&str) -> Option<String>,
) -> Result<(VenueKeys, KeySource), String> {
    let fields = fields(venue);
    let from_file: Vec<Option<String>> = fields
        .iter()
        .map(|f| {
            non_empty(
                file_fields
                    .get(f.file)
                    .and_then(Value::as_str)
                    .map(str::to_owned),
            )
        })
        .collect();
    if from_file.iter().all(Option::is_some) {
        let values = from_file.into_iter().flatten().collect();
        return Ok((assemble(values), KeySource::File));
    }
    if from_file.iter().any(Option::is_some) {
        // Half a set in the file: never completed from another source.
        let absent: Vec<&str> = fields
            .iter()
            .zip(&from_file)
            .filter(|(_, v)| v.is_none())
            .map(|(f, _)| f.file)
            .collect();
        return Err(format!(
            "{}: {} (the secrets file has only part of the set)",
            venue.name(),
            absent.join(", ")
        ));
    }
    let mut names = Vec::new();
    let mut values = Vec::new();
    let mut absent = Vec::new();
    for field in fields {
        let candidates: Vec<&'static str> = match profile {
            Profile::Testnet => field.testnet_env.iter().chain(field.env).copied().collect(),
            _ => field.env.to_vec(),
        };
        match candidates
            .iter()
            .find_map(|&n| non_empty(env(n)).map(|v| (n, v)))
        {
            Some((name, value)) => {
                names.push(name);
                values.push(value);
            }
            None => absent.push(format!("{} / {}", field.file, candidates.join(" or "))),
        }
    }
    if absent.is_empty() {
        return Ok((assemble(values), KeySource::Environment(names)));
    }
    Err(format!("{}: {}", venue.name(), absent.join(", ")))
}

fn assemble(mut values: Vec<String>) -> VenueKeys {
    let passphrase = (values.len() == 3).then(|| values.pop()).flatten();
    let secret = values.pop().expect("a secret");
    let api_key = values.pop().expect("a key");
    VenueKeys {
        api_key,
        secret,
        passphrase,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn file(pairs: &[(&str, &str)]) -> BTreeMap<String, Value> {
        pairs
            .iter()
            .map(|(k, v)| ((*k).to_owned(), Value::String((*v).to_owned())))
            .collect()
    }

    fn no_env(_: &str) -> Option<String> {
        None
    }

    #[test]
    fn the_file_gives_both_venues() {
        let f = file(&[
            ("binance_key", "bk"),
            ("binance_secret", "bs"),
            ("okx_key", "ok"),
            ("okx_secret", "os"),
            ("okx_passphrase", "op"),
        ]);
        let keys = resolve(&f, Profile::Live, &no_env).unwrap();
        assert_eq!(keys.keys[0].api_key, "bk");
        assert_eq!(keys.keys[0].secret, "bs");
        assert_eq!(keys.keys[0].passphrase, None);
        assert_eq!(keys.keys[1].passphrase.as_deref(), Some("op"));
        assert_eq!(keys.sources, [KeySource::File, KeySource::File]);
        assert_eq!(keys.secret_values(), ["bs", "os", "op"]);
    }

    #[test]
    fn the_environment_fills_in_and_testnet_names_come_first() {
        let env = |name: &str| {
            let v = match name {
                "BINANCE_UM_API_KEY_TESTNET" => "tk",
                "BINANCE_API_KEY" => "lk",
                "BINANCE_API_SECRET" => "ls",
                "OKX_API_KEY" => "ok",
                "OKX_API_SECRET" => "os",
                "OKX_API_PASSPHRASE" => "op",
                _ => return None,
            };
            Some(v.to_owned())
        };
        let test = resolve(&BTreeMap::new(), Profile::Testnet, &env).unwrap();
        assert_eq!(test.keys[0].api_key, "tk");
        assert_eq!(test.keys[0].secret, "ls");
        assert_eq!(
            test.sources[0],
            KeySource::Environment(vec!["BINANCE_UM_API_KEY_TESTNET", "BINANCE_API_SECRET"])
        );
        let live = resolve(&BTreeMap::new(), Profile::Live, &env).unwrap();
        assert_eq!(live.keys[0].api_key, "lk");
    }

    #[test]
    fn missing_keys_are_named_and_no_value_is_shown() {
        let f = file(&[
            ("binance_key", "VISIBLE-KEY"),
            ("okx_secret", "HIDDEN-SECRET"),
        ]);
        let err = resolve(&f, Profile::Live, &no_env).unwrap_err();
        let text = err.to_string();
        assert!(
            text.contains("binance-um: binance_secret (the secrets file has only part of the set)"),
            "{text}"
        );
        assert!(
            text.contains("okx-swap: okx_key, okx_passphrase (the secrets file"),
            "{text}"
        );
        let env_only = resolve(&BTreeMap::new(), Profile::Live, &no_env).unwrap_err();
        let text_env = env_only.to_string();
        assert!(
            text_env.contains("okx_passphrase / OKX_API_PASSPHRASE"),
            "{text_env}"
        );
        for value in ["VISIBLE-KEY", "HIDDEN-SECRET"] {
            assert!(!text.contains(value), "{text}");
        }
        let none = resolve(&BTreeMap::new(), Profile::Testnet, &no_env).unwrap_err();
        assert!(
            none.to_string()
                .contains("BINANCE_UM_API_KEY_TESTNET or BINANCE_API_KEY")
        );
    }

    #[test]
    fn empty_values_count_as_missing() {
        let f = file(&[("binance_key", " "), ("binance_secret", "s")]);
        let err = resolve(&f, Profile::Live, &no_env).unwrap_err();
        assert!(err.missing[0].contains("binance_key ("), "{err}");
    }
}
