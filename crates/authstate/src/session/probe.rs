//! Asking the server whether it still accepts the session's token (the
//! session probe of OpaqueToken servers), and what a multi-device server says
//! about this device's session.
//!
//! Guarantees: only an answer about the token changes state — "stale" expires
//! the session (tokens kept), "valid" revives an expired one; a network
//! failure, timeout, 5xx or 429 changes nothing (DESIGN.md invariant 2); the
//! answer applies only to the tokens that were probed.

use std::sync::Arc;

use super::{ServerSession, SessionError};
use crate::machine::{Event, ProbeResult};
use crate::model::{DeviceSummary, StateKind};
use crate::refresh::RefreshError;

impl ServerSession {
    /// Probes the session's token at the server and records the answer.
    /// Returns what the server said: `Stale` has expired the session (no error:
    /// offer "sign in again"), `Unreachable` changed nothing.
    /// `Err(Configuration)` when the backend has no probe or the probe
    /// endpoint answered like a misconfiguration; `Err(SignedOut)` without
    /// tokens; `Err(ServerRemoved)` once the server was removed (nothing sent).
    pub async fn probe(self: &Arc<Self>) -> Result<ProbeResult, SessionError> {
        if self.is_removed() {
            return Err(SessionError::ServerRemoved);
        }
        let snap = self.snapshot();
        let Some(tokens) = snap.state.tokens().cloned() else { return Err(SessionError::SignedOut) };
        let Some(backend) = self.refresher.clone() else {
            return Err(SessionError::Configuration(format!("{} has no backend to probe with", self.info.id)));
        };
        let result = match backend.probe(&self.info, &tokens).await {
            Ok(result) => result,
            Err(RefreshError::Transient { kind, .. }) => {
                tracing::info!(server = %self.info.id, ?kind, "session probe unreachable; session kept");
                ProbeResult::Unreachable
            }
            Err(error) => {
                tracing::warn!(server = %self.info.id, error = %error, "session probe failed");
                return Err(self.refresh_error(&error));
            }
        };
        self.record_probe(snap.generation, result)?;
        Ok(result)
    }

    /// Records a probe the host made itself with `token_used`: applied only if
    /// that is still the session's access token.
    pub fn report_probe(&self, token_used: &str, result: ProbeResult) -> Result<(), SessionError> {
        let snap = self.snapshot();
        let current = snap.state.tokens().is_some_and(|t| t.access.expose() == token_used);
        // A token the session no longer holds: the answer is about the past.
        let generation = if current { snap.generation } else { snap.generation.wrapping_sub(1) };
        self.record_probe(generation, result)
    }

    fn record_probe(&self, generation: u64, result: ProbeResult) -> Result<(), SessionError> {
        match self.apply(Event::Probe { generation, result }) {
            Ok(_) | Err(SessionError::InvalidTransition(_)) => Ok(()), // signed out meanwhile: nothing to say
            Err(error) => Err(error),
        }
    }

    /// What a multi-device server last said about this device's session
    /// (sign-in, password change, device listing), restored after a restart;
    /// `None` for other backends and after sign-out. Never blocks.
    pub fn device_summary(&self) -> Option<Arc<DeviceSummary>> {
        self.device.read().clone()
    }

    /// Records what the server said about this device's session, saves it
    /// beside the session (it survives a restart; signing out deletes it),
    /// and bumps the connection revision when it changed (a "signed in on N
    /// other devices" banner re-renders). Ignored when signed out.
    pub(crate) fn set_device_summary(&self, summary: DeviceSummary) {
        let kind = self.state_kind();
        if kind == StateKind::NoSession {
            return;
        }
        let mut slot = self.device.write();
        if slot.as_deref() == Some(&summary) {
            return;
        }
        if let Err(e) = super::write_device(&self.info, &self.stores, Some(&summary)) {
            tracing::warn!(server = %self.info.id, error = %e, "device summary not saved; kept in memory");
        }
        *slot = Some(Arc::new(summary));
        drop(slot);
        self.hub.bump(&self.info.id, kind);
    }
}
