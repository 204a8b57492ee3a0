//! Device sessions at an OpaqueToken server (seed `001_…`): list them, revoke
//! one, log out every device, change the password. Each call goes through the
//! session's [`AuthedClient`], so a refused token expires the session (tokens
//! kept) and a 403 never touches it.
//!
//! Guarantees: a listing never carries a key (none is read); a 404 on revoke
//! is [`AccountError::NotFound`] (another account's session, or already gone).

use serde::Deserialize;
use serde_json::json;

use super::{OpaqueLogin, config, login_answer};
use crate::backends::wire::{self, Answer};
use crate::http::AuthedClient;
use crate::login::AccountError;
use crate::model::{DeviceSession, OpaqueTokenConfig, Secret, ServerInfo};

/// The configured path, or `NotSupported`.
fn path<'c>(
    server: &'c ServerInfo,
    pick: impl Fn(&'c OpaqueTokenConfig) -> Option<&'c String>,
) -> Result<&'c str, AccountError> {
    config(server)
        .ok()
        .and_then(pick)
        .map(String::as_str)
        .ok_or_else(|| AccountError::NotSupported(server.alias.to_string()))
}

async fn send(api: &AuthedClient, request: reqwest::RequestBuilder) -> Result<Answer, AccountError> {
    let response = api.send(request).await?;
    Ok(wire::read(response).await?)
}

fn unexpected(path: &str, answer: &Answer, secrets: &[&Secret]) -> AccountError {
    AccountError::Configuration(format!("{path} answered {}", answer.describe(secrets)))
}

/// Lists the account's active device sessions; `is_current` marks this device's.
pub(crate) async fn list(api: &AuthedClient, server: &ServerInfo) -> Result<Vec<DeviceSession>, AccountError> {
    #[derive(Deserialize)]
    #[serde(untagged)]
    enum Listing {
        Plain(Vec<DeviceSession>),
        Paged {
            #[serde(alias = "sessions")]
            results: Vec<DeviceSession>,
        },
    }
    let path = path(server, |c| c.sessions_path.as_ref())?;
    let answer = send(api, api.get(wire::endpoint(server, path)?)).await?;
    match (answer.status, answer.json::<Listing>()) {
        (200..=299, Some(Listing::Plain(sessions) | Listing::Paged { results: sessions })) => Ok(sessions),
        (200..=299, None) => Err(AccountError::Configuration(format!("{path}: the device-session list is unreadable"))),
        _ => Err(unexpected(path, &answer, &[])),
    }
}

/// Revokes the device session `id` (`DELETE <sessions path><id>/`). The
/// configured path is checked as it is, before the id is appended (the id is
/// an integer: one segment of digits and `-`), and the result again.
pub(crate) async fn revoke(api: &AuthedClient, server: &ServerInfo, id: i64) -> Result<(), AccountError> {
    let path = path(server, |c| c.sessions_path.as_ref())?;
    wire::endpoint(server, path)?;
    let target = format!("{}/{id}/", path.trim_end_matches('/'));
    let answer = send(api, api.request(reqwest::Method::DELETE, wire::endpoint(server, &target)?)).await?;
    match answer.status {
        200..=299 => Ok(()),
        _ => Err(unexpected(&target, &answer, &[])),
    }
}

/// Logs every device of the account out, this one included.
pub(crate) async fn logout_all(api: &AuthedClient, server: &ServerInfo) -> Result<(), AccountError> {
    let path = path(server, |c| c.logout_all_path.as_ref())?;
    let answer = send(api, api.request(reqwest::Method::POST, wire::endpoint(server, path)?)).await?;
    match answer.status {
        200..=299 => Ok(()),
        _ => Err(unexpected(path, &answer, &[])),
    }
}

/// Changes the password (`{"old_password", "new_password"}`). The server
/// revokes the account's sessions and answers with a fresh token for this
/// device. A 400 is the server refusing the change (its message is kept,
/// never a password).
pub(crate) async fn change_password(
    api: &AuthedClient,
    server: &ServerInfo,
    old: &Secret,
    new: &Secret,
) -> Result<OpaqueLogin, AccountError> {
    let path = path(server, |c| c.password_path.as_ref())?;
    let body = json!({ "old_password": old.expose(), "new_password": new.expose() });
    let answer =
        send(api, wire::with_json(api.request(reqwest::Method::POST, wire::endpoint(server, path)?), &body)).await?;
    match answer.status {
        200..=299 => login_answer(&answer).map_err(|e| AccountError::Configuration(format!("{path}: {e}"))),
        400 => Err(AccountError::Refused(answer.describe(&[old, new]))),
        _ => Err(unexpected(path, &answer, &[old, new])),
    }
}
