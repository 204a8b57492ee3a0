//! What opening the stores found, as FFI records the host can read and show
//! (DESIGN.md invariant 12: corruption is reported to the host, not only to
//! the log). Plain data copied out of the core; none holds a secret.

use authstate::storage;

/// What the manager found when it opened its stores. Read it once after
/// construction: anything but `is_clean` deserves a notice to the user or a
/// report (a corrupt file moved aside, a wiped keychain, an interrupted
/// refresh).
#[derive(Debug, Clone, PartialEq, Eq, uniffi::Record)]
pub struct RestoreReport {
    /// Servers restored.
    pub restored: u32,
    /// Keys whose content could not be read; those servers were skipped or
    /// restored signed out.
    pub corrupt: Vec<String>,
    /// Aliases whose record claimed a session while the secret store held no
    /// tokens (a wiped keychain); restored signed out.
    pub tokens_missing: Vec<String>,
    /// Records refused because they contradict the others or their key (a
    /// host store answering another key's value, or a key twice).
    pub rejected: Vec<RejectedRecord>,
    /// Aliases whose last refresh was cut short after the refresh token was
    /// sent (a process killed mid-refresh). The session is kept; if the
    /// server rotated meanwhile, the next refresh expires it as
    /// `RefreshInterrupted`.
    pub interrupted_refreshes: Vec<String>,
    /// Aliases whose tokens came from the refresh journal because the secret
    /// store had refused them; they are saved as soon as it takes them.
    pub recovered_from_journal: Vec<String>,
    /// What the stores repaired on the way (a corrupt file moved aside).
    pub notices: Vec<StoreNotice>,
    /// Whether nothing above needs the host's attention.
    pub is_clean: bool,
}

impl RestoreReport {
    /// The core's report, plus what stores outside the core (the drafts
    /// file) repaired while opening.
    pub(crate) fn of(report: &authstate::RestoreReport, more_notices: &[storage::StoreNotice]) -> Self {
        let notices: Vec<StoreNotice> = report.notices.iter().chain(more_notices).map(StoreNotice::from).collect();
        Self {
            restored: u32::try_from(report.restored).unwrap_or(u32::MAX),
            corrupt: report.corrupt.clone(),
            tokens_missing: report.tokens_missing.clone(),
            rejected: report.rejected.iter().map(RejectedRecord::from).collect(),
            interrupted_refreshes: report.interrupted_refreshes.clone(),
            recovered_from_journal: report.recovered_from_journal.clone(),
            is_clean: report.is_clean() && more_notices.is_empty(),
            notices,
        }
    }
}

/// A stored server record the manager refused to load.
#[derive(Debug, Clone, PartialEq, Eq, uniffi::Record)]
pub struct RejectedRecord {
    /// The record's key in the host's key-value store.
    pub key: String,
    /// What was wrong with it.
    pub problem: String,
}

impl From<&authstate::RejectedRecord> for RejectedRecord {
    fn from(record: &authstate::RejectedRecord) -> Self {
        Self { key: record.key.clone(), problem: record.problem.to_string() }
    }
}

/// Something a store found and dealt with that the host should know about.
#[derive(Debug, Clone, PartialEq, Eq, uniffi::Enum)]
pub enum StoreNotice {
    /// A store file that did not parse was moved aside and the store went on
    /// without its content (sessions it held are signed out). The content is
    /// kept at `moved_to` for a bug report.
    MovedAside {
        /// The store's file.
        file: String,
        /// Where its unreadable content now is.
        moved_to: String,
        /// What was wrong (a position, never the content).
        detail: String,
    },
    /// Another repair, described.
    Other {
        /// What happened (never a secret).
        detail: String,
    },
}

impl From<&storage::StoreNotice> for StoreNotice {
    fn from(notice: &storage::StoreNotice) -> Self {
        match notice {
            storage::StoreNotice::MovedAside { file, moved_to, detail } => Self::MovedAside {
                file: file.display().to_string(),
                moved_to: moved_to.display().to_string(),
                detail: detail.clone(),
            },
            // The core's enum is non-exhaustive.
            other => Self::Other { detail: format!("{other:?}") },
        }
    }
}
