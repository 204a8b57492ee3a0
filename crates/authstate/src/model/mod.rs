//! The data model every layer agrees on: servers, providers, tokens, session
//! state, device sessions.

mod device;
pub(crate) mod endpoint;
mod provider;
mod server;
mod state;
mod tokens;

pub use device::{DeviceSession, DeviceSummary};
pub use endpoint::{EndpointPathError, MAX_ENDPOINT_PATH, check_endpoint_path, endpoint_url};
pub use provider::{OidcConfig, OpaqueTokenConfig, Provider, ProviderKind, RefreshRequestShape, TokenPairConfig};
pub use server::{Alias, ServerId, ServerInputError};
pub use state::{ExpiryReason, SessionState, StateKind};
pub use tokens::{Secret, TokenGrant, Tokens};

/// A server known to the manager: identity, route alias and provider.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct ServerInfo {
    /// The normalised base URL.
    pub id: ServerId,
    /// The route alias.
    pub alias: Alias,
    /// How the server authenticates.
    pub provider: Provider,
}
