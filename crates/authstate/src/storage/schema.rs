//! The persisted shape of sessions, versioned.
//!
//! `schema_version` is written into every record. Fields added later carry
//! `#[serde(default)]` so records written by older versions still load; the
//! frozen snapshots under `tests/snapshots/` fail the build if the shape drifts.
//!
//! Non-secret records go to the [`KeyValueStore`](super::KeyValueStore) under
//! `authstate.server.<alias>` (and, for multi-device servers, this device's
//! session summary under `authstate.device.<alias>`); tokens go to the
//! [`SecretStore`](super::SecretStore) under `authstate.tokens.<alias>` and
//! nowhere else (DESIGN.md invariant 10).

use serde::{Deserialize, Serialize};

use crate::model::{DeviceSummary, ExpiryReason, ProviderKind, ServerInfo, SessionState, StateKind, Tokens};

/// The version written by this build.
pub const SCHEMA_VERSION: u32 = 1;

/// Key prefix of server records in the key-value store.
pub(crate) const SERVER_PREFIX: &str = "authstate.server.";
/// Key prefix of token records in the secret store.
pub(crate) const TOKENS_PREFIX: &str = "authstate.tokens.";
/// Key prefix of device summaries (multi-device servers) in the key-value store.
pub(crate) const DEVICE_PREFIX: &str = "authstate.device.";

pub(crate) fn server_key(alias: &str) -> String {
    format!("{SERVER_PREFIX}{alias}")
}

pub(crate) fn tokens_key(alias: &str) -> String {
    format!("{TOKENS_PREFIX}{alias}")
}

pub(crate) fn device_key(alias: &str) -> String {
    format!("{DEVICE_PREFIX}{alias}")
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
    /// The serial of the tokens this record describes (0: none, or written
    /// before serials existed). Links the record to the secret-store entry, so
    /// a crash between the two writes is recognised at restore.
    #[serde(default, skip_serializing_if = "is_zero")]
    pub token_serial: u64,
}

fn is_zero(n: &u64) -> bool {
    *n == 0
}

/// A session's tokens, as kept in the secret store.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub(crate) struct TokensRecord {
    #[serde(default = "current_version")]
    pub schema_version: u32,
    pub provider: ProviderKind,
    /// Bumped on every write of new tokens (0: written before serials existed).
    #[serde(default)]
    pub serial: u64,
    pub tokens: Tokens,
}

impl ServerRecord {
    pub(crate) fn new(
        server: &ServerInfo,
        session: StateKind,
        expiry_reason: Option<ExpiryReason>,
        token_serial: u64,
    ) -> Self {
        Self { schema_version: SCHEMA_VERSION, server: server.clone(), session, expiry_reason, token_serial }
    }
}

/// What a multi-device server last said about this device's session. No
/// secret: the server's session id, the device label and a count.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub(crate) struct DeviceRecord {
    #[serde(default = "current_version")]
    pub schema_version: u32,
    #[serde(flatten)]
    pub summary: DeviceSummary,
}

/// Whether a record from a newer build can be read by this one.
pub(crate) fn is_supported(version: u32) -> bool {
    version <= SCHEMA_VERSION
}

/// What the stores hold for a server, in brief: enough to tell whether
/// another process changed it, and what a journal entry was written over.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub(crate) struct StoredShape {
    /// The session's case.
    pub(crate) session: StateKind,
    /// Why it expired, in `Expired`.
    pub(crate) expiry_reason: Option<ExpiryReason>,
    /// The serial of the stored tokens (0: none).
    pub(crate) token_serial: u64,
}

impl StoredShape {
    /// A known server without a session.
    pub(crate) const SIGNED_OUT: Self = Self { session: StateKind::NoSession, expiry_reason: None, token_serial: 0 };

    /// The shape of `state` stored with tokens of `token_serial`.
    pub(crate) fn of(state: &SessionState, token_serial: u64) -> Self {
        let token_serial = if state.tokens().is_some() { token_serial } else { 0 };
        Self { session: state.kind(), expiry_reason: state.expiry_reason(), token_serial }
    }
}
