//! Operator tokens and the approval token: loading, generating and checking them.
//!
//! The secrets file has the shape of the operator documents (README v0.1.2):
//!
//! ```json
//! { "operator_tokens": { "alice": { "token": "…", "role": "operator" } },
//!   "approve_token": "…" }
//! ```
//!
//! It must not be readable by group or others (mode 0600): a wider file is refused at
//! start. Tokens are compared in constant time, and no secret is ever logged, returned
//! by the API or written to the journal. The engine receives only the approval token,
//! and keeps only its digest.

use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;
use std::fmt;
use std::io::Write;
use std::os::unix::fs::{OpenOptionsExt, PermissionsExt};
use std::path::{Path, PathBuf};
use subtle::ConstantTimeEq;

/// What a token may do.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Role {
    /// Reads status, positions, PnL and the dashboard.
    Viewer,
    /// Reads everything a viewer reads plus the audit trail and exports.
    Auditor,
    /// Everything, including HOLD, the two-man resume, kill, config and control.
    Operator,
}

impl Role {
    /// Lower-case name.
    pub const fn name(self) -> &'static str {
        match self {
            Role::Viewer => "viewer",
            Role::Auditor => "auditor",
            Role::Operator => "operator",
        }
    }
}

/// Who a request comes from, once its token is checked.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Identity {
    /// The token's name (`alice`); the actor of every operator action.
    pub name: String,
    /// Its role.
    pub role: Role,
    /// No token was presented (read-only routes in the open paper mode).
    pub anonymous: bool,
}

/// One named token.
#[derive(Clone, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct TokenEntry {
    /// The bearer token.
    pub token: String,
    /// Its role.
    pub role: Role,
}

impl fmt::Debug for TokenEntry {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "TokenEntry {{ token: <redacted>, role: {:?} }}",
            self.role
        )
    }
}

/// The secrets file as stored.
#[derive(Clone, Default, Deserialize, Serialize)]
pub struct SecretsFile {
    /// Named bearer tokens.
    #[serde(default)]
    pub operator_tokens: BTreeMap<String, TokenEntry>,
    /// The two-man approval token.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub approve_token: Option<String>,
    /// Venue keys and anything else the file carries (kept, never shown).
    #[serde(flatten)]
    pub other: BTreeMap<String, serde_json::Value>,
}

/// Loaded secrets.
#[derive(Clone, Default)]
pub struct Secrets {
    tokens: Vec<(String, TokenEntry)>,
    approve_token: Option<String>,
    /// The file's other fields (venue keys among them; never shown).
    extra: BTreeMap<String, serde_json::Value>,
    /// Where they came from, for the start-up message.
    pub source: String,
}

impl fmt::Debug for Secrets {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Secrets")
            .field("tokens", &self.tokens.len())
            .field(
                "approve_token",
                &self.approve_token.as_ref().map(|_| "<redacted>"),
            )
            .field("extra_fields", &self.extra.len())
            .field("source", &self.source)
            .finish()
    }
}

/// Why secrets could not be loaded.
#[derive(Debug, thiserror::Error)]
pub enum SecretsError {
    /// The file is readable or writable by group or others.
    #[error(
        "{path} has mode {mode:o}: secrets must be readable by their owner only; run `chmod 600 {path}`"
    )]
    TooOpen {
        /// File.
        path: String,
        /// Its permission bits.
        mode: u32,
    },
    /// The file could not be read or written.
    #[error("{path}: {source}")]
    Io {
        /// File.
        path: String,
        /// The error.
        source: std::io::Error,
    },
    /// The file is not valid JSON of the expected shape.
    #[error("{path} is not a valid secrets file: {reason}")]
    Invalid {
        /// File.
        path: String,
        /// What is wrong.
        reason: String,
    },
}

/// What [`Secrets::resolve`] did.
#[derive(Debug, PartialEq, Eq)]
pub enum Resolved {
    /// Read from this file.
    File(PathBuf),
    /// Taken from `API_TOKEN` / `APPROVE_TOKEN`.
    Environment,
    /// Generated (paper only) and written to this file.
    Generated(PathBuf),
    /// Nothing configured.
    None,
}

impl Secrets {
    /// Secrets from explicit values (tests and the environment fallback).
    pub fn from_entries(
        entries: impl IntoIterator<Item = (String, TokenEntry)>,
        approve_token: Option<String>,
        source: &str,
    ) -> Secrets {
        Secrets {
            tokens: entries.into_iter().collect(),
            approve_token,
            extra: BTreeMap::new(),
            source: source.into(),
        }
    }

    /// Finds the secrets: the file if it exists, else the environment
    /// (`API_TOKEN` as operator `api`, `APPROVE_TOKEN`), else — when `generate` is
    /// set (paper) — a fresh file with two operators, an auditor and a viewer.
    pub fn resolve(
        file: &Path,
        env_api_token: Option<String>,
        env_approve_token: Option<String>,
        generate: bool,
    ) -> Result<(Secrets, Resolved), SecretsError> {
        if file.exists() {
            let mut s = Secrets::load(file)?;
            if s.approve_token.is_none() {
                s.approve_token = env_approve_token.filter(|t| !t.is_empty());
            }
            return Ok((s, Resolved::File(file.to_path_buf())));
        }
        if let Some(token) = env_api_token.filter(|t| !t.is_empty()) {
            let entry = TokenEntry {
                token,
                role: Role::Operator,
            };
            let s = Secrets::from_entries(
                [("api".to_owned(), entry)],
                env_approve_token.filter(|t| !t.is_empty()),
                "environment (API_TOKEN, APPROVE_TOKEN)",
            );
            return Ok((s, Resolved::Environment));
        }
        if generate {
            let s = Secrets::generate(file)?;
            return Ok((s, Resolved::Generated(file.to_path_buf())));
        }
        Ok((Secrets::default(), Resolved::None))
    }

    /// Reads a secrets file, refusing one that group or others can read.
    pub fn load(path: &Path) -> Result<Secrets, SecretsError> {
        let shown = path.display().to_string();
        let io = |source| SecretsError::Io {
            path: shown.clone(),
            source,
        };
        let meta = std::fs::metadata(path).map_err(io)?;
        let mode = meta.permissions().mode() & 0o777;
        if mode & 0o077 != 0 {
            return Err(SecretsError::TooOpen { path: shown, mode });
        }
        let text = std::fs::read_to_string(path).map_err(io)?;
        let file: SecretsFile = serde_json::from_str(&text).map_err(|e| SecretsError::Invalid {
            path: shown.clone(),
            reason: e.to_string(),
        })?;
        for (name, entry) in &file.operator_tokens {
            if entry.token.len() < 16 {
                return Err(SecretsError::Invalid {
                    path: shown,
                    reason: format!("token of {name:?} is shorter than 16 characters"),
                });
            }
        }
        Ok(Secrets {
            tokens: file.operator_tokens.into_iter().collect(),
            approve_token: file.approve_token.filter(|t| !t.is_empty()),
            extra: file.other,
            source: shown,
        })
    }

    /// Generates tokens for a paper newcomer and writes them with mode 0600.
    pub fn generate(path: &Path) -> Result<Secrets, SecretsError> {
        let mut tokens = BTreeMap::new();
        for (name, role) in [
            ("alice", Role::Operator),
            ("bob", Role::Operator),
            ("audit", Role::Auditor),
            ("view", Role::Viewer),
        ] {
            let entry = TokenEntry {
                token: random_token(),
                role,
            };
            tokens.insert(name.to_owned(), entry);
        }
        let file = SecretsFile {
            operator_tokens: tokens,
            approve_token: Some(random_token()),
            other: BTreeMap::new(),
        };
        let text = serde_json::to_string_pretty(&file).expect("secrets serialise");
        let shown = path.display().to_string();
        let mut f = std::fs::OpenOptions::new()
            .write(true)
            .create_new(true)
            .mode(0o600)
            .open(path)
            .map_err(|source| SecretsError::Io {
                path: shown.clone(),
                source,
            })?;
        f.write_all(text.as_bytes())
            .and_then(|()| f.sync_all())
            .map_err(|source| SecretsError::Io {
                path: shown.clone(),
                source,
            })?;
        Ok(Secrets {
            tokens: file.operator_tokens.into_iter().collect(),
            approve_token: file.approve_token,
            extra: BTreeMap::new(),
            source: shown,
        })
    }

    /// The identity a bearer token belongs to. Every stored token is compared, in
    /// constant time, whatever matches first.
    pub fn authenticate(&self, presented: &str) -> Option<Identity> {
        let mut found: Option<&(String, TokenEntry)> = None;
        for entry in &self.tokens {
            let same: bool = entry.1.token.as_bytes().ct_eq(presented.as_bytes()).into();
            if same && found.is_none() {
                found = Some(entry);
            }
        }
        found.map(|(name, e)| Identity {
            name: name.clone(),
            role: e.role,
            anonymous: false,
        })
    }

    /// Whether any bearer token is configured.
    pub fn has_tokens(&self) -> bool {
        !self.tokens.is_empty()
    }

    /// Names and roles (never the tokens).
    pub fn names(&self) -> Vec<(String, Role)> {
        self.tokens
            .iter()
            .map(|(n, e)| (n.clone(), e.role))
            .collect()
    }

    /// The approval token, for the engine's config (it keeps only a digest).
    pub fn approve_token(&self) -> Option<&str> {
        self.approve_token.as_deref()
    }

    /// Every secret value (tokens, the approval token, the file's other string
    /// fields such as venue keys), so tests and the export path can prove none leaks.
    pub fn values(&self) -> Vec<String> {
        let mut v: Vec<String> = self.tokens.iter().map(|(_, e)| e.token.clone()).collect();
        v.extend(self.approve_token.clone());
        v.extend(
            self.extra
                .values()
                .filter_map(|x| x.as_str().map(str::to_owned)),
        );
        v
    }

    /// Both venues' API keys for live execution: the file's, else the environment's
    /// (`env` reads a variable). See [`crate::keys`].
    pub fn venue_keys(
        &self,
        profile: propbot_engine::config::Profile,
        env: &dyn Fn(&str) -> Option<String>,
    ) -> Result<crate::keys::LiveKeys, crate::keys::MissingKeys> {
        crate::keys::resolve(&self.extra, profile, env)
    }

    /// The token of a named entry (tests and the CLI's own use only).
    pub fn token_of(&self, name: &str) -> Option<&str> {
        self.tokens
            .iter()
            .find(|(n, _)| n == name)
            .map(|(_, e)| e.token.as_str())
    }
}

/// 32 random bytes from the OS, hex-encoded.
pub fn random_token() -> String {
    let mut bytes = [0u8; 32];
    getrandom::fill(&mut bytes).expect("the OS random source is available");
    hex(&bytes)
}

/// Lower-case hex.
pub fn hex(bytes: &[u8]) -> String {
    const DIGITS: &[u8; 16] = b"0123456789abcdef";
    let mut s = String::with_capacity(bytes.len() * 2);
    for b in bytes {
        s.push(DIGITS[usize::from(b >> 4)] as char);
        s.push(DIGITS[usize::from(b & 15)] as char);
    }
    s
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn generated_file_is_private_and_round_trips() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("secrets.json");
        let (s, how) = Secrets::resolve(&path, None, None, true).unwrap();
        assert_eq!(how, Resolved::Generated(path.clone()));
        let mode = std::fs::metadata(&path).unwrap().permissions().mode() & 0o777;
        assert_eq!(mode, 0o600);
        let again = Secrets::load(&path).unwrap();
        let alice = s.token_of("alice").unwrap();
        assert_eq!(again.authenticate(alice).unwrap().role, Role::Operator);
        assert_eq!(again.authenticate("nope"), None);
        assert!(!format!("{s:?}").contains(alice), "Debug must redact");
    }

    #[test]
    fn a_file_readable_by_others_is_refused() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("secrets.json");
        Secrets::generate(&path).unwrap();
        std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o644)).unwrap();
        let err = Secrets::load(&path).unwrap_err();
        assert!(
            matches!(err, SecretsError::TooOpen { mode: 0o644, .. }),
            "{err}"
        );
        assert!(err.to_string().contains("chmod 600"));
    }

    #[test]
    fn environment_fallback_gives_one_operator() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("absent.json");
        let (s, how) = Secrets::resolve(
            &path,
            Some("0123456789abcdef0123".into()),
            Some("approve".into()),
            true,
        )
        .unwrap();
        assert_eq!(how, Resolved::Environment);
        assert_eq!(s.authenticate("0123456789abcdef0123").unwrap().name, "api");
        assert_eq!(s.approve_token(), Some("approve"));
        assert!(!path.exists());
    }
}
