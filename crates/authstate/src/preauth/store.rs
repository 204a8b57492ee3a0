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
        f.debug_struct("PreAuthStore")
            .field("key", &PREAUTH_KEY)
            .finish_non_exhaustive()
    }
}

impl PreAuthStore {
    /// A store over `secrets`, timing entries with `clock`.
    pub fn new(secrets: Arc<dyn SecretStore>, clock: SharedClock) -> Self {
        Self {
            secrets,
            clock,
            write_lock: Mutex::new(()),
        }
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
            let raw = serde_json::to_value(&entry).map_err(|e| PreAuthError::Corrupt {
                detail: format!("cannot encode a pending login: {e}"),
            })?;
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
            warn!(
                pending = map.len(),
                "sign-in callback carried an unknown or already used state"
            );
            return Err(PreAuthError::Unknown);
        };
        // Remove before judging: if this write fails nothing was consumed.
        self.write(&map)?;
        let entry = parse_entry(&key, raw)
            .inspect_err(|e| error!(error = %e, "consumed an unreadable pending login"))?;
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
        let text = serde_json::to_string(map).map_err(|e| PreAuthError::Corrupt {
            detail: format!("cannot encode pending logins: {e}"),
        })?;
        self.secrets.set(PREAUTH_KEY, &text)?;
        Ok(())
    }

    fn move_aside(&self) -> Result<(), PreAuthError> {
        if let Some(text) = optional(self.secrets.get(PREAUTH_KEY))? {
            self.secrets.set(CORRUPT_KEY, &text)?;
            warn!(
                key = PREAUTH_KEY,
                aside = CORRUPT_KEY,
                "moved unreadable pending logins aside"
            );
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
    let entry: PreAuthState = serde_json::from_value(raw).map_err(|e| PreAuthError::Corrupt {
        detail: describe(&e),
    })?;
    if !entry.matches_state(key) {
        return Err(PreAuthError::Corrupt {
            detail: "entry stored under another state".into(),
        });
    }
    Ok(entry)
}

/// A JSON error without the input it quotes (which may hold a secret).
fn describe(e: &serde_json::Error) -> String {
    format!(
        "{:?} error at line {} column {}",
        e.classify(),
        e.line(),
        e.column()
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::clock::ManualClock;
    use crate::model::{ProviderKind, ServerId};
    use crate::preauth::ReturnTo;
    use crate::storage::MemoryStore;

    struct Fixture {
        clock: ManualClock,
        memory: MemoryStore,
        store: PreAuthStore,
    }

    fn fixture() -> Fixture {
        let clock = ManualClock::at_epoch();
        let memory = MemoryStore::new();
        let store = PreAuthStore::new(Arc::new(memory.clone()), Arc::new(clock.clone()));
        Fixture {
            clock,
            memory,
            store,
        }
    }

    impl Fixture {
        fn login(&self, url: &str) -> PreAuthState {
            let s = PreAuthState::new(
                ServerId::parse(url).unwrap(),
                ProviderKind::Oidc,
                None,
                &self.clock,
            );
            self.store.save(&s).unwrap();
            s
        }

        fn raw(&self) -> Option<String> {
            SecretStore::get(&self.memory, PREAUTH_KEY).ok()
        }
    }

    #[test]
    fn consumed_at_29_59_is_accepted() {
        let f = fixture();
        let s = f.login("https://a.example");
        f.clock.advance(Duration::seconds(29 * 60 + 59));
        assert_eq!(f.store.consume(s.csrf_state().expose()).unwrap(), s);
    }

    #[test]
    fn consumed_at_exactly_30_minutes_is_expired_and_removed() {
        let f = fixture();
        let s = f.login("https://a.example");
        f.clock.advance(PREAUTH_TTL);
        assert_eq!(
            f.store.consume(s.csrf_state().expose()),
            Err(PreAuthError::Expired { age_secs: 1800 })
        );
        assert_eq!(
            f.store.consume(s.csrf_state().expose()),
            Err(PreAuthError::Unknown)
        );
        assert_eq!(f.raw(), None);
    }

    #[test]
    fn just_under_30_minutes_is_accepted() {
        let f = fixture();
        let s = f.login("https://a.example");
        f.clock.advance(PREAUTH_TTL - Duration::milliseconds(1));
        assert!(f.store.consume(s.csrf_state().expose()).is_ok());
    }

    #[test]
    fn an_entry_dated_far_in_the_future_is_expired() {
        let f = fixture();
        let s = f.login("https://a.example");
        f.clock.advance(-Duration::hours(1));
        assert_eq!(
            f.store.consume(s.csrf_state().expose()),
            Err(PreAuthError::Expired { age_secs: -3600 })
        );
    }

    #[test]
    fn a_state_is_single_use() {
        let f = fixture();
        let s = f.login("https://a.example");
        assert!(f.store.consume(s.csrf_state().expose()).is_ok());
        assert_eq!(
            f.store.consume(s.csrf_state().expose()),
            Err(PreAuthError::Unknown)
        );
        assert_eq!(f.store.pending().unwrap(), 0);
    }

    #[test]
    fn two_logins_to_two_servers_are_in_flight_together() {
        let f = fixture();
        let a = f.login("https://a.example");
        let b = f.login("https://b.example");
        assert_eq!(f.store.pending().unwrap(), 2);
        let got_b = f.store.consume(b.csrf_state().expose()).unwrap();
        assert_eq!(got_b.server().as_str(), "https://b.example/");
        let got_a = f.store.consume(a.csrf_state().expose()).unwrap();
        assert_eq!(got_a.server().as_str(), "https://a.example/");
        assert_eq!(f.store.pending().unwrap(), 0);
    }

    #[test]
    fn unknown_or_mismatched_state_is_unknown_and_consumes_nothing() {
        let f = fixture();
        let s = f.login("https://a.example");
        let state = s.csrf_state().expose();
        for wrong in [
            "",
            "nope",
            &state[..state.len() - 1],
            &format!("{state}x"),
            &state.to_uppercase(),
        ] {
            assert_eq!(
                f.store.consume(wrong),
                Err(PreAuthError::Unknown),
                "{wrong:?}"
            );
        }
        assert_eq!(f.store.pending().unwrap(), 1);
        assert!(f.store.consume(state).is_ok());
    }

    #[test]
    fn save_drops_entries_already_past_their_ttl() {
        let f = fixture();
        let old = f.login("https://a.example");
        f.clock.advance(PREAUTH_TTL);
        let fresh = f.login("https://b.example");
        let raw = f.raw().unwrap();
        assert!(!raw.contains(old.csrf_state().expose()));
        assert!(raw.contains(fresh.csrf_state().expose()));
        assert_eq!(
            f.store.consume(old.csrf_state().expose()),
            Err(PreAuthError::Unknown)
        );
    }

    #[test]
    fn pending_logins_are_capped_oldest_first() {
        let f = fixture();
        let first = f.login("https://a.example");
        for _ in 0..MAX_PENDING {
            f.clock.advance(Duration::seconds(1));
            f.login("https://b.example");
        }
        assert_eq!(f.store.pending().unwrap(), MAX_PENDING);
        assert_eq!(
            f.store.consume(first.csrf_state().expose()),
            Err(PreAuthError::Unknown)
        );
    }

    #[test]
    fn unavailable_store_is_a_storage_error_not_unknown() {
        let f = fixture();
        let s = f.login("https://a.example");
        f.memory.set_unavailable(true);
        assert!(matches!(
            f.store.consume(s.csrf_state().expose()),
            Err(PreAuthError::Storage(StorageError::Unavailable(_)))
        ));
        assert!(matches!(
            f.store.consume("never-issued"),
            Err(PreAuthError::Storage(_))
        ));
        assert!(matches!(f.store.pending(), Err(PreAuthError::Storage(_))));
        let other = PreAuthState::new(s.server().clone(), ProviderKind::Oidc, None, &f.clock);
        assert!(matches!(
            f.store.save(&other),
            Err(PreAuthError::Storage(_))
        ));
        f.memory.set_unavailable(false);
        // Nothing was consumed while the store was locked.
        assert_eq!(f.store.consume(s.csrf_state().expose()).unwrap(), s);
    }

    #[test]
    fn corrupt_json_is_a_typed_error_and_the_next_save_recovers() {
        let f = fixture();
        SecretStore::set(&f.memory, PREAUTH_KEY, "{not json SECRET-ish").unwrap();
        let err = f.store.consume("anything").unwrap_err();
        assert!(
            matches!(&err, PreAuthError::Corrupt { detail } if !detail.contains("SECRET")),
            "{err:?}"
        );
        assert!(matches!(
            f.store.pending(),
            Err(PreAuthError::Corrupt { .. })
        ));
        let s = f.login("https://a.example");
        assert_eq!(
            SecretStore::get(&f.memory, CORRUPT_KEY).unwrap(),
            "{not json SECRET-ish"
        );
        assert_eq!(f.store.consume(s.csrf_state().expose()).unwrap(), s);
    }

    #[test]
    fn a_corrupt_entry_does_not_hide_the_others() {
        let f = fixture();
        let good = f.login("https://a.example");
        let mut map: RawMap = serde_json::from_str(&f.raw().unwrap()).unwrap();
        map.insert("bad-state".into(), serde_json::json!({"server": 5}));
        SecretStore::set(
            &f.memory,
            PREAUTH_KEY,
            &serde_json::to_string(&map).unwrap(),
        )
        .unwrap();
        assert!(matches!(
            f.store.consume("bad-state"),
            Err(PreAuthError::Corrupt { .. })
        ));
        assert_eq!(f.store.consume(good.csrf_state().expose()).unwrap(), good);
    }

    #[test]
    fn entries_written_before_return_to_existed_are_consumed() {
        let f = fixture();
        // Frozen by hand: the stored map before `return_to` and `schema_version`.
        let old = r#"{"c3RhdGUtMTIzNDU2Nzg5MA":{
            "server":"https://a.example/","provider":"oidc",
            "pkce_verifier":"dBjftJeZ4CVP-mB92K27uhbUJU1p1r_wW1gFWFOEjXk",
            "pkce_challenge":"E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM",
            "csrf_state":"c3RhdGUtMTIzNDU2Nzg5MA","nonce":"bm9uY2UtMTIzNDU2Nzg5MA",
            "created_at":"2025-12-31T23:45:00Z"}}"#;
        SecretStore::set(&f.memory, PREAUTH_KEY, old).unwrap();
        let s = f.store.consume("c3RhdGUtMTIzNDU2Nzg5MA").unwrap();
        assert_eq!(s.return_to(), None);
        assert_eq!(s.server().as_str(), "https://a.example/");
    }

    #[test]
    fn stored_json_omits_return_to_when_absent() {
        let f = fixture();
        f.login("https://a.example");
        assert!(!f.raw().unwrap().contains("return_to"));
        let with = PreAuthState::new(
            ServerId::parse("https://b.example").unwrap(),
            ProviderKind::Oidc,
            Some(ReturnTo::parse("/x").unwrap()),
            &f.clock,
        );
        f.store.save(&with).unwrap();
        assert!(f.raw().unwrap().contains("\"return_to\":\"/x\""));
        assert_eq!(
            f.store
                .consume(with.csrf_state().expose())
                .unwrap()
                .safe_return_to()
                .unwrap()
                .as_str(),
            "/x"
        );
    }

    #[test]
    fn clear_forgets_everything() {
        let f = fixture();
        let s = f.login("https://a.example");
        f.store.clear().unwrap();
        assert_eq!(
            f.store.consume(s.csrf_state().expose()),
            Err(PreAuthError::Unknown)
        );
        assert!(f.memory.is_empty());
    }
}
