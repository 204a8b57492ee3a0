//! The refresh journal: what a server's lease holder was doing, kept in the
//! lease file itself, so that the next holder — another process, or this
//! one after a crash — knows.
//!
//! The file is written in full (zeros) once, when there is room, and from
//! then on only overwritten in place: a full disk can still take a journal
//! entry, which is how rotated tokens survive a store that cannot save them
//! (DESIGN.md invariant 13). Two fixed slots with a sequence number and a
//! CRC each, written alternately and synced: a write torn by a crash leaves
//! the previous entry readable.

use std::fs::File;

use serde::{Deserialize, Serialize};

use crate::model::{ExpiryReason, StateKind};
use crate::storage::schema::{StoredShape, TokensRecord};

const MAGIC: &[u8; 4] = b"ASJ1";
const HEADER: usize = 4 + 8 + 4 + 4;
/// One slot: header and payload.
const SLOT: usize = 16 * 1024;
/// The whole file: two slots.
pub(crate) const JOURNAL_SIZE: u64 = 2 * SLOT as u64;

/// One journal entry.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "entry", rename_all = "snake_case")]
pub(crate) enum JournalEntry {
    /// Nothing in progress.
    Idle,
    /// The refresh token of the tokens with serial `token_serial` was (about
    /// to be) presented by process `pid` at `since_unix`.
    Refreshing {
        /// The serial of the tokens whose refresh token was presented.
        token_serial: u64,
        /// When, in Unix seconds.
        since_unix: i64,
        /// Which process.
        pid: u32,
        /// A state the stores had not taken when the refresh began, carried
        /// over from the entry this one replaced: a refresh that fails
        /// transiently, or a process killed mid-refresh, must not lose it.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        unsaved: Option<UnsavedState>,
    },
    /// A session state the stores could not take yet; it supersedes stored
    /// state older than `serial`. Holds tokens only where the lock directory
    /// is as private as the secret store.
    Unsaved(UnsavedState),
}

impl JournalEntry {
    /// The state waiting to be saved, whether on its own or carried by a
    /// refresh in progress.
    pub(crate) fn unsaved(&self) -> Option<&UnsavedState> {
        match self {
            Self::Unsaved(unsaved) | Self::Refreshing { unsaved: Some(unsaved), .. } => Some(unsaved),
            _ => None,
        }
    }

    /// This entry once the stores took its unsaved state: a refresh in
    /// progress stays on record (its answer may still be lost), the state
    /// goes.
    pub(crate) fn spent(self) -> Self {
        match self {
            Self::Refreshing { token_serial, since_unix, pid, .. } => {
                Self::Refreshing { token_serial, since_unix, pid, unsaved: None }
            }
            _ => Self::Idle,
        }
    }
}

/// A session state waiting to be saved.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub(crate) struct UnsavedState {
    /// What the stores held when it was written: it supersedes exactly that,
    /// and is stale as soon as the stores hold anything else.
    pub(crate) based_on: StoredShape,
    /// Its case.
    pub(crate) session: StateKind,
    /// Why it expired, in `Expired`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub(crate) expiry_reason: Option<ExpiryReason>,
    /// Its tokens, in `Active` and `Expired`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub(crate) tokens: Option<TokensRecord>,
}

/// Makes sure the file has its full size in real blocks. Returns false when
/// it could not (a full disk): the journal is then unusable for now.
pub(crate) fn preallocate(file: &File) -> bool {
    match file.metadata() {
        Ok(m) if m.len() >= JOURNAL_SIZE => true,
        Ok(_) => write_at(file, &vec![0_u8; JOURNAL_SIZE as usize], 0).and_then(|()| file.sync_data()).is_ok(),
        Err(_) => false,
    }
}

/// The newest intact entry, if any.
pub(crate) fn read(file: &File) -> Option<JournalEntry> {
    newest(file).and_then(|(_, _, payload)| serde_json::from_slice(&payload).ok())
}

/// Overwrites the older slot with `entry` and syncs. Fails when the entry
/// does not fit, the file is not preallocated, or the write fails.
pub(crate) fn write(file: &File, entry: &JournalEntry) -> std::io::Result<()> {
    let payload = serde_json::to_vec(entry).map_err(std::io::Error::other)?;
    if payload.len() > SLOT - HEADER {
        return Err(std::io::Error::other("journal entry larger than a slot"));
    }
    if !preallocate(file) {
        return Err(std::io::Error::other("journal file could not be allocated"));
    }
    let (slot, seq) = match newest(file) {
        Some((slot, seq, _)) => (1 - slot, seq.wrapping_add(1)),
        None => (0, 1),
    };
    let mut block = Vec::with_capacity(SLOT);
    block.extend_from_slice(MAGIC);
    block.extend_from_slice(&seq.to_le_bytes());
    block.extend_from_slice(&(payload.len() as u32).to_le_bytes());
    block.extend_from_slice(&crc32fast::hash(&payload).to_le_bytes());
    block.extend_from_slice(&payload);
    block.resize(SLOT, 0);
    write_at(file, &block, (slot * SLOT) as u64)?;
    file.sync_data()
}

/// (slot index, sequence, payload) of the newest intact slot.
fn newest(file: &File) -> Option<(usize, u64, Vec<u8>)> {
    (0..2).filter_map(|slot| read_slot(file, slot).map(|(seq, payload)| (slot, seq, payload))).max_by_key(|s| s.1)
}

fn read_slot(file: &File, slot: usize) -> Option<(u64, Vec<u8>)> {
    let mut block = vec![0_u8; SLOT];
    read_exact_at(file, &mut block, (slot * SLOT) as u64).ok()?;
    if &block[..4] != MAGIC {
        return None;
    }
    let seq = u64::from_le_bytes(block[4..12].try_into().ok()?);
    let len = u32::from_le_bytes(block[12..16].try_into().ok()?) as usize;
    let crc = u32::from_le_bytes(block[16..20].try_into().ok()?);
    let payload = block.get(HEADER..HEADER.checked_add(len)?)?;
    (crc32fast::hash(payload) == crc).then(|| (seq, payload.to_vec()))
}

#[cfg(unix)]
fn write_at(file: &File, bytes: &[u8], offset: u64) -> std::io::Result<()> {
    std::os::unix::fs::FileExt::write_all_at(file, bytes, offset)
}

#[cfg(unix)]
fn read_exact_at(file: &File, bytes: &mut [u8], offset: u64) -> std::io::Result<()> {
    std::os::unix::fs::FileExt::read_exact_at(file, bytes, offset)
}

#[cfg(windows)]
fn write_at(file: &File, mut bytes: &[u8], mut offset: u64) -> std::io::Result<()> {
    while !bytes.is_empty() {
        let n = std::os::windows::fs::FileExt::seek_write(file, bytes, offset)?;
        bytes = &bytes[n..];
        offset += n as u64;
    }
    Ok(())
}

#[cfg(windows)]
fn read_exact_at(file: &File, mut bytes: &mut [u8], mut offset: u64) -> std::io::Result<()> {
    while !bytes.is_empty() {
        let n = std::os::windows::fs::FileExt::seek_read(file, bytes, offset)?;
        if n == 0 {
            return Err(std::io::ErrorKind::UnexpectedEof.into());
        }
        bytes = &mut bytes[n..];
        offset += n as u64;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn journal() -> (tempfile::TempDir, File) {
        let dir = tempfile::tempdir().unwrap();
        let file = crate::storage::flock::open_lock_file(&dir.path().join("api.lease")).unwrap();
        (dir, file)
    }

    #[test]
    fn the_newest_entry_wins_and_slots_alternate() {
        let (_dir, file) = journal();
        assert_eq!(read(&file), None);
        write(&file, &JournalEntry::Refreshing { token_serial: 3, since_unix: 10, pid: 1, unsaved: None }).unwrap();
        write(&file, &JournalEntry::Idle).unwrap();
        assert_eq!(read(&file), Some(JournalEntry::Idle));
        assert_eq!(file.metadata().unwrap().len(), JOURNAL_SIZE);
    }

    #[test]
    fn a_torn_write_leaves_the_previous_entry() {
        let (_dir, file) = journal();
        let first = JournalEntry::Refreshing { token_serial: 3, since_unix: 10, pid: 1, unsaved: None };
        write(&file, &first).unwrap();
        write(&file, &JournalEntry::Idle).unwrap();
        // Tear the newer slot (slot 1): its payload no longer matches its CRC.
        write_at(&file, b"xx", (SLOT + HEADER) as u64).unwrap();
        assert_eq!(read(&file), Some(first));
    }

    #[test]
    fn an_entry_larger_than_a_slot_is_refused() {
        let (_dir, file) = journal();
        let huge = UnsavedState {
            based_on: StoredShape::SIGNED_OUT,
            session: StateKind::NoSession,
            expiry_reason: None,
            tokens: Some(TokensRecord {
                schema_version: 1,
                provider: crate::model::ProviderKind::Oidc,
                serial: 1,
                tokens: crate::model::Tokens::from_grant(
                    crate::model::TokenGrant::access_only("x".repeat(SLOT)),
                    time::OffsetDateTime::UNIX_EPOCH,
                ),
            }),
        };
        assert!(write(&file, &JournalEntry::Unsaved(huge)).is_err());
        assert_eq!(read(&file), None);
    }
}
