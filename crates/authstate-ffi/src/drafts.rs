//! `DraftStore` across the FFI: what the user was typing survives a sign-in
//! round-trip (or an app kill), per server and room, for a bounded time.

use std::sync::Arc;

use authstate::ServerId;

use crate::AuthError;

/// Drafts keyed by server alias and room. Text over the size cap is refused,
/// never truncated; a refused save keeps the previous draft.
#[derive(uniffi::Object)]
pub struct DraftStore {
    core: authstate::DraftStore,
    manager: authstate::ServerManager,
}

impl DraftStore {
    pub(crate) fn new(core: authstate::DraftStore, manager: authstate::ServerManager) -> Arc<Self> {
        Arc::new(Self { core, manager })
    }

    fn server(&self, alias: &str) -> Result<ServerId, AuthError> {
        let session =
            self.manager.session(alias).ok_or_else(|| AuthError::UnknownServer { detail: alias.to_owned() })?;
        Ok(session.info().id.clone())
    }
}

#[uniffi::export]
impl DraftStore {
    /// Saves `text` for `(server_alias, room)`, restarting its TTL. Empty
    /// text deletes the draft.
    pub fn save(&self, server_alias: String, room: String, text: String) -> Result<(), AuthError> {
        Ok(self.core.save(&self.server(&server_alias)?, &room, &text)?)
    }

    /// The draft, removed from the store; `None` if there is none or it expired.
    pub fn take(&self, server_alias: String, room: String) -> Result<Option<String>, AuthError> {
        Ok(self.core.take(&self.server(&server_alias)?, &room)?)
    }

    /// The draft, left in place; `None` if there is none or it expired.
    pub fn peek(&self, server_alias: String, room: String) -> Result<Option<String>, AuthError> {
        Ok(self.core.peek(&self.server(&server_alias)?, &room)?)
    }

    /// Deletes expired drafts; returns how many.
    pub fn purge_expired(&self) -> Result<u32, AuthError> {
        let purged = self.core.purge_expired()?;
        Ok(u32::try_from(purged).unwrap_or(u32::MAX))
    }

    /// The cap on one draft, in UTF-8 bytes.
    pub fn max_bytes(&self) -> u64 {
        self.core.max_bytes() as u64
    }
}
