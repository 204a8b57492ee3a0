//! The persisted shape of sessions, versioned.
//!
//! `schema_version` is written into every record. Fields added later carry
//! `#[serde(default)]` so records written by older versions still load; the
//! frozen snapshots under `tests/snapshots/` fail the build if the shape drifts.
//!
//! Non-secret records go to the [`KeyValueStore`](super::KeyValueStore) under
//! `authstate.server.<alias>`; tokens go to the
//! [`SecretStore`](super::SecretStore) under `authstate.tokens.<alias>` and
//! nowhere else (DESIGN.md invariant 10).

use serde::{Deserialize, Serialize};

use crate::model::{ExpiryReason, Provider, ProviderKind, ServerInfo, StateKind, Tokens};

/// The version written by this build.
pub const SCHEMA_VERSION: u32 = 1;

/// Key prefix of server records in the key-value store.
pub(crate) const SERVER_PREFIX: &str = "authstate.server.";
/// Key prefix of token records in the secret store.
pub(crate) const TOKENS_PREFIX: &str = "authstate.tokens.";

pub(crate) fn server_key(alias: &str) -> String {
    format!("{SERVER_PREFIX}{alias}")
}

pub(crate) fn tokens_key(alias: &str) -> String {
    format!("{TOKENS_PREFIX}{alias}")
}

fn current_version() -> u32 {
    SCHEMA_VERSION
}

/// A known server and the shape of its session, without secrets.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub(crate) struct ServerRecord {
    #[serde(default = "current_version")]
    pub schema_version: u32,
    #[serde(flatten)]
    pub server: ServerInfo,
    pub session: StateKind,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub expiry_reason: Option<ExpiryReason>,
}

/// A session's tokens, as kept in the secret store.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub(crate) struct TokensRecord {
    #[serde(default = "current_version")]
    pub schema_version: u32,
    pub provider: ProviderKind,
    pub tokens: Tokens,
}

impl ServerRecord {
    pub(crate) fn new(server: &ServerInfo, session: StateKind, expiry_reason: Option<ExpiryReason>) -> Self {
        Self { schema_version: SCHEMA_VERSION, server: server.clone(), session, expiry_reason }
    }
}

/// Whether a record from a newer build can be read by this one.
pub(crate) fn is_supported(version: u32) -> bool {
    version <= SCHEMA_VERSION
}

#[allow(dead_code)]
pub(crate) fn provider_kind(p: &Provider) -> ProviderKind {
    p.kind()
}
