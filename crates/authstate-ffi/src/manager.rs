//! `ServerManager` across the FFI: servers, per-server state, the connection
//! revision and its async observation, route guards.

use std::sync::Arc;

use authstate::model::OidcConfig;
use authstate::storage::{FileStore, MemoryStore};
use authstate::{ManagerConfig, Provider};

use crate::records::{GuardDecision, ServerInfo, SessionState};
use crate::{AuthError, runtime};

/// Holds every server and its session. Reading state or the revision never
/// blocks on I/O.
#[derive(uniffi::Object)]
pub struct ServerManager {
    core: authstate::ServerManager,
}

#[uniffi::export]
impl ServerManager {
    /// A manager over memory stores (tests, previews): nothing persists.
    #[uniffi::constructor]
    pub fn in_memory() -> Result<Arc<Self>, AuthError> {
        let config = ManagerConfig::new(Arc::new(MemoryStore::new()), Arc::new(MemoryStore::new()));
        Ok(Arc::new(Self { core: authstate::ServerManager::open(config)? }))
    }

    /// A manager persisting to atomic JSON files in `directory` (desktop and
    /// tests; mobile hosts pass platform stores).
    #[uniffi::constructor]
    pub fn with_files(directory: String) -> Result<Arc<Self>, AuthError> {
        if directory.trim().is_empty() {
            return Err(AuthError::InvalidInput { detail: "empty directory".into() });
        }
        let dir = std::path::Path::new(&directory);
        let secrets = FileStore::open(dir.join("secrets.json"))?;
        let kv = FileStore::open(dir.join("state.json"))?;
        let config = ManagerConfig::new(Arc::new(secrets), Arc::new(kv));
        Ok(Arc::new(Self { core: authstate::ServerManager::open(config)? }))
    }

    /// Adds an OpenID Connect server, signed out.
    pub fn add_oidc_server(
        &self,
        url: String,
        alias: Option<String>,
        issuer: String,
        client_id: String,
        redirect_uri: String,
    ) -> Result<ServerInfo, AuthError> {
        let provider = Provider::Oidc(OidcConfig { issuer, client_id, redirect_uri, scopes: Vec::new() });
        let session = self.core.add_server(&url, alias.as_deref(), provider)?;
        Ok(ServerInfo::from(session.info()))
    }

    /// Removes a server and deletes its secrets.
    pub fn remove_server(&self, alias: String) -> Result<(), AuthError> {
        Ok(self.core.remove_server(&alias)?)
    }

    /// Every server, by alias.
    pub fn servers(&self) -> Vec<ServerInfo> {
        self.core.servers().iter().map(ServerInfo::from).collect()
    }

    /// The state of server `alias`. Never blocks.
    pub fn state(&self, alias: String) -> Result<SessionState, AuthError> {
        let session = self.core.session(&alias).ok_or_else(|| AuthError::UnknownServer { detail: alias.clone() })?;
        Ok(SessionState::of(&session.state(), self.core.clock().now()))
    }

    /// The connection revision: bumped by every transition and every server
    /// added or removed. Never blocks.
    pub fn connection_revision(&self) -> u64 {
        self.core.connection_revision()
    }

    /// Resolves once the connection revision passes `after_revision`, with the
    /// new revision. Loop on it to observe (each language wraps it in a stream).
    pub async fn changed(&self, after_revision: u64) -> Result<u64, AuthError> {
        let core = self.core.clone();
        runtime::run(async move { Ok(core.changed(after_revision).await) }).await
    }

    /// Whether any server is `Active`.
    pub fn any_authenticated(&self) -> bool {
        self.core.any_authenticated()
    }

    /// The route guard: public routes pass; a route naming a server that is
    /// not `Active` redirects to sign in with `returnTo`.
    pub fn guard(&self, location: String, server_alias: Option<String>, is_public: bool) -> GuardDecision {
        self.core.guard(&location, server_alias.as_deref(), is_public).into()
    }
}
