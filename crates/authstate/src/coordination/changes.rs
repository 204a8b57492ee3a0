//! The change counter: one 64-bit number in a file of the lock directory,
//! mapped into every process that shares the stores.
//!
//! Every persisted change of a session or of the server list bumps it; a
//! process that sees it move since it last looked re-reads the stores
//! (DESIGN.md invariant 14). Reading it is a memory load, so the token fast
//! path can check it without I/O (invariant 9).

use std::fs::File;
use std::path::Path;
use std::ptr::NonNull;
use std::sync::atomic::{AtomicU64, Ordering};

use memmap2::MmapMut;

/// The file's size: one page-friendly block; the counter is its first 8 bytes.
const FILE_SIZE: u64 = 64;

/// The shared counter. Cheap to read from any thread.
pub(crate) struct ChangeCounter {
    /// Keeps the mapping alive for as long as `cell` is used.
    _map: MmapMut,
    cell: NonNull<AtomicU64>,
}

// SAFETY: `cell` points into `_map`, which lives as long as `self` and is
// only ever accessed through the atomic, from any thread or process.
unsafe impl Send for ChangeCounter {}
// SAFETY: as above; `AtomicU64` is `Sync`.
unsafe impl Sync for ChangeCounter {}

impl ChangeCounter {
    /// Maps the counter file at `path`, creating it (zeroed) if needed.
    pub(crate) fn open(path: &Path) -> std::io::Result<Self> {
        let file = super::super::storage::flock::open_lock_file(path)?;
        grow(&file)?;
        // SAFETY: the file is ours (0600, in the lock directory); other
        // processes change it only through the same atomic, and it is never
        // truncated below FILE_SIZE, so the mapping stays valid.
        let mut map = unsafe { MmapMut::map_mut(&file)? };
        if map.len() < std::mem::size_of::<u64>() {
            return Err(std::io::Error::other("change counter file too short"));
        }
        // A mapping starts on a page boundary, so the first 8 bytes are aligned for AtomicU64.
        let ptr = map.as_mut_ptr().cast::<u64>();
        if ptr.align_offset(std::mem::align_of::<AtomicU64>()) != 0 {
            return Err(std::io::Error::other("change counter mapping is misaligned"));
        }
        // SAFETY: aligned, in bounds, valid for the mapping's lifetime, and
        // only accessed atomically.
        let cell = NonNull::from(unsafe { AtomicU64::from_ptr(ptr) });
        Ok(Self { _map: map, cell })
    }

    fn cell(&self) -> &AtomicU64 {
        // SAFETY: see `open`; the mapping outlives this borrow of `self`.
        unsafe { self.cell.as_ref() }
    }

    /// The current value.
    pub(crate) fn current(&self) -> u64 {
        self.cell().load(Ordering::Acquire)
    }

    /// Adds one and returns the new value.
    pub(crate) fn bump(&self) -> u64 {
        self.cell().fetch_add(1, Ordering::AcqRel).wrapping_add(1)
    }
}

/// Extends the file to `FILE_SIZE` (never shrinks it: a concurrent opener
/// may already have counted).
fn grow(file: &File) -> std::io::Result<()> {
    if file.metadata()?.len() < FILE_SIZE {
        file.set_len(FILE_SIZE)?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn two_mappings_of_one_file_share_the_count() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("changes");
        let a = ChangeCounter::open(&path).unwrap();
        let b = ChangeCounter::open(&path).unwrap();
        assert_eq!(a.current(), 0);
        assert_eq!(a.bump(), 1);
        assert_eq!(b.current(), 1);
        assert_eq!(b.bump(), 2);
        drop(a);
        assert_eq!(ChangeCounter::open(&path).unwrap().current(), 2, "it survives every mapping");
    }
}
