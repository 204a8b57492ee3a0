//! What opening the stores found, for the host to read and show
//! (DESIGN.md invariant 12: corruption is reported to the host, not only
//! to the log).

use crate::model::{Alias, ServerId};
use crate::storage::StoreNotice;

/// What [`ServerManager::open`](super::ServerManager::open) found.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct RestoreReport {
    /// Servers restored.
    pub restored: usize,
    /// Keys whose content could not be read; those servers were skipped or restored signed out.
    pub corrupt: Vec<String>,
    /// Aliases whose record claimed a session while the secret store had no
    /// tokens (a wiped keychain); those servers were restored signed out.
    pub tokens_missing: Vec<String>,
    /// Records refused because they contradict the others or their key.
    pub rejected: Vec<RejectedRecord>,
    /// Aliases whose last refresh was interrupted after its refresh token
    /// was presented (a process killed mid-refresh). The session is kept; if
    /// the server rotated meanwhile, the next refresh expires it as
    /// `RefreshInterrupted`.
    pub interrupted_refreshes: Vec<String>,
    /// Aliases whose state came from the refresh journal: the stores had
    /// refused it (a full disk); it is saved as soon as they take it.
    pub recovered_from_journal: Vec<String>,
    /// What the stores repaired on the way (a corrupt file moved aside).
    pub notices: Vec<StoreNotice>,
}

impl RestoreReport {
    /// Whether anything needs the host's attention.
    pub fn is_clean(&self) -> bool {
        self.corrupt.is_empty()
            && self.tokens_missing.is_empty()
            && self.rejected.is_empty()
            && self.interrupted_refreshes.is_empty()
            && self.recovered_from_journal.is_empty()
            && self.notices.is_empty()
    }
}

/// A server record the manager refused to load.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RejectedRecord {
    /// The record's key.
    pub key: String,
    /// What was wrong with it.
    pub problem: RecordProblem,
}

/// Why a server record was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum RecordProblem {
    /// The record names another alias than its key (a host store that
    /// returned another key's value).
    #[error("the record under this key names alias {0}")]
    AliasMismatch(Alias),
    /// Another record already describes this server.
    #[error("server {server} is already loaded as {first}")]
    DuplicateServer {
        /// The server both records describe.
        server: ServerId,
        /// The alias it was loaded under.
        first: Alias,
    },
}
