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
    /// Fails, rather than mapping a file with no blocks behind it, when the
    /// disk is too full to give the counter real storage: a store through
    /// a mapping of a sparse file on a full disk kills the process (SIGBUS).
    pub(crate) fn open(path: &Path) -> std::io::Result<Self> {
        create_allocated(path)?;
        let file = super::super::storage::flock::open_lock_file(path)?;
        allocate(&file)?;
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

/// Creates the counter file with its zeros already written, so that no
/// opener ever sees it short: written under a unique name, then linked into
/// place (a concurrent creator's file wins; both are zeros).
fn create_allocated(path: &Path) -> std::io::Result<()> {
    if path.exists() {
        return Ok(());
    }
    let unique = format!(
        "{}.tmp-{}-{}",
        path.file_name().and_then(|n| n.to_str()).unwrap_or("changes"),
        std::process::id(),
        rand::random::<u32>()
    );
    let temp = path.with_file_name(unique);
    let written = (|| {
        let file = super::super::storage::flock::open_lock_file(&temp)?;
        std::io::Write::write_all(&mut &file, &[0_u8; FILE_SIZE as usize])?;
        file.sync_data()
    })();
    let linked = written.map(|()| std::fs::hard_link(&temp, path));
    let _ = std::fs::remove_file(&temp);
    match linked? {
        Ok(()) => Ok(()),
        Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => Ok(()),
        // A file system without hard links: `allocate` completes the file
        // `open_lock_file` creates empty. Two first openers racing there can
        // reset a count made in that instant: one missed change notice.
        Err(e) => {
            tracing::debug!(error = %e, "the change counter file is created in place");
            Ok(())
        }
    }
}

/// Gives the file `FILE_SIZE` bytes of real storage without touching the
/// counter: it extends a short file with written zeros, and writes the
/// unused tail of a sparse one (left by a version that only set its length).
/// Never shrinks it: a concurrent opener may already have counted.
fn allocate(file: &File) -> std::io::Result<()> {
    let meta = file.metadata()?;
    #[cfg(unix)]
    let sparse = std::os::unix::fs::MetadataExt::blocks(&meta) == 0;
    #[cfg(not(unix))]
    let sparse = false;
    let counter = std::mem::size_of::<u64>() as u64;
    let from = if meta.len() < counter { 0 } else { counter };
    if meta.len() < FILE_SIZE || sparse {
        write_zeros_at(file, from, FILE_SIZE - from)?;
        file.sync_data()?;
    }
    Ok(())
}

#[cfg(unix)]
fn write_zeros_at(file: &File, offset: u64, len: u64) -> std::io::Result<()> {
    std::os::unix::fs::FileExt::write_all_at(file, &vec![0_u8; len as usize], offset)
}

#[cfg(windows)]
fn write_zeros_at(file: &File, offset: u64, len: u64) -> std::io::Result<()> {
    let zeros = vec![0_u8; len as usize];
    let mut done = 0;
    while done < zeros.len() {
        done += std::os::windows::fs::FileExt::seek_write(file, &zeros[done..], offset + done as u64)?;
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

    #[cfg(unix)]
    fn blocks(path: &Path) -> u64 {
        std::os::unix::fs::MetadataExt::blocks(&std::fs::metadata(path).unwrap())
    }

    #[cfg(unix)]
    #[test]
    fn the_counter_file_has_real_storage_before_it_is_mapped() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("changes");
        drop(ChangeCounter::open(&path).unwrap());
        assert!(blocks(&path) > 0, "created with written zeros, never sparse");
        assert_eq!(std::fs::read_dir(dir.path()).unwrap().count(), 1, "no temporary file left");

        // A sparse file an older version left (set_len on a full disk).
        let sparse = dir.path().join("sparse");
        std::fs::File::create(&sparse).unwrap().set_len(FILE_SIZE).unwrap();
        if blocks(&sparse) == 0 {
            drop(ChangeCounter::open(&sparse).unwrap());
            assert!(blocks(&sparse) > 0, "allocated before mapping");
        }
        let short = dir.path().join("short");
        std::fs::write(&short, 7_u64.to_ne_bytes()).unwrap();
        let counter = ChangeCounter::open(&short).unwrap();
        assert_eq!(
            (counter.current(), std::fs::metadata(&short).unwrap().len()),
            (7, FILE_SIZE),
            "extended, count kept"
        );
    }
}
