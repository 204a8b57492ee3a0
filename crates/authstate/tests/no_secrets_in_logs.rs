//! No secret ever appears in a log line: every tracing record emitted along
//! the noisy paths (refresh failures, storage failures, corrupt stores,
//! refused pre-auth and drafts) is captured at TRACE level and searched for
//! the secrets involved.

mod common;

use std::sync::Arc;

use authstate::preauth::{PreAuthState, PreAuthStore, ReturnTo};
use authstate::storage::{FileStore, KeyValueStore, SecretStore};
use authstate::{DraftStore, ExpiryReason, ProviderKind, RefreshError, ServerId, TransientKind};
use common::{Scripted, grant, harness, oidc, reopen};
use time::Duration;

async fn settle() {
    for _ in 0..32 {
        tokio::task::yield_now().await;
    }
}

#[tokio::test]
async fn secrets_never_reach_a_log_line() {
    let (captured, _guard) = common::log_capture::capture();

    let refresher = Arc::new(Scripted::default());
    let h = harness(refresher.clone());
    let s = h.manager.add_server("https://api.example", Some("api"), oidc()).unwrap();
    s.sign_in(ProviderKind::Oidc, grant("SECRET-access-1", Some("SECRET-refresh-1"), 60)).unwrap();
    h.clock.advance(Duration::seconds(120));

    // Transient, then rotated, then rejected refreshes.
    for answer in [
        Err(RefreshError::transient(TransientKind::Timeout)),
        Ok(grant("SECRET-access-2", Some("SECRET-refresh-2"), 60)),
    ] {
        let s2 = Arc::clone(&s);
        let task = tokio::spawn(async move { s2.refresh().await });
        settle().await;
        refresher.answer(0, answer);
        let _ = task.await;
    }
    let _ = s.recover_from_401("SECRET-stale-access").await;
    settle().await;
    refresher.answer(0, Err(RefreshError::Rejected { detail: "invalid_grant".into() }));
    settle().await;

    // Storage failures and a restart over a corrupt secret entry.
    h.kv.set_unavailable(true);
    let _ = s.sign_in(ProviderKind::Oidc, grant("SECRET-access-3", Some("SECRET-refresh-3"), 60));
    h.kv.set_unavailable(false);
    let _ = s.mark_expired(ExpiryReason::Marked);
    SecretStore::set(&h.secrets, "authstate.tokens.api", "{\"tokens\": \"SECRET-torn").unwrap();
    let _ = reopen(&h.secrets, &h.kv, &h.clock, refresher.clone());

    // A corrupt secrets file is moved aside.
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("secrets.json");
    // A type error: serde quotes the offending value in its message.
    std::fs::write(&path, "{\"format\":\"SECRET-in-file\",\"entries\":{}}").unwrap();
    assert!(FileStore::open(&path).unwrap().moved_aside().is_some());

    // Pre-auth: a refused state, an expired entry, a hostile return path.
    let pre = PreAuthStore::new(Arc::new(h.secrets.clone()), Arc::new(h.clock.clone()));
    let id = ServerId::parse("https://api.example").unwrap();
    let state = PreAuthState::new(id.clone(), ProviderKind::Oidc, ReturnTo::parse("/inbox").ok(), &h.clock);
    let (csrf, verifier) = (state.csrf_state().expose().to_owned(), state.pkce_verifier().expose().to_owned());
    pre.save(&state).unwrap();
    let _ = pre.consume("SECRET-wrong-state");
    h.clock.advance(Duration::minutes(31));
    let _ = pre.consume(&csrf);

    // Drafts are user content too.
    let drafts = DraftStore::new(Arc::new(h.kv.clone()), Arc::new(h.clock.clone())).with_max_bytes(16);
    let _ = drafts.save(&id, "room", "SECRET user text that is far too long");
    KeyValueStore::set(&h.kv, "authstate.draft.zz.zz", "SECRET-corrupt-draft").unwrap();
    let _ = drafts.purge_expired();

    let logs = captured.text();
    assert!(logs.lines().count() > 10, "the paths above should log: {logs}");
    for needle in ["SECRET", csrf.as_str(), verifier.as_str()] {
        assert!(!logs.contains(needle), "a log line contains a secret ({needle}):\n{logs}");
    }
}
