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

use crate::clock::{SharedClock, is_storable};
use crate::model::ServerId;
use crate::storage::{KeyValueStore, StorageError, optional};

/// How long a saved draft stays readable: 24 hours from its last save.
pub const DRAFT_TTL: Duration = Duration::hours(24);

/// The default size cap of one draft: 64 KiB of UTF-8.
pub const DEFAULT_MAX_DRAFT_BYTES: usize = 64 * 1024;

/// The default cap on how many drafts a store keeps: saving one more evicts
/// the oldest (expired ones first), reported by [`DraftStore::take_evictions`].
pub const DEFAULT_MAX_DRAFTS: usize = 200;

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
    /// The clock reads a time a draft cannot be dated with (outside
    /// [`STORABLE_YEARS`](crate::clock::STORABLE_YEARS)). Nothing was saved and the previous draft is
    /// unchanged; fix the clock.
    #[error("the clock reads year {year}, outside the years 1 to 9999 a draft can be dated in; nothing was saved")]
    ClockOutOfRange {
        /// The clock's year (UTC).
        year: i32,
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
    max_drafts: usize,
    lock: Arc<Mutex<()>>,
    evictions: Arc<Mutex<Vec<EvictedDraft>>>,
}

/// A draft the count cap evicted to make room for a newer one.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EvictedDraft {
    /// Its server.
    pub server: ServerId,
    /// Its room.
    pub room: String,
    /// When it was last saved.
    pub saved_at: OffsetDateTime,
}

impl fmt::Debug for DraftStore {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("DraftStore")
            .field("max_bytes", &self.max_bytes)
            .field("max_drafts", &self.max_drafts)
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
            max_drafts: DEFAULT_MAX_DRAFTS,
            lock: Arc::new(Mutex::new(())),
            evictions: Arc::default(),
        }
    }

    /// The same store keeping at most `max_drafts` drafts (at least 1).
    pub fn with_max_drafts(mut self, max_drafts: usize) -> Self {
        self.max_drafts = max_drafts.max(1);
        self
    }

    /// The drafts the count cap evicted since the last call, oldest first
    /// (each also logged at `warn`). Show them, or save them elsewhere.
    pub fn take_evictions(&self) -> Vec<EvictedDraft> {
        std::mem::take(&mut *self.evictions.lock())
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
            return Err(DraftError::TooLarge { size: text.len(), max: self.max_bytes });
        }
        let now = self.clock.now();
        if !is_storable(now) {
            tracing::warn!(server = %server, year = now.year(), "draft not saved: the clock is out of range");
            return Err(DraftError::ClockOutOfRange { year: now.year() });
        }
        let record = DraftRecord {
            schema_version: DRAFT_SCHEMA_VERSION,
            server: server.clone(),
            room: room.to_owned(),
            text: text.to_owned(),
            saved_at: now,
        };
        // Serialising plain strings and a UTC time cannot fail; map it anyway
        // rather than panic.
        let value = serde_json::to_string(&record).map_err(|_| DraftError::Corrupt { key: key.clone() })?;
        let _guard = self.lock.lock();
        self.make_room_for(&key)?;
        self.kv.set(&key, &value)?;
        tracing::debug!(server = %server, size = text.len(), "draft saved");
        Ok(())
    }

    /// Below the count cap, or a draft under `key` already: nothing to do.
    /// Otherwise deletes expired drafts, then the oldest, until one more fits.
    fn make_room_for(&self, key: &str) -> Result<(), DraftError> {
        let keys = self.kv.keys(DRAFT_PREFIX)?;
        if keys.len() < self.max_drafts || keys.iter().any(|k| k == key) {
            return Ok(());
        }
        let mut drafts: Vec<(String, Option<DraftRecord>)> = Vec::with_capacity(keys.len());
        for k in keys {
            if let Some(value) = optional(self.kv.get(&k))? {
                drafts.push((k.clone(), parse_record(&k, &value).ok()));
            }
        }
        // Expired first (nothing lost), then unreadable entries, then the oldest readable.
        drafts.sort_by_key(|(_, r)| match r {
            Some(r) if self.is_expired(r) => (0, r.saved_at),
            None => (1, OffsetDateTime::UNIX_EPOCH),
            Some(r) => (2, r.saved_at),
        });
        let excess = drafts.len() + 1 - self.max_drafts;
        for (k, record) in drafts.into_iter().take(excess) {
            self.kv.delete(&k)?;
            match record {
                Some(r) if !self.is_expired(&r) => {
                    tracing::warn!(server = %r.server, max = self.max_drafts, "oldest draft evicted by the count cap");
                    self.evictions.lock().push(EvictedDraft { server: r.server, room: r.room, saved_at: r.saved_at });
                }
                _ => {}
            }
        }
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
        Ok(self.load(&key, server, room)?.filter(|r| !self.is_expired(r)).map(|r| r.text))
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
    fn load(&self, key: &str, server: &ServerId, room: &str) -> Result<Option<DraftRecord>, DraftError> {
        let Some(value) = optional(self.kv.get(key))? else {
            return Ok(None);
        };
        let record = parse_record(key, &value).inspect_err(|_| {
            tracing::warn!(server = %server, value_bytes = value.len(), "stored draft cannot be read");
        })?;
        if record.server != *server || record.room != room {
            tracing::warn!(server = %server, "stored draft names another server or room");
            return Err(DraftError::Corrupt { key: key.to_owned() });
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
        _ => Err(DraftError::Corrupt { key: key.to_owned() }),
    }
}

/// The storage key of `(server, room)`, after validating the room.
fn draft_key(server: &ServerId, room: &str) -> Result<String, DraftError> {
    if room.is_empty() || room.len() > MAX_ROOM_BYTES {
        return Err(DraftError::InvalidRoom { len: room.len() });
    }
    Ok(format!("{DRAFT_PREFIX}{}.{}", hex(server.as_str()), hex(room)))
}

/// The key a record belongs under.
fn record_key(record: &DraftRecord) -> String {
    format!("{DRAFT_PREFIX}{}.{}", hex(record.server.as_str()), hex(&record.room))
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
#[path = "drafts_tests.rs"]
mod tests;
