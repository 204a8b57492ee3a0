//! Credentials sign-in and account calls across the FFI: password logins for
//! TokenPair and OpaqueToken servers, device sessions, signing out every
//! device, password change. Passwords cross once and are never kept.

use authstate::Secret;

use crate::manager::ServerManager;
use crate::records::LoginResult;
use crate::{AuthError, runtime};

/// What a multi-device server says about this device's session: show "signed
/// in on N other devices" when `other_sessions` > 0.
#[derive(Debug, Clone, PartialEq, Eq, uniffi::Record)]
pub struct DeviceSummary {
    /// The server's id for this device's session, if it gave one.
    pub session_id: Option<i64>,
    /// The server's label for this device, if any.
    pub device_label: Option<String>,
    /// How many other active sessions the account has.
    pub other_sessions: u32,
    /// Whether the account is signed in on more than one device.
    pub multi_device: bool,
}

impl From<&authstate::DeviceSummary> for DeviceSummary {
    fn from(d: &authstate::DeviceSummary) -> Self {
        Self {
            session_id: d.session_id,
            device_label: d.device_label.clone(),
            other_sessions: d.other_sessions,
            multi_device: d.multi_device,
        }
    }
}

/// One device session of the account (never its key).
#[derive(Debug, Clone, PartialEq, Eq, uniffi::Record)]
pub struct DeviceSession {
    /// The server's id for the session: pass it to `revoke_device_session`.
    pub id: i64,
    /// The device's label, if any.
    pub device_label: Option<String>,
    /// When it was created, as the server wrote it.
    pub created_at: Option<String>,
    /// When it was last used, as the server wrote it.
    pub last_seen_at: Option<String>,
    /// Whether it is this device's session.
    pub is_current: bool,
}

impl From<authstate::DeviceSession> for DeviceSession {
    fn from(s: authstate::DeviceSession) -> Self {
        Self {
            id: s.id,
            device_label: s.device_label,
            created_at: s.created_at,
            last_seen_at: s.last_seen_at,
            is_current: s.is_current,
        }
    }
}

#[uniffi::export]
impl ServerManager {
    /// Signs in to a TokenPair or OpaqueToken server with a username and
    /// password. `SignInFailed` means the credentials were refused: ask again.
    /// `device_label` names this device to a multi-device server.
    #[uniffi::method(default(device_label = None))]
    pub async fn sign_in_with_password(
        &self,
        alias: String,
        username: String,
        password: String,
        device_label: Option<String>,
    ) -> Result<LoginResult, AuthError> {
        let auth = self.auth.clone();
        let password = Secret::new(password);
        runtime::run(async move {
            Ok(auth.sign_in_with_password(&alias, &username, &password, device_label.as_deref()).await?.into())
        })
        .await
    }

    /// The account's active device sessions at `alias`, this device's marked
    /// `is_current`.
    pub async fn device_sessions(&self, alias: String) -> Result<Vec<DeviceSession>, AuthError> {
        let auth = self.auth.clone();
        runtime::run(
            async move { Ok(auth.device_sessions(&alias).await?.into_iter().map(DeviceSession::from).collect()) },
        )
        .await
    }

    /// Revokes one device session; revoking this device's own signs it out.
    /// `NotFound`: already gone, or another account's.
    pub async fn revoke_device_session(&self, alias: String, id: i64) -> Result<(), AuthError> {
        let auth = self.auth.clone();
        runtime::run(async move { Ok(auth.revoke_device_session(&alias, id).await?) }).await
    }

    /// Signs every device of the account out, this one included. If the
    /// server cannot be reached nothing changes (`TryLater`).
    pub async fn sign_out_everywhere(&self, alias: String) -> Result<(), AuthError> {
        let auth = self.auth.clone();
        runtime::run(async move { Ok(auth.sign_out_everywhere(&alias).await?) }).await
    }

    /// Changes the password; this device stays signed in with a fresh token,
    /// every other device is signed out. `InvalidInput` carries the server's
    /// reason (a wrong current password, a refused new one).
    pub async fn change_password(
        &self,
        alias: String,
        old_password: String,
        new_password: String,
    ) -> Result<LoginResult, AuthError> {
        let auth = self.auth.clone();
        let (old, new) = (Secret::new(old_password), Secret::new(new_password));
        runtime::run(async move { Ok(auth.change_password(&alias, &old, &new).await?.into()) }).await
    }
}
