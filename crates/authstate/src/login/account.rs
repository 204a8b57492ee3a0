//! Account calls on a signed-in OpaqueToken server: its device sessions,
//! signing out every device, and a password change that keeps this device
//! signed in with the fresh token the server hands back.
//!
//! Guarantees: revoking this device's own session, or signing out every
//! device, signs this device out locally too; a failure of either changes
//! nothing here (the token is still needed to try again). A password change
//! replaces the stored token without passing through `NoSession`.

use std::sync::Arc;

use super::{Authenticator, LoginOutcome, commit_sign_in};
use crate::backends::opaque::devices;
use crate::http::AuthedClient;
use crate::login::AccountError;
use crate::model::{DeviceSession, DeviceSummary, Provider, ProviderKind, Secret};
use crate::session::{ServerSession, SessionError};

impl Authenticator {
    /// The account's active device sessions at `alias`, this device's marked
    /// `is_current`. Also updates [`ServerSession::device_summary`].
    pub async fn device_sessions(&self, alias: &str) -> Result<Vec<DeviceSession>, AccountError> {
        let session = self.opaque_session(alias)?;
        let sessions = devices::list(&self.api(&session), session.info()).await?;
        if let Some(current) = sessions.iter().find(|s| s.is_current) {
            let others = sessions.len().saturating_sub(1);
            session.set_device_summary(DeviceSummary {
                session_id: Some(current.id),
                device_label: current.device_label.clone(),
                other_sessions: u32::try_from(others).unwrap_or(u32::MAX),
                multi_device: others > 0,
            });
        }
        Ok(sessions)
    }

    /// Revokes the device session `id`. Revoking this device's own session
    /// signs this device out as well; revoking another lowers
    /// [`ServerSession::device_summary`]'s count of other devices.
    pub async fn revoke_device_session(&self, alias: &str, id: i64) -> Result<(), AccountError> {
        let session = self.opaque_session(alias)?;
        devices::revoke(&self.api(&session), session.info(), id).await?;
        let summary = session.device_summary();
        let own = summary.as_ref().and_then(|d| d.session_id) == Some(id);
        tracing::info!(server = %session.info().id, own, "device session revoked");
        if own {
            return sign_out_locally(&session);
        }
        if let Some(summary) = summary.filter(|d| d.other_sessions > 0) {
            let other_sessions = summary.other_sessions - 1;
            session.set_device_summary(DeviceSummary {
                other_sessions,
                multi_device: other_sessions > 0,
                ..(*summary).clone()
            });
        }
        Ok(())
    }

    /// Signs every device of the account out at the server, then this one
    /// locally. If the server cannot be reached nothing changes: try again.
    pub async fn sign_out_everywhere(&self, alias: &str) -> Result<(), AccountError> {
        let session = self.opaque_session(alias)?;
        devices::logout_all(&self.api(&session), session.info()).await?;
        tracing::info!(server = %session.info().id, "signed out on every device");
        sign_out_locally(&session)
    }

    /// Changes the account's password. The server signs every other device
    /// out and hands this one a fresh token, which replaces the stored one:
    /// this device stays signed in. `Refused` carries the server's reason.
    pub async fn change_password(&self, alias: &str, old: &Secret, new: &Secret) -> Result<LoginOutcome, AccountError> {
        let session = self.opaque_session(alias)?;
        let info = session.info().clone();
        let login = devices::change_password(&self.api(&session), &info, old, new).await?;
        let persisted = commit_sign_in(&session, ProviderKind::OpaqueToken, login.grant).map_err(|e| match e {
            super::LoginError::Session(error) => AccountError::from(error),
            other => AccountError::Configuration(other.to_string()),
        })?;
        if let Some(device) = &login.device {
            session.set_device_summary(device.clone());
        }
        tracing::info!(server = %info.id, persisted, "password changed; this device keeps a fresh token");
        Ok(LoginOutcome { server: info, return_to: None, persisted, device: login.device })
    }

    fn opaque_session(&self, alias: &str) -> Result<Arc<ServerSession>, AccountError> {
        let session = self.manager.session(alias).ok_or_else(|| AccountError::UnknownServer(alias.to_owned()))?;
        match session.info().provider {
            Provider::OpaqueToken(_) => Ok(session),
            _ => Err(AccountError::NotSupported(alias.to_owned())),
        }
    }

    fn api(&self, session: &Arc<ServerSession>) -> AuthedClient {
        AuthedClient::new(self.backends.http().clone(), Arc::clone(session))
    }
}

/// The server already killed the token: forget it here.
fn sign_out_locally(session: &ServerSession) -> Result<(), AccountError> {
    match session.logout() {
        Ok(()) | Err(SessionError::InvalidTransition(_)) => Ok(()),
        Err(error) => Err(error.into()),
    }
}
