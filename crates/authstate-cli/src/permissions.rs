//! Who may read and write the store directory: it must be the user's own
//! and private (0700), and every file the CLI and the core keep in it
//! (`state.json`, `secrets.json`, `secret-store`, the refresh journals
//! `<alias>.lease`, the lock files, copies moved aside as corrupt) the
//! user's own and 0600.
//!
//! Guarantees (Unix; elsewhere these checks pass): checked before anything
//! is read, under a directory already made private, so nobody else can swap
//! a file between the check and the read.
//! - The user's own directory or file that is too open is tightened, with
//!   one `warning:` line naming it, its old mode and its new one.
//! - A directory or file owned by another user, a symbolic link owned by
//!   another user or leading to their file, and a file that other users can
//!   write are refused (exit 7) and left as they are: tokens and server
//!   settings are never read from a file someone else owns or could have
//!   written (like OpenSSH with a private key). A refresh journal counts as
//!   read: the next command adopts what it holds.

use std::path::Path;

use crate::exit::CliError;

/// What a file in the store directory is to the CLI, which decides how a
/// loose one is treated.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FileRole {
    /// Read at open (`state.json`, `secrets.json`, `secret-store`, the
    /// refresh journals): refused when another user owns it or can write it.
    Read,
    /// A lock file or the change counter: never holds a secret nor a state;
    /// refused when another user owns it, tightened otherwise.
    Lock,
    /// A copy moved aside as corrupt: never read again, but it may hold
    /// tokens; tightened when ours, left alone otherwise.
    Kept,
}

/// The files the CLI reads in the store directory, checked at every open.
pub const READ_FILES: [&str; 3] = ["state.json", "secrets.json", crate::secrets::RECORD_FILE];

/// The files the core locks (or maps) in the store directory, which is also
/// its lock directory: the commit lock, the change counter, the file stores' locks.
pub const LOCK_FILES: [&str; 4] = ["authstate.lock", "authstate.changes", "state.json.lock", "secrets.json.lock"];

/// A server's refresh lease and journal is `<alias>.lease`.
const JOURNAL_SUFFIX: &str = ".lease";

/// Checks (and, where it is the user's own, tightens) the store directory `dir`.
pub fn check_dir(dir: &Path) -> Result<(), CliError> {
    imp::check_dir(dir)
}

/// Checks (and, where it is the user's own, tightens) the file `path`, whose
/// role is `role`. A missing file passes.
pub fn check_file(path: &Path, role: FileRole) -> Result<(), CliError> {
    imp::check_file(path, role)
}

/// Checks every file the CLI and the core keep in `dir`: the ones read at
/// open, the refresh journals, the lock files, and the corrupt copies moved
/// aside there.
pub fn check_store_files(dir: &Path) -> Result<(), CliError> {
    for name in READ_FILES {
        check_file(&dir.join(name), FileRole::Read)?;
    }
    for name in LOCK_FILES {
        check_file(&dir.join(name), FileRole::Lock)?;
    }
    let Ok(entries) = std::fs::read_dir(dir) else { return Ok(()) };
    for entry in entries.flatten() {
        let name = entry.file_name();
        let name = name.to_string_lossy();
        if name.ends_with(JOURNAL_SUFFIX) {
            check_file(&entry.path(), FileRole::Read)?;
        } else if READ_FILES.iter().any(|kept| name.starts_with(&format!("{kept}.corrupt-"))) {
            check_file(&entry.path(), FileRole::Kept)?;
        }
    }
    Ok(())
}

#[cfg(unix)]
mod imp {
    use std::fs::{self, Metadata, Permissions};
    use std::io::ErrorKind;
    use std::os::unix::fs::{MetadataExt, PermissionsExt};
    use std::path::Path;

    use super::FileRole;
    use crate::exit::CliError;
    use crate::output::say;

    /// Bits that let other users in: group and other, read, write or execute.
    const OPEN_TO_OTHERS: u32 = 0o077;
    /// Bits that let other users change a file's content.
    const WRITABLE_BY_OTHERS: u32 = 0o022;

    fn my_uid() -> u32 {
        // SAFETY: geteuid has no preconditions, cannot fail and touches no memory of ours.
        unsafe { libc::geteuid() }
    }

    fn mode_of(meta: &Metadata) -> u32 {
        meta.mode() & 0o7777
    }

    pub(super) fn check_dir(dir: &Path) -> Result<(), CliError> {
        // The directory may be a symbolic link (a data directory elsewhere):
        // what counts is the directory it leads to.
        let meta = fs::metadata(dir)
            .map_err(|e| CliError::storage(format!("cannot inspect the store directory {}: {e}", dir.display())))?;
        if !meta.is_dir() {
            return Err(CliError::storage(format!("the store directory {} is not a directory", dir.display()))
                .with_hint("pass another --store-dir"));
        }
        let me = my_uid();
        if meta.uid() != me {
            return Err(CliError::storage(format!(
                "the store directory {} belongs to uid {}, not to you (uid {me}); authstate does not use it",
                dir.display(),
                meta.uid()
            ))
            .with_hint(
                "use a directory of your own (--store-dir DIR), or make this one yours (chown) and private (chmod 700)",
            ));
        }
        let mode = mode_of(&meta);
        if mode & OPEN_TO_OTHERS != 0 {
            tighten(dir, "the store directory ", mode, mode & !OPEN_TO_OTHERS)?;
        }
        Ok(())
    }

    pub(super) fn check_file(path: &Path, role: FileRole) -> Result<(), CliError> {
        let link = match fs::symlink_metadata(path) {
            Ok(meta) => meta,
            Err(e) if e.kind() == ErrorKind::NotFound => return Ok(()),
            Err(e) => return Err(CliError::storage(format!("cannot inspect {}: {e}", path.display()))),
        };
        let me = my_uid();
        let meta = if link.file_type().is_symlink() {
            if link.uid() != me {
                return refuse(
                    role,
                    format!("{} is a symbolic link owned by uid {}, not by you (uid {me})", path.display(), link.uid()),
                    path,
                );
            }
            match fs::metadata(path) {
                Ok(target) => target,
                // A dangling link of ours: nothing to read; a write replaces it.
                Err(e) if e.kind() == ErrorKind::NotFound => return Ok(()),
                Err(e) => return Err(CliError::storage(format!("cannot inspect {}: {e}", path.display()))),
            }
        } else {
            link
        };
        if !meta.is_file() {
            return refuse(role, format!("{} is not a regular file", path.display()), path);
        }
        if meta.uid() != me {
            return refuse(
                role,
                format!("{} belongs to uid {}, not to you (uid {me})", path.display(), meta.uid()),
                path,
            );
        }
        let mode = mode_of(&meta);
        if role == FileRole::Read && mode & WRITABLE_BY_OTHERS != 0 {
            return Err(CliError::storage(format!(
                "{} is writable by other users (mode {mode:04o}); authstate does not read it",
                path.display()
            ))
            .with_hint(format!(
                "if you trust its content, run `chmod 600 {}`; otherwise delete it (and sign in again)",
                path.display()
            )));
        }
        if mode & OPEN_TO_OTHERS != 0 {
            tighten(path, "", mode, mode & !OPEN_TO_OTHERS & !0o111)?;
        }
        Ok(())
    }

    /// A file of someone else's: refused, unless it is a copy the CLI never reads.
    fn refuse(role: FileRole, why: String, path: &Path) -> Result<(), CliError> {
        if role == FileRole::Kept {
            return Ok(());
        }
        Err(CliError::storage(format!("{why}; authstate does not use it")).with_hint(format!(
            "if you trust its content, replace {} with a copy of your own (cp, then chmod 600); otherwise delete it (and sign in again)",
            path.display()
        )))
    }

    /// Sets `path` to `new` and says so in one line.
    fn tighten(path: &Path, what: &str, old: u32, new: u32) -> Result<(), CliError> {
        fs::set_permissions(path, Permissions::from_mode(new)).map_err(|e| {
            CliError::storage(format!(
                "{what}{} is open to other users (mode {old:04o}) and cannot be made private: {e}",
                path.display()
            ))
            .with_hint(format!("run `chmod go-rwx {}`", path.display()))
        })?;
        say(&format!(
            "warning: {what}{} was mode {old:04o}, open to other users; changed to {new:04o}",
            path.display()
        ));
        Ok(())
    }
}

#[cfg(not(unix))]
mod imp {
    use std::path::Path;

    use super::FileRole;
    use crate::exit::CliError;

    pub(super) fn check_dir(_dir: &Path) -> Result<(), CliError> {
        Ok(())
    }

    pub(super) fn check_file(_path: &Path, _role: FileRole) -> Result<(), CliError> {
        Ok(())
    }
}
