//! [`PreAuthStore`]: pending logins in the secret store, single-use, with a
//! TTL checked on consumption.

use std::collections::BTreeMap;
use std::fmt;
use std::sync::Arc;

use parking_lot::Mutex;
use subtle::ConstantTimeEq;
use time::Duration;
use tracing::{debug, error, warn};

use super::PreAuthState;
use crate::clock::SharedClock;
use crate::storage::{SecretStore, StorageError, optional};

/// How long a pending login stays usable: 30 minutes from creation. Password
/// resets, MFA prompts and magic links routinely take longer than five.
pub const PREAUTH_TTL: Duration = Duration::minutes(30);

/// The secret-store key holding every pending login, as one JSON object
/// mapping each CSRF `state` to its [`PreAuthState`].
pub const PREAUTH_KEY: &str = "authstate.preauth";

/// Where an unreadable value under [`PREAUTH_KEY`] is moved before a fresh
/// login replaces it.
const CORRUPT_KEY: &str = "authstate.preauth.corrupt";

/// At most this many logins are kept pending; saving one more drops the oldest.
const MAX_PENDING: usize = 32;

/// Why a pending login could not be saved or consumed.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum PreAuthError {
    /// No pending login has this `state`: it was never issued here, was
    /// already used, or the callback was forged. Start the sign-in again.
    #[error("unknown or already used sign-in state; start the sign-in again")]
    Unknown,
    /// The login was found but is [`PREAUTH_TTL`] old or older (or dated in
    /// the future). It has been removed; start the sign-in again.
    #[error("the sign-in took too long ({age_secs} s; the limit is 1800 s); start it again")]
    Expired {
        /// The entry's age in whole seconds when it was consumed (negative
        /// when it was dated in the future).
        age_secs: i64,
    },
    /// The secret store failed (locked, unavailable). Nothing was consumed;
    /// try again later.
    #[error("pre-auth storage failed: {0}")]
    Storage(#[from] StorageError),
    /// The stored pending logins cannot be read. Reported with `error!`;
    /// the next save moves the value aside and starts afresh.
    #[error("stored pre-auth state is corrupt: {detail}")]
    Corrupt {
        /// What was wrong (never the stored value).
        detail: String,
    },
}

/// The stored map, entries still as JSON so one bad entry does not hide the others.
type RawMap = BTreeMap<String, serde_json::Value>;

/// Pending logins, kept in a [`SecretStore`] under [`PREAUTH_KEY`].
///
/// Guarantees: an entry is handed back at most once; it is handed back only
/// within [`PREAUTH_TTL`] of its creation; a storage failure is reported as
/// [`PreAuthError::Storage`], never as [`PreAuthError::Unknown`]; secrets never
/// reach a log.
pub struct PreAuthStore {
    secrets: Arc<dyn SecretStore>,
    clock: SharedClock,
    /// Serialises read-modify-write of the single key within this process.
    /// Held across synchronous store calls only, never across an `.await`.
    write_lock: Mutex<()>,
}

impl fmt::Debug for PreAuthStore {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("PreAuthStore").field("key", &PREAUTH_KEY).finish_non_exhaustive()
    }
}

impl PreAuthStore {
    /// A store over `secrets`, timing entries with `clock`.
    pub fn new(secrets: Arc<dyn SecretStore>, clock: SharedClock) -> Self {
        Self { secrets, clock, write_lock: Mutex::new(()) }
    }

    /// Saves a pending login, keyed by its `state`. Entries already past their
    /// TTL are dropped on the way; beyond 32 pending logins the oldest go. An
    /// unreadable stored value is reported, moved aside, and replaced.
    pub fn save(&self, state: &PreAuthState) -> Result<(), PreAuthError> {
        let _guard = self.write_lock.lock();
        let now = self.clock.now();
        let map = match self.load() {
            Ok(map) => map,
            Err(PreAuthError::Corrupt { .. }) => {
                self.move_aside()?;
                RawMap::new()
            }
            Err(e) => return Err(e),
        };
        let mut live: Vec<PreAuthState> = map
            .into_iter()
            .filter_map(|(key, raw)| match parse_entry(&key, raw) {
                Ok(entry) if entry.is_expired_at(now) => {
                    debug!(server = %entry.server(), "dropping an expired pending login");
                    None
                }
                Ok(entry) => Some(entry),
                Err(e) => {
                    error!(error = %e, "dropping an unreadable pending login");
                    None
                }
            })
            .filter(|entry| !entry.matches_state(state.csrf_state().expose()))
            .collect();
        live.push(state.clone());
        if live.len() > MAX_PENDING {
            live.sort_by_key(PreAuthState::created_at);
            let excess = live.len() - MAX_PENDING;
            for dropped in live.drain(..excess) {
                warn!(server = %dropped.server(), "too many pending logins; dropping the oldest");
            }
        }
        let mut map = RawMap::new();
        for entry in live {
            let raw = serde_json::to_value(&entry)
                .map_err(|e| PreAuthError::Corrupt { detail: format!("cannot encode a pending login: {e}") })?;
            map.insert(entry.csrf_state().expose().to_owned(), raw);
        }
        self.write(&map)?;
        debug!(server = %state.server(), pending = map.len(), "saved a pending login");
        Ok(())
    }

    /// Takes the pending login whose `state` equals `state` (constant-time
    /// compare) and removes it, whether or not it has expired. Returns it only
    /// if it is younger than [`PREAUTH_TTL`] (exactly 30 minutes is expired).
    pub fn consume(&self, state: &str) -> Result<PreAuthState, PreAuthError> {
        let _guard = self.write_lock.lock();
        let mut map = self.load()?;
        let Some((key, raw)) = find_ct(&map, state).and_then(|key| map.remove_entry(&key)) else {
            warn!(pending = map.len(), "sign-in callback carried an unknown or already used state");
            return Err(PreAuthError::Unknown);
        };
        // Remove before judging: if this write fails nothing was consumed.
        self.write(&map)?;
        let entry =
            parse_entry(&key, raw).inspect_err(|e| error!(error = %e, "consumed an unreadable pending login"))?;
        let now = self.clock.now();
        if entry.is_expired_at(now) {
            let age_secs = entry.age_at(now).whole_seconds();
            warn!(server = %entry.server(), age_secs, "sign-in callback arrived after the pending login expired");
            return Err(PreAuthError::Expired { age_secs });
        }
        debug!(server = %entry.server(), "consumed a pending login");
        Ok(entry)
    }

    /// How many pending logins are still usable now (readable and not expired).
    pub fn pending(&self) -> Result<usize, PreAuthError> {
        let now = self.clock.now();
        let map = self.load()?;
        Ok(map
            .into_iter()
            .filter_map(|(key, raw)| parse_entry(&key, raw).ok())
            .filter(|e| !e.is_expired_at(now))
            .count())
    }

    /// Forgets every pending login.
    pub fn clear(&self) -> Result<(), PreAuthError> {
        let _guard = self.write_lock.lock();
        self.secrets.delete(PREAUTH_KEY)?;
        Ok(())
    }

    fn load(&self) -> Result<RawMap, PreAuthError> {
        let Some(text) = optional(self.secrets.get(PREAUTH_KEY))? else {
            return Ok(RawMap::new());
        };
        serde_json::from_str(&text).map_err(|e| {
            let detail = describe(&e);
            error!(key = PREAUTH_KEY, %detail, "stored pending logins are not readable");
            PreAuthError::Corrupt { detail }
        })
    }

    fn write(&self, map: &RawMap) -> Result<(), PreAuthError> {
        if map.is_empty() {
            self.secrets.delete(PREAUTH_KEY)?;
            return Ok(());
        }
        let text = serde_json::to_string(map)
            .map_err(|e| PreAuthError::Corrupt { detail: format!("cannot encode pending logins: {e}") })?;
        self.secrets.set(PREAUTH_KEY, &text)?;
        Ok(())
    }

    fn move_aside(&self) -> Result<(), PreAuthError> {
        if let Some(text) = optional(self.secrets.get(PREAUTH_KEY))? {
            self.secrets.set(CORRUPT_KEY, &text)?;
            warn!(key = PREAUTH_KEY, aside = CORRUPT_KEY, "moved unreadable pending logins aside");
        }
        Ok(())
    }
}

/// The key equal to `candidate`, comparing against every key in constant time.
fn find_ct(map: &RawMap, candidate: &str) -> Option<String> {
    let mut found = None;
    for key in map.keys() {
        if bool::from(key.as_bytes().ct_eq(candidate.as_bytes())) {
            found = Some(key.clone());
        }
    }
    found
}

fn parse_entry(key: &str, raw: serde_json::Value) -> Result<PreAuthState, PreAuthError> {
    let entry: PreAuthState =
        serde_json::from_value(raw).map_err(|e| PreAuthError::Corrupt { detail: describe(&e) })?;
    if !entry.matches_state(key) {
        return Err(PreAuthError::Corrupt { detail: "entry stored under another state".into() });
    }
    Ok(entry)
}

/// A JSON error without the input it quotes (which may hold a secret).
fn describe(e: &serde_json::Error) -> String {
    format!("{:?} error at line {} column {}", e.classify(), e.line(), e.column())
}

#[cfg(test)]
#[path = "store_tests.rs"]
mod tests;
