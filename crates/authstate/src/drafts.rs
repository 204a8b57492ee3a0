//! Unsent user text kept across a re-auth round-trip (DESIGN.md "Drafts").
//!
//! [`DraftStore`] owns one draft per `(server, room)` in a
//! [`KeyValueStore`], one key per draft, with a 24-hour TTL read from the
//! injected [`Clock`](crate::clock::Clock). It guarantees:
//!
//! - a draft over the size cap is refused with [`DraftError::TooLarge`] and
//!   never truncated; the draft already stored is left untouched;
//! - a draft saved at `t` is readable until `t + 24h - 1s` and gone from
//!   `t + 24h` on;
//! - a locked or unavailable store is [`DraftError::Storage`], never "no
//!   draft", and an unreadable entry is [`DraftError::Corrupt`], never a panic
//!   (the spirit of invariant 12);
//! - the text is user content: it is never logged, and no error or `Debug`
//!   output carries it (logs name the server and sizes only).
//!
//! Keys are `authstate.draft.<hex(server)>.<hex(room)>`: lowercase hex of the
//! UTF-8 bytes, so every key is ASCII, URL-safe and decodes back to its parts.

use std::fmt;
use std::sync::Arc;

use parking_lot::Mutex;
use serde::{Deserialize, Serialize};
use time::{Duration, OffsetDateTime};

use crate::clock::SharedClock;
use crate::model::ServerId;
use crate::storage::{KeyValueStore, StorageError, optional};

/// How long a saved draft stays readable: 24 hours from its last save.
pub const DRAFT_TTL: Duration = Duration::hours(24);

/// The default size cap of one draft: 64 KiB of UTF-8.
pub const DEFAULT_MAX_DRAFT_BYTES: usize = 64 * 1024;

/// The longest accepted room name, in UTF-8 bytes.
pub const MAX_ROOM_BYTES: usize = 256;

/// The draft record version written by this build.
const DRAFT_SCHEMA_VERSION: u32 = 1;

/// Key prefix of every draft in the key-value store.
const DRAFT_PREFIX: &str = "authstate.draft.";

/// Why a draft operation failed, by what the caller should do about it.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum DraftError {
    /// The text is over the store's cap. Nothing was saved and the previous
    /// draft is unchanged; shorten the text (or raise the cap) and save again.
    #[error("draft is {size} bytes, over the {max}-byte limit; nothing was saved")]
    TooLarge {
        /// Size of the refused text, in UTF-8 bytes.
        size: usize,
        /// The cap, in UTF-8 bytes.
        max: usize,
    },
    /// The room name is empty or longer than [`MAX_ROOM_BYTES`]; fix the input.
    #[error("room name must be 1 to {MAX_ROOM_BYTES} bytes, got {len}")]
    InvalidRoom {
        /// Length of the refused room name, in UTF-8 bytes.
        len: usize,
    },
    /// The store failed (locked, unavailable). Nothing was changed or lost;
    /// try again later.
    #[error("draft storage failed: {0}")]
    Storage(#[from] StorageError),
    /// The entry under `key` cannot be read as a draft. It is left in place;
    /// saving to the same server and room (even empty text) replaces it.
    #[error("stored draft under {key:?} cannot be read")]
    Corrupt {
        /// The storage key (never the text).
        key: String,
    },
}

/// Drafts of unsent text per `(server, room)`, persisted in a
/// [`KeyValueStore`] with a [`DRAFT_TTL`] expiry.
///
/// Clones share the store, the clock and a lock: operations through one
/// `DraftStore` and its clones never interleave (a `take` cannot delete a
/// draft saved while it ran).
#[derive(Clone)]
pub struct DraftStore {
    kv: Arc<dyn KeyValueStore>,
    clock: SharedClock,
    max_bytes: usize,
    lock: Arc<Mutex<()>>,
}

impl fmt::Debug for DraftStore {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("DraftStore")
            .field("max_bytes", &self.max_bytes)
            .finish_non_exhaustive()
    }
}

/// A draft as persisted: versioned JSON, `saved_at` in RFC 3339.
#[derive(Serialize, Deserialize)]
struct DraftRecord {
    schema_version: u32,
    server: ServerId,
    room: String,
    text: String,
    #[serde(with = "time::serde::rfc3339")]
    saved_at: OffsetDateTime,
}

impl DraftStore {
    /// A store over `kv`, reading time from `clock`, with the default cap of
    /// [`DEFAULT_MAX_DRAFT_BYTES`].
    pub fn new(kv: Arc<dyn KeyValueStore>, clock: SharedClock) -> Self {
        Self {
            kv,
            clock,
            max_bytes: DEFAULT_MAX_DRAFT_BYTES,
            lock: Arc::new(Mutex::new(())),
        }
    }

    /// The same store with a cap of `max_bytes` UTF-8 bytes per draft.
    pub fn with_max_bytes(mut self, max_bytes: usize) -> Self {
        self.max_bytes = max_bytes;
        self
    }

    /// The cap on one draft, in UTF-8 bytes.
    pub fn max_bytes(&self) -> usize {
        self.max_bytes
    }

    /// Saves `text` as the draft for `(server, room)`, replacing any previous
    /// one and restarting its TTL. Empty text deletes the draft. Text over the
    /// cap is refused with [`DraftError::TooLarge`], never truncated, and the
    /// previous draft is kept as it was.
    pub fn save(&self, server: &ServerId, room: &str, text: &str) -> Result<(), DraftError> {
        let key = draft_key(server, room)?;
        if text.is_empty() {
            let _guard = self.lock.lock();
            self.kv.delete(&key)?;
            tracing::debug!(server = %server, "draft cleared");
            return Ok(());
        }
        if text.len() > self.max_bytes {
            tracing::warn!(server = %server, size = text.len(), max = self.max_bytes, "draft over the size cap refused");
            return Err(DraftError::TooLarge {
                size: text.len(),
                max: self.max_bytes,
            });
        }
        let record = DraftRecord {
            schema_version: DRAFT_SCHEMA_VERSION,
            server: server.clone(),
            room: room.to_owned(),
            text: text.to_owned(),
            saved_at: self.clock.now(),
        };
        // Serialising plain strings and a UTC time cannot fail; map it anyway
        // rather than panic.
        let value =
            serde_json::to_string(&record).map_err(|_| DraftError::Corrupt { key: key.clone() })?;
        let _guard = self.lock.lock();
        self.kv.set(&key, &value)?;
        tracing::debug!(server = %server, size = text.len(), "draft saved");
        Ok(())
    }

    /// Reads and deletes the draft for `(server, room)`. `None` when there is
    /// none or it has expired (an expired draft is deleted too). If the delete
    /// fails the draft is not returned and stays stored, so it is never
    /// restored twice nor lost.
    pub fn take(&self, server: &ServerId, room: &str) -> Result<Option<String>, DraftError> {
        let key = draft_key(server, room)?;
        let _guard = self.lock.lock();
        let Some(record) = self.load(&key, server, room)? else {
            return Ok(None);
        };
        self.kv.delete(&key)?;
        if self.is_expired(&record) {
            tracing::debug!(server = %server, "expired draft deleted on take");
            return Ok(None);
        }
        tracing::debug!(server = %server, size = record.text.len(), "draft taken");
        Ok(Some(record.text))
    }

    /// Reads the draft for `(server, room)` without deleting it. `None` when
    /// there is none or it has expired.
    pub fn peek(&self, server: &ServerId, room: &str) -> Result<Option<String>, DraftError> {
        let key = draft_key(server, room)?;
        let _guard = self.lock.lock();
        Ok(self
            .load(&key, server, room)?
            .filter(|r| !self.is_expired(r))
            .map(|r| r.text))
    }

    /// Deletes every expired draft and returns how many were deleted.
    /// Unreadable entries are left in place (and only counted in the log);
    /// they never stop the purge.
    pub fn purge_expired(&self) -> Result<usize, DraftError> {
        let _guard = self.lock.lock();
        let mut purged = 0;
        let mut unreadable = 0;
        for key in self.kv.keys(DRAFT_PREFIX)? {
            let Some(value) = optional(self.kv.get(&key))? else {
                continue; // deleted meanwhile by another user of the store
            };
            match parse_record(&key, &value) {
                Ok(record) if key == record_key(&record) => {
                    if self.is_expired(&record) {
                        self.kv.delete(&key)?;
                        purged += 1;
                    }
                }
                _ => unreadable += 1,
            }
        }
        if unreadable > 0 {
            tracing::warn!(unreadable, "unreadable drafts left in place by purge");
        }
        tracing::debug!(purged, "expired drafts purged");
        Ok(purged)
    }

    /// The record under `key`, checked to belong to `(server, room)`.
    fn load(
        &self,
        key: &str,
        server: &ServerId,
        room: &str,
    ) -> Result<Option<DraftRecord>, DraftError> {
        let Some(value) = optional(self.kv.get(key))? else {
            return Ok(None);
        };
        let record = parse_record(key, &value).inspect_err(|_| {
            tracing::warn!(server = %server, value_bytes = value.len(), "stored draft cannot be read");
        })?;
        if record.server != *server || record.room != room {
            tracing::warn!(server = %server, "stored draft names another server or room");
            return Err(DraftError::Corrupt {
                key: key.to_owned(),
            });
        }
        Ok(Some(record))
    }

    /// Whether `record` has reached its TTL: expired from `saved_at + 24h` on.
    fn is_expired(&self, record: &DraftRecord) -> bool {
        self.clock.now() >= record.saved_at.saturating_add(DRAFT_TTL)
    }
}

/// Parses a stored value. The serde error is dropped on purpose: its message
/// can quote the value, which is user text.
fn parse_record(key: &str, value: &str) -> Result<DraftRecord, DraftError> {
    match serde_json::from_str::<DraftRecord>(value) {
        Ok(record) if record.schema_version <= DRAFT_SCHEMA_VERSION => Ok(record),
        _ => Err(DraftError::Corrupt {
            key: key.to_owned(),
        }),
    }
}

/// The storage key of `(server, room)`, after validating the room.
fn draft_key(server: &ServerId, room: &str) -> Result<String, DraftError> {
    if room.is_empty() || room.len() > MAX_ROOM_BYTES {
        return Err(DraftError::InvalidRoom { len: room.len() });
    }
    Ok(format!(
        "{DRAFT_PREFIX}{}.{}",
        hex(server.as_str()),
        hex(room)
    ))
}

/// The key a record belongs under.
fn record_key(record: &DraftRecord) -> String {
    format!(
        "{DRAFT_PREFIX}{}.{}",
        hex(record.server.as_str()),
        hex(&record.room)
    )
}

/// Lowercase hex of the UTF-8 bytes of `s`.
fn hex(s: &str) -> String {
    const DIGITS: &[u8; 16] = b"0123456789abcdef";
    let mut out = String::with_capacity(s.len() * 2);
    for b in s.bytes() {
        out.push(char::from(DIGITS[usize::from(b >> 4)]));
        out.push(char::from(DIGITS[usize::from(b & 0x0f)]));
    }
    out
}

/// The text whose [`hex`] is `h`, or `None` if `h` is not such an encoding.
#[cfg(test)]
fn unhex(h: &str) -> Option<String> {
    if !h.len().is_multiple_of(2) {
        return None;
    }
    let bytes = (0..h.len())
        .step_by(2)
        .map(|i| h.get(i..i + 2).and_then(|p| u8::from_str_radix(p, 16).ok()))
        .collect::<Option<Vec<u8>>>()?;
    String::from_utf8(bytes).ok()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::clock::ManualClock;
    use crate::storage::MemoryStore;

    fn setup() -> (DraftStore, MemoryStore, ManualClock) {
        let kv = MemoryStore::new();
        let clock = ManualClock::at_epoch();
        let store = DraftStore::new(Arc::new(kv.clone()), Arc::new(clock.clone()));
        (store, kv, clock)
    }

    fn server(url: &str) -> ServerId {
        ServerId::parse(url).unwrap()
    }

    fn prod() -> ServerId {
        server("https://prod.example.com")
    }

    #[test]
    fn saved_draft_is_peeked_without_being_deleted() {
        let (store, kv, _) = setup();
        store.save(&prod(), "general", "half a thought").unwrap();
        assert_eq!(
            store.peek(&prod(), "general").unwrap().as_deref(),
            Some("half a thought")
        );
        assert_eq!(
            store.peek(&prod(), "general").unwrap().as_deref(),
            Some("half a thought")
        );
        assert_eq!(kv.len(), 1);
    }

    #[test]
    fn take_returns_the_draft_once_and_deletes_it() {
        let (store, kv, _) = setup();
        store.save(&prod(), "general", "hello").unwrap();
        assert_eq!(
            store.take(&prod(), "general").unwrap().as_deref(),
            Some("hello")
        );
        assert_eq!(store.take(&prod(), "general").unwrap(), None);
        assert!(kv.is_empty());
    }

    #[test]
    fn missing_draft_is_none() {
        let (store, _, _) = setup();
        assert_eq!(store.peek(&prod(), "general").unwrap(), None);
        assert_eq!(store.take(&prod(), "general").unwrap(), None);
    }

    #[test]
    fn saving_again_replaces_the_draft_and_restarts_its_ttl() {
        let (store, _, clock) = setup();
        store.save(&prod(), "r", "first").unwrap();
        clock.advance(Duration::hours(20));
        store.save(&prod(), "r", "second").unwrap();
        clock.advance(Duration::hours(20));
        assert_eq!(store.peek(&prod(), "r").unwrap().as_deref(), Some("second"));
    }

    #[test]
    fn draft_is_readable_one_second_before_the_ttl() {
        let (store, _, clock) = setup();
        store.save(&prod(), "r", "still here").unwrap();
        clock.advance(DRAFT_TTL - Duration::seconds(1));
        assert_eq!(
            store.peek(&prod(), "r").unwrap().as_deref(),
            Some("still here")
        );
        assert_eq!(
            store.take(&prod(), "r").unwrap().as_deref(),
            Some("still here")
        );
    }

    #[test]
    fn draft_is_gone_exactly_at_the_ttl_and_take_deletes_it() {
        let (store, kv, clock) = setup();
        store.save(&prod(), "r", "too late").unwrap();
        clock.advance(DRAFT_TTL);
        assert_eq!(store.peek(&prod(), "r").unwrap(), None);
        assert_eq!(kv.len(), 1, "peek never deletes");
        assert_eq!(store.take(&prod(), "r").unwrap(), None);
        assert!(kv.is_empty(), "an expired draft is deleted by take");
    }

    #[test]
    fn oversize_draft_is_refused_and_the_previous_one_kept() {
        let (store, _, _) = setup();
        store.save(&prod(), "r", "keep me").unwrap();
        let big = "x".repeat(DEFAULT_MAX_DRAFT_BYTES + 1);
        let err = store.save(&prod(), "r", &big).unwrap_err();
        assert_eq!(
            err,
            DraftError::TooLarge {
                size: DEFAULT_MAX_DRAFT_BYTES + 1,
                max: DEFAULT_MAX_DRAFT_BYTES
            }
        );
        assert!(
            !err.to_string().contains("xxxx"),
            "errors never carry the text"
        );
        assert_eq!(
            store.peek(&prod(), "r").unwrap().as_deref(),
            Some("keep me")
        );
    }

    #[test]
    fn cap_counts_utf8_bytes_and_the_exact_cap_is_accepted() {
        let (store, _, _) = setup();
        let store = store.with_max_bytes(8);
        assert_eq!(store.max_bytes(), 8);
        // 4 characters, 9 bytes.
        assert!(matches!(
            store.save(&prod(), "r", "ééé€"),
            Err(DraftError::TooLarge { size: 9, max: 8 })
        ));
        store.save(&prod(), "r", "éé€").unwrap(); // 7 bytes
        store.save(&prod(), "r", "12345678").unwrap(); // exactly 8
        assert_eq!(
            store.take(&prod(), "r").unwrap().as_deref(),
            Some("12345678")
        );
    }

    #[test]
    fn empty_save_deletes_the_draft() {
        let (store, kv, _) = setup();
        store.save(&prod(), "r", "something").unwrap();
        store.save(&prod(), "r", "").unwrap();
        assert!(kv.is_empty());
        assert_eq!(store.peek(&prod(), "r").unwrap(), None);
        store.save(&prod(), "r", "").unwrap(); // deleting nothing succeeds
    }

    #[test]
    fn whitespace_is_user_content_and_kept() {
        let (store, _, _) = setup();
        store.save(&prod(), "r", " \n").unwrap();
        assert_eq!(store.take(&prod(), "r").unwrap().as_deref(), Some(" \n"));
    }

    #[test]
    fn room_must_be_1_to_256_bytes_of_any_text() {
        let (store, kv, _) = setup();
        for room in ["", &"a".repeat(MAX_ROOM_BYTES + 1), &"é".repeat(129)] {
            let len = room.len();
            assert_eq!(
                store.save(&prod(), room, "t"),
                Err(DraftError::InvalidRoom { len })
            );
            assert_eq!(
                store.peek(&prod(), room),
                Err(DraftError::InvalidRoom { len })
            );
            assert_eq!(
                store.take(&prod(), room),
                Err(DraftError::InvalidRoom { len })
            );
        }
        assert!(kv.is_empty());
        let long = "a".repeat(MAX_ROOM_BYTES);
        for room in [
            "x",
            long.as_str(),
            "#général 💬",
            "a.b/c?d=e&f#g",
            "tab\tnew\nline",
            ".",
        ] {
            store.save(&prod(), room, "t").unwrap();
            assert_eq!(
                store.take(&prod(), room).unwrap().as_deref(),
                Some("t"),
                "room {room:?}"
            );
        }
    }

    #[test]
    fn two_servers_same_room_are_independent() {
        let (store, _, _) = setup();
        let staging = server("https://staging.example.com/api");
        store.save(&prod(), "general", "to prod").unwrap();
        store.save(&staging, "general", "to staging").unwrap();
        assert_eq!(
            store.take(&prod(), "general").unwrap().as_deref(),
            Some("to prod")
        );
        assert_eq!(
            store.peek(&staging, "general").unwrap().as_deref(),
            Some("to staging")
        );
        store.save(&staging, "general", "").unwrap();
        assert_eq!(store.peek(&staging, "general").unwrap(), None);
    }

    #[test]
    fn keys_are_ascii_and_decode_back_to_server_and_room() {
        let (store, kv, _) = setup();
        store.save(&prod(), "a.b 💬/é", "t").unwrap();
        let keys = kv.all_keys();
        assert_eq!(keys.len(), 1);
        let key = &keys[0];
        assert!(
            key.is_ascii() && !key.contains(['/', '?', '#', '%', ' ']),
            "{key}"
        );
        let rest = key.strip_prefix(DRAFT_PREFIX).unwrap();
        let (s, r) = rest.split_once('.').unwrap();
        assert_eq!(unhex(s).as_deref(), Some(prod().as_str()));
        assert_eq!(unhex(r).as_deref(), Some("a.b 💬/é"));
    }

    #[test]
    fn record_is_versioned_json_with_rfc3339_saved_at() {
        let (store, kv, _) = setup();
        store.save(&prod(), "r", "body").unwrap();
        let key = draft_key(&prod(), "r").unwrap();
        let value = KeyValueStore::get(&kv, &key).unwrap();
        let json: serde_json::Value = serde_json::from_str(&value).unwrap();
        assert_eq!(
            json,
            serde_json::json!({
                "schema_version": 1,
                "server": "https://prod.example.com/",
                "room": "r",
                "text": "body",
                "saved_at": "2026-01-01T00:00:00Z",
            })
        );
    }

    #[test]
    fn purge_deletes_only_expired_drafts_and_counts_them() {
        let (store, kv, clock) = setup();
        let staging = server("https://staging.example.com");
        store.save(&prod(), "old-1", "a").unwrap();
        store.save(&staging, "old-2", "b").unwrap();
        clock.advance(Duration::hours(12));
        store.save(&prod(), "young", "c").unwrap();
        assert_eq!(store.purge_expired().unwrap(), 0);
        clock.advance(Duration::hours(12));
        assert_eq!(store.purge_expired().unwrap(), 2);
        assert_eq!(kv.len(), 1);
        assert_eq!(store.peek(&prod(), "young").unwrap().as_deref(), Some("c"));
        assert_eq!(store.purge_expired().unwrap(), 0);
        clock.advance(Duration::hours(12));
        assert_eq!(store.purge_expired().unwrap(), 1);
        assert!(kv.is_empty());
    }

    #[test]
    fn purge_leaves_unreadable_drafts_and_other_keys_alone() {
        let (store, kv, clock) = setup();
        store.save(&prod(), "r", "a").unwrap();
        KeyValueStore::set(&kv, "authstate.server.prod", "{}").unwrap();
        KeyValueStore::set(&kv, &draft_key(&prod(), "bad").unwrap(), "not json").unwrap();
        clock.advance(DRAFT_TTL);
        assert_eq!(store.purge_expired().unwrap(), 1);
        assert_eq!(kv.len(), 2);
    }

    #[test]
    fn corrupt_value_is_a_corrupt_error_not_a_panic() {
        let (store, kv, _) = setup();
        let key = draft_key(&prod(), "r").unwrap();
        for bad in [
            "",
            "not json",
            "{}",
            "[1,2]",
            r#"{"schema_version":1,"text":"t"}"#,
        ] {
            KeyValueStore::set(&kv, &key, bad).unwrap();
            assert_eq!(
                store.peek(&prod(), "r"),
                Err(DraftError::Corrupt { key: key.clone() }),
                "{bad:?}"
            );
            assert_eq!(
                store.take(&prod(), "r"),
                Err(DraftError::Corrupt { key: key.clone() }),
                "{bad:?}"
            );
            assert_eq!(kv.len(), 1, "a corrupt entry is left in place");
        }
        store.save(&prod(), "r", "fresh").unwrap();
        assert_eq!(store.take(&prod(), "r").unwrap().as_deref(), Some("fresh"));
    }

    #[test]
    fn record_under_another_key_or_from_a_newer_schema_is_corrupt() {
        let (store, kv, _) = setup();
        store.save(&prod(), "a", "text").unwrap();
        let a = draft_key(&prod(), "a").unwrap();
        let b = draft_key(&prod(), "b").unwrap();
        let value = KeyValueStore::get(&kv, &a).unwrap();
        KeyValueStore::set(&kv, &b, &value).unwrap();
        assert_eq!(
            store.peek(&prod(), "b"),
            Err(DraftError::Corrupt { key: b })
        );
        KeyValueStore::set(
            &kv,
            &a,
            &value.replace("\"schema_version\":1", "\"schema_version\":2"),
        )
        .unwrap();
        assert_eq!(
            store.take(&prod(), "a"),
            Err(DraftError::Corrupt { key: a })
        );
    }

    #[test]
    fn unavailable_storage_is_an_error_not_no_draft() {
        let (store, kv, _) = setup();
        store.save(&prod(), "r", "safe").unwrap();
        kv.set_unavailable(true);
        let unavailable = |r: Result<_, DraftError>| {
            matches!(r, Err(DraftError::Storage(StorageError::Unavailable(_))))
        };
        assert!(unavailable(store.peek(&prod(), "r").map(drop)));
        assert!(unavailable(store.take(&prod(), "r").map(drop)));
        assert!(unavailable(store.save(&prod(), "r", "new")));
        assert!(unavailable(store.save(&prod(), "r", "")));
        assert!(unavailable(store.purge_expired().map(drop)));
        kv.set_unavailable(false);
        assert_eq!(store.take(&prod(), "r").unwrap().as_deref(), Some("safe"));
    }

    /// A store whose deletes fail while reads work (a keychain locking mid-call).
    struct DeleteFails(MemoryStore);

    impl KeyValueStore for DeleteFails {
        fn get(&self, key: &str) -> Result<String, StorageError> {
            KeyValueStore::get(&self.0, key)
        }
        fn set(&self, key: &str, value: &str) -> Result<(), StorageError> {
            KeyValueStore::set(&self.0, key, value)
        }
        fn delete(&self, _key: &str) -> Result<(), StorageError> {
            Err(StorageError::Unavailable("delete refused".into()))
        }
        fn keys(&self, prefix: &str) -> Result<Vec<String>, StorageError> {
            self.0.keys(prefix)
        }
    }

    #[test]
    fn take_whose_delete_fails_keeps_the_draft_and_returns_the_error() {
        let kv = MemoryStore::new();
        let store = DraftStore::new(
            Arc::new(DeleteFails(kv.clone())),
            Arc::new(ManualClock::at_epoch()),
        );
        store.save(&prod(), "r", "once").unwrap();
        assert!(matches!(
            store.take(&prod(), "r"),
            Err(DraftError::Storage(StorageError::Unavailable(_)))
        ));
        assert_eq!(store.peek(&prod(), "r").unwrap().as_deref(), Some("once"));
    }

    #[test]
    fn clones_share_drafts_and_debug_shows_no_text() {
        let (store, _, _) = setup();
        let other = store.clone();
        store.save(&prod(), "r", "secret words").unwrap();
        assert_eq!(
            other.take(&prod(), "r").unwrap().as_deref(),
            Some("secret words")
        );
        assert!(!format!("{store:?}").contains("secret"));
    }

    #[test]
    fn hex_round_trips_and_rejects_non_hex() {
        for s in ["", "abc", "é💬\0.", "https://x.example/"] {
            assert_eq!(unhex(&hex(s)).as_deref(), Some(s));
        }
        assert_eq!(unhex("abc"), None);
        assert_eq!(unhex("zz"), None);
        assert_eq!(unhex("ff"), None, "not UTF-8");
    }
}
