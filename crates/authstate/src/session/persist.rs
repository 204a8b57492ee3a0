//! Writing a session's effects to storage, and reading it back at startup
//! and whenever another process may have changed it (DESIGN.md invariants
//! 6, 10, 12 and 14).
//!
//! Tokens and the record that describes them live in two stores, so they
//! cannot be written atomically together. Each token write carries a serial
//! that the record repeats; at restore, tokens newer than their record mean a
//! sign-in or refresh was interrupted after the tokens were saved, and the
//! session comes back `Active` with them: the new state, never a mix.

use crate::machine::{Effect, Step};
use crate::model::{DeviceSummary, ExpiryReason, ProviderKind, ServerInfo, SessionState, StateKind};
use crate::storage::schema::{self, DeviceRecord, ServerRecord, StoredShape, TokensRecord};
use crate::storage::{StorageError, optional};

use super::Stores;

fn encode<T: serde::Serialize>(key: &str, value: &T) -> Result<String, StorageError> {
    serde_json::to_string(value).map_err(|e| StorageError::Corrupt { key: key.into(), detail: e.to_string() })
}

/// The next token serial after `serial` (never 0, which means "none").
pub(super) fn next_serial(serial: u64) -> u64 {
    serial.wrapping_add(1).max(1)
}

/// The token record for `state`'s tokens with `serial`, if it has tokens.
pub(super) fn tokens_record(provider: ProviderKind, state: &SessionState, serial: u64) -> Option<TokensRecord> {
    state.tokens().map(|tokens| TokensRecord {
        schema_version: schema::SCHEMA_VERSION,
        provider,
        serial,
        tokens: tokens.clone(),
    })
}

/// Executes the storage effects in the order the machine gave them. Stops at
/// the first failure, so a record never claims tokens that were not written.
/// `serial` is the serial of the tokens in memory; a token write gives the
/// new tokens the next serial.
pub(super) fn run_effects(
    info: &ServerInfo,
    stores: &Stores,
    step: &Step,
    serial: &mut u64,
) -> Result<(), StorageError> {
    let alias = info.alias.as_str();
    for effect in &step.effects {
        match effect {
            Effect::PersistTokens => {
                let next = next_serial(*serial);
                // The tokens are in use whatever happens to this write.
                *serial = next;
                if let Some(record) = tokens_record(info.provider.kind(), &step.next.state, next) {
                    let key = schema::tokens_key(alias);
                    stores.secrets.set(&key, &encode(&key, &record)?)?;
                }
            }
            Effect::PersistRecord => write_record(info, stores, &step.next.state, *serial)?,
            Effect::DeleteSecrets => stores.secrets.delete(&schema::tokens_key(alias))?,
            Effect::Cancel(_) => {}
        }
    }
    Ok(())
}

/// Writes `state` in full (tokens, then the record; or the record, then the
/// deletion): what a pending state needs, whatever effects it came from.
pub(super) fn write_full(
    info: &ServerInfo,
    stores: &Stores,
    state: &SessionState,
    serial: u64,
) -> Result<(), StorageError> {
    let key = schema::tokens_key(info.alias.as_str());
    match tokens_record(info.provider.kind(), state, serial) {
        Some(record) => {
            stores.secrets.set(&key, &encode(&key, &record)?)?;
            write_record(info, stores, state, serial)
        }
        None => {
            write_record(info, stores, state, 0)?;
            stores.secrets.delete(&key)
        }
    }
}

/// Writes the server's non-secret record for `state`, linked to the tokens with `token_serial`.
pub(crate) fn write_record(
    info: &ServerInfo,
    stores: &Stores,
    state: &SessionState,
    token_serial: u64,
) -> Result<(), StorageError> {
    let key = schema::server_key(info.alias.as_str());
    let linked = if state.tokens().is_some() { token_serial } else { 0 };
    let record = ServerRecord::new(info, state.kind(), state.expiry_reason(), linked);
    stores.kv.set(&key, &encode(&key, &record)?)
}

/// A server's state as read back, with the serial of its stored tokens.
#[derive(Debug)]
pub(crate) struct Restored {
    pub(crate) state: SessionState,
    pub(crate) token_serial: u64,
    /// What the stores held.
    pub(crate) stored: StoredShape,
    /// The state came from the journal, not the stores: save it.
    pub(crate) unsaved: bool,
    /// A refresh of these tokens was interrupted (the journal says so).
    pub(crate) interrupted: bool,
    /// The record claimed a session but the secret store had no tokens
    /// (e.g. the keychain was wiped while app settings were kept).
    pub(crate) tokens_missing: bool,
}

impl Restored {
    /// A known server without a session.
    pub(crate) fn signed_out() -> Self {
        Self {
            state: SessionState::NoSession,
            token_serial: 0,
            stored: StoredShape::SIGNED_OUT,
            unsaved: false,
            interrupted: false,
            tokens_missing: false,
        }
    }
}

/// Reads the record of `info`'s alias and the state it describes; `None`
/// when there is no record (the server was removed).
pub(crate) fn read_current(info: &ServerInfo, stores: &Stores) -> Result<Option<Restored>, StorageError> {
    let key = schema::server_key(info.alias.as_str());
    let Some(json) = optional(stores.kv.get(&key))? else { return Ok(None) };
    let record = match serde_json::from_str::<ServerRecord>(&json) {
        Ok(r) if schema::is_supported(r.schema_version) && r.server.alias == info.alias => r,
        _ => return Err(StorageError::Corrupt { key, detail: "unreadable server record".into() }),
    };
    restore_state(&record, stores).map(Some)
}

/// Reads a server's state back. `Active` and `Expired` come back as they were
/// (tokens from the secret store); `NoSession` as a known server. A locked or
/// unavailable secret store is an error, never `NoSession` (invariant 12).
pub(crate) fn restore_state(record: &ServerRecord, stores: &Stores) -> Result<Restored, StorageError> {
    let info = &record.server;
    let key = schema::tokens_key(info.alias.as_str());
    if record.session == StateKind::NoSession {
        // A crash between writing the record and deleting secrets can leave tokens behind.
        if optional(stores.secrets.get(&key))?.is_some() {
            tracing::warn!(server = %info.id, "deleting tokens left behind by an interrupted logout");
            stores.secrets.delete(&key)?;
        }
        return Ok(Restored::signed_out());
    }
    let Some(json) = optional(stores.secrets.get(&key))? else {
        tracing::error!(server = %info.id, session = ?record.session, "record claims a session but the secret store has no tokens");
        return Ok(Restored { tokens_missing: true, ..Restored::signed_out() });
    };
    let stored = match serde_json::from_str::<TokensRecord>(&json) {
        Ok(r) if schema::is_supported(r.schema_version) => r,
        Ok(r) => {
            tracing::error!(server = %info.id, version = r.schema_version, "tokens written by a newer version; not read");
            return Err(StorageError::Corrupt {
                key,
                detail: format!("unsupported schema_version {}", r.schema_version),
            });
        }
        Err(e) => {
            // serde's message can quote the input: log only its category.
            tracing::error!(server = %info.id, category = ?e.classify(), "corrupt tokens in the secret store");
            return Err(StorageError::Corrupt { key, detail: "tokens are not valid JSON".into() });
        }
    };
    let provider = stored.provider;
    let newer_than_record = record.token_serial != 0 && stored.serial != 0 && stored.serial != record.token_serial;
    let state = match record.session {
        StateKind::Active => SessionState::Active { provider, tokens: stored.tokens },
        _ if newer_than_record => {
            // Only a sign-in or a refresh writes tokens, and both end `Active`.
            tracing::warn!(server = %info.id, "tokens newer than the saved state: an interrupted sign-in or refresh is completed");
            SessionState::Active { provider, tokens: stored.tokens }
        }
        _ => SessionState::Expired {
            provider,
            tokens: stored.tokens,
            reason: record.expiry_reason.unwrap_or(ExpiryReason::Marked),
        },
    };
    let shape = StoredShape::of(&state, stored.serial);
    Ok(Restored { state, token_serial: stored.serial, stored: shape, ..Restored::signed_out() })
}

/// The device summary saved for `info`, if any. A summary is a display hint,
/// not state: an unreadable one is logged and treated as absent.
pub(crate) fn read_device(info: &ServerInfo, stores: &Stores) -> Option<DeviceSummary> {
    let key = schema::device_key(info.alias.as_str());
    match optional(stores.kv.get(&key)) {
        Ok(Some(json)) => match serde_json::from_str::<DeviceRecord>(&json) {
            Ok(record) if schema::is_supported(record.schema_version) => Some(record.summary),
            _ => {
                tracing::warn!(server = %info.id, "unreadable device summary ignored");
                None
            }
        },
        Ok(None) => None,
        Err(e) => {
            tracing::warn!(server = %info.id, error = %e, "device summary not read");
            None
        }
    }
}

/// Saves (`Some`) or deletes (`None`) the device summary of `info`.
pub(crate) fn write_device(
    info: &ServerInfo,
    stores: &Stores,
    summary: Option<&DeviceSummary>,
) -> Result<(), StorageError> {
    let key = schema::device_key(info.alias.as_str());
    match summary {
        Some(summary) => {
            let record = DeviceRecord { schema_version: schema::SCHEMA_VERSION, summary: summary.clone() };
            stores.kv.set(&key, &encode(&key, &record)?)
        }
        None => stores.kv.delete(&key),
    }
}
