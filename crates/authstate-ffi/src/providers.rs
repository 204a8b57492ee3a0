//! Adding TokenPair and OpaqueToken servers across the FFI: their settings as
//! records, with functions that fill in the common layouts (Django simplejwt,
//! the Notechondria device-session layout). Checked by the core before storing.

use authstate::Provider;
use authstate::model::{OpaqueTokenConfig, RefreshRequestShape, TokenPairConfig};

use crate::AuthError;
use crate::manager::ServerManager;
use crate::records::ServerInfo;

/// Where a TokenPair refresh endpoint expects the refresh token.
#[derive(Debug, Clone, PartialEq, Eq, uniffi::Enum)]
pub enum RefreshShape {
    /// `{"<field>": "<refresh token>"}` as a JSON body (simplejwt: `refresh`).
    JsonBody {
        /// The JSON field name.
        field: String,
    },
    /// `Authorization: Bearer <refresh token>` with an empty body.
    BearerHeader,
}

/// A TokenPair server's endpoints, relative to its URL.
/// [`simplejwt_settings`] fills in Django simplejwt's layout.
#[derive(Debug, Clone, PartialEq, Eq, uniffi::Record)]
pub struct TokenPairSettings {
    /// Credentials login.
    pub login_path: String,
    /// Refresh endpoint.
    pub refresh_path: String,
    /// How the refresh token is sent; `None`: a JSON body field `refresh`.
    #[uniffi(default = None)]
    pub refresh_shape: Option<RefreshShape>,
    /// Logout (blacklist) endpoint, sent in the refresh shape; `None`: none.
    pub logout_path: Option<String>,
}

/// An OpaqueToken server's endpoints, relative to its URL; `None` hides a
/// feature. [`device_token_settings`] fills in the Notechondria layout.
#[derive(Debug, Clone, PartialEq, Eq, uniffi::Record)]
pub struct OpaqueTokenSettings {
    /// Credentials login returning a per-device token.
    pub login_path: String,
    /// Session probe answering `{"authenticated": bool}`.
    pub probe_path: String,
    /// Logout of this device only.
    pub logout_path: String,
    /// Device sessions: list, and revoke one at `<path><id>/`.
    pub sessions_path: Option<String>,
    /// Logout of every device of the account.
    pub logout_all_path: Option<String>,
    /// Password change answering with a fresh token for this device.
    pub password_path: Option<String>,
}

/// Django simplejwt's layout under `prefix` (e.g. `api/token/`): login at the
/// prefix, `refresh/` with a JSON `refresh` field, `blacklist/` to log out.
/// (A function rather than field defaults: not every generator keeps string
/// defaults.)
#[uniffi::export]
pub fn simplejwt_settings(prefix: String) -> TokenPairSettings {
    let config = TokenPairConfig::simplejwt(&prefix);
    TokenPairSettings {
        login_path: config.login_path,
        refresh_path: config.refresh_path,
        refresh_shape: None,
        logout_path: config.logout_path,
    }
}

/// The per-device token layout of seed `001_…` under `prefix` (e.g.
/// `api/v1/auth/`): `login/`, `session/`, `logout/`, `sessions/`,
/// `logoutall/`, `password/`.
#[uniffi::export]
pub fn device_token_settings(prefix: String) -> OpaqueTokenSettings {
    let config = OpaqueTokenConfig::under(&prefix);
    OpaqueTokenSettings {
        login_path: config.login_path,
        probe_path: config.probe_path,
        logout_path: config.logout_path,
        sessions_path: config.sessions_path,
        logout_all_path: config.logout_all_path,
        password_path: config.password_path,
    }
}

#[uniffi::export]
impl ServerManager {
    /// Adds a TokenPair (JWT access/refresh) server, signed out. Sign in with
    /// `sign_in_with_password`.
    #[uniffi::method(default(alias = None))]
    pub fn add_token_pair_server(
        &self,
        url: String,
        settings: TokenPairSettings,
        alias: Option<String>,
    ) -> Result<ServerInfo, AuthError> {
        let refresh_shape = match settings.refresh_shape {
            None => RefreshRequestShape::default(),
            Some(RefreshShape::JsonBody { field }) => RefreshRequestShape::JsonBody { field },
            Some(RefreshShape::BearerHeader) => RefreshRequestShape::BearerHeader,
        };
        let provider = Provider::TokenPair(TokenPairConfig {
            login_path: settings.login_path,
            refresh_path: settings.refresh_path,
            refresh_shape,
            logout_path: settings.logout_path,
        });
        let session = self.core.add_server(&url, alias.as_deref(), provider)?;
        Ok(ServerInfo::from(session.info()))
    }

    /// Adds an OpaqueToken (per-device token) server, signed out. Sign in with
    /// `sign_in_with_password`.
    #[uniffi::method(default(alias = None))]
    pub fn add_opaque_token_server(
        &self,
        url: String,
        settings: OpaqueTokenSettings,
        alias: Option<String>,
    ) -> Result<ServerInfo, AuthError> {
        let provider = Provider::OpaqueToken(OpaqueTokenConfig {
            login_path: settings.login_path,
            probe_path: settings.probe_path,
            logout_path: settings.logout_path,
            sessions_path: settings.sessions_path,
            logout_all_path: settings.logout_all_path,
            password_path: settings.password_path,
        });
        let session = self.core.add_server(&url, alias.as_deref(), provider)?;
        Ok(ServerInfo::from(session.info()))
    }
}
