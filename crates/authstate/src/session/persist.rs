//! Writing a session's effects to storage, and reading it back at startup
//! (DESIGN.md invariants 6, 10 and 12).

use crate::machine::{Effect, Step};
use crate::model::{ExpiryReason, ServerInfo, SessionState, StateKind};
use crate::storage::schema::{self, ServerRecord, TokensRecord};
use crate::storage::{StorageError, optional};

use super::Stores;

fn encode<T: serde::Serialize>(key: &str, value: &T) -> Result<String, StorageError> {
    serde_json::to_string(value).map_err(|e| StorageError::Corrupt { key: key.into(), detail: e.to_string() })
}

/// Executes the storage effects in the order the machine gave them. Stops at
/// the first failure, so a record never claims tokens that were not written.
pub(super) fn run_effects(info: &ServerInfo, stores: &Stores, step: &Step) -> Result<(), StorageError> {
    let alias = info.alias.as_str();
    for effect in &step.effects {
        match effect {
            Effect::PersistTokens => {
                if let Some(tokens) = step.next.state.tokens() {
                    let key = schema::tokens_key(alias);
                    let provider = info.provider.kind();
                    let record = TokensRecord { schema_version: schema::SCHEMA_VERSION, provider, tokens: tokens.clone() };
                    stores.secrets.set(&key, &encode(&key, &record)?)?;
                }
            }
            Effect::PersistRecord => write_record(info, stores, &step.next.state)?,
            Effect::DeleteSecrets => stores.secrets.delete(&schema::tokens_key(alias))?,
            Effect::Cancel(_) => {}
        }
    }
    Ok(())
}

/// Writes the server's non-secret record for `state`.
pub(crate) fn write_record(info: &ServerInfo, stores: &Stores, state: &SessionState) -> Result<(), StorageError> {
    let key = schema::server_key(info.alias.as_str());
    let record = ServerRecord::new(info, state.kind(), state.expiry_reason());
    stores.kv.set(&key, &encode(&key, &record)?)
}

/// Reads a server's state back. `Active` and `Expired` come back as they were
/// (tokens from the secret store); `NoSession` as a known server. A locked or
/// unavailable secret store is an error, never `NoSession` (invariant 12).
pub(crate) fn restore_state(record: &ServerRecord, stores: &Stores) -> Result<SessionState, StorageError> {
    let info = &record.server;
    let key = schema::tokens_key(info.alias.as_str());
    if record.session == StateKind::NoSession {
        // A crash between writing the record and deleting secrets can leave tokens behind.
        if optional(stores.secrets.get(&key))?.is_some() {
            tracing::warn!(server = %info.id, "deleting tokens left behind by an interrupted logout");
            stores.secrets.delete(&key)?;
        }
        return Ok(SessionState::NoSession);
    }
    let Some(json) = optional(stores.secrets.get(&key))? else {
        tracing::error!(server = %info.id, session = ?record.session, "record claims a session but the secret store has no tokens");
        return Ok(SessionState::NoSession);
    };
    let tokens = match serde_json::from_str::<TokensRecord>(&json) {
        Ok(r) if schema::is_supported(r.schema_version) => r,
        Ok(r) => {
            tracing::error!(server = %info.id, version = r.schema_version, "tokens written by a newer version; not read");
            return Err(StorageError::Corrupt { key, detail: format!("unsupported schema_version {}", r.schema_version) });
        }
        Err(e) => {
            tracing::error!(server = %info.id, error = %e.classify_name(), "corrupt tokens in the secret store");
            return Err(StorageError::Corrupt { key, detail: "tokens are not valid JSON".into() });
        }
    };
    let provider = tokens.provider;
    Ok(match record.session {
        StateKind::Active => SessionState::Active { provider, tokens: tokens.tokens },
        _ => SessionState::Expired {
            provider,
            tokens: tokens.tokens,
            reason: record.expiry_reason.unwrap_or(ExpiryReason::Marked),
        },
    })
}

trait ClassifyName {
    fn classify_name(&self) -> &'static str;
}

impl ClassifyName for serde_json::Error {
    fn classify_name(&self) -> &'static str {
        match self.classify() {
            serde_json::error::Category::Io => "io",
            serde_json::error::Category::Syntax => "syntax",
            serde_json::error::Category::Data => "data",
            serde_json::error::Category::Eof => "eof",
        }
    }
}
