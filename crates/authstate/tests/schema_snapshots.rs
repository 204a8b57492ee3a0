//! The persisted shape of sessions, frozen (DESIGN.md invariants 10 and 12).
//!
//! What the manager writes for an `Active`, an `Expired` and a `NoSession`
//! server is compared with the files under `tests/snapshots/`: a change of the
//! persisted shape fails here and must come with a schema decision (a new
//! `#[serde(default)]` field, or a new `schema_version`). Run with
//! `AUTHSTATE_UPDATE_SNAPSHOTS=1` to rewrite the files after such a decision.
//!
//! Records written by older builds, newer builds, and damaged ones are read
//! back through `ServerManager::open`, and a locked secret store is an error,
//! never an empty store.

use std::path::PathBuf;
use std::sync::Arc;

use authstate::model::{OidcConfig, OpaqueTokenConfig, RefreshRequestShape, TokenPairConfig};
use authstate::storage::{KeyValueStore, MemoryStore, SecretStore, StorageError};
use authstate::{
    ExpiryReason, ManagerConfig, ManagerError, ManualClock, Provider, ProviderKind, Secret, ServerManager,
    SessionState, TokenGrant,
};
use serde_json::Value;

const UPDATE_ENV: &str = "AUTHSTATE_UPDATE_SNAPSHOTS";

/// Every secret the fixtures sign in with: none may reach the key-value store.
const SECRETS: [&str; 5] = [
    "access-active-0123456789",
    "refresh-active-0123456789",
    "id-token-active-0123456789",
    "access-expired-0123456789",
    "refresh-expired-0123456789",
];

fn snapshot_dir() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests").join("snapshots")
}

fn manager(secrets: &MemoryStore, kv: &MemoryStore) -> Result<ServerManager, ManagerError> {
    let config = ManagerConfig::new(Arc::new(secrets.clone()), Arc::new(kv.clone()))
        .with_clock(Arc::new(ManualClock::at_epoch()));
    ServerManager::open(config)
}

fn oidc() -> Provider {
    Provider::Oidc(OidcConfig {
        issuer: "https://id.example.com/realms/main".into(),
        client_id: "notes-app".into(),
        redirect_uri: "com.example.notes:/oauth/callback".into(),
        scopes: vec!["profile".into(), "email".into()],
    })
}

fn token_pair() -> Provider {
    Provider::TokenPair(TokenPairConfig {
        login_path: "api/token/".into(),
        refresh_path: "api/token/refresh/".into(),
        refresh_shape: RefreshRequestShape::JsonBody { field: "refresh".into() },
        logout_path: Some("api/token/blacklist/".into()),
    })
}

fn opaque() -> Provider {
    Provider::OpaqueToken(OpaqueTokenConfig {
        login_path: "api/auth/login/".into(),
        probe_path: "api/auth/session/".into(),
        logout_path: "api/auth/logout/".into(),
        sessions_path: None,
        logout_all_path: None,
        password_path: None,
    })
}

/// Three servers, one per state, written through the public API only.
fn populated() -> (MemoryStore, MemoryStore) {
    let (secrets, kv) = (MemoryStore::new(), MemoryStore::new());
    let m = manager(&secrets, &kv).unwrap();

    let active = m.add_server("https://notes.example.com/api", Some("active"), oidc()).unwrap();
    active
        .sign_in(
            ProviderKind::Oidc,
            TokenGrant {
                access: Secret::new(SECRETS[0]),
                refresh: Some(Secret::new(SECRETS[1])),
                id_token: Some(Secret::new(SECRETS[2])),
                expires_in: Some(3600),
            },
        )
        .unwrap();

    let expired = m.add_server("https://shop.example.org/", Some("expired"), token_pair()).unwrap();
    expired
        .sign_in(
            ProviderKind::TokenPair,
            TokenGrant {
                access: Secret::new(SECRETS[3]),
                refresh: Some(Secret::new(SECRETS[4])),
                id_token: None,
                expires_in: None,
            },
        )
        .unwrap();
    expired.mark_expired(ExpiryReason::Marked).unwrap();

    let signed_out = m.add_server("http://127.0.0.1:8000/", Some("signed-out"), opaque()).unwrap();
    signed_out.sign_in(ProviderKind::OpaqueToken, TokenGrant::access_only("opaque-token-0123456789")).unwrap();
    signed_out.logout().unwrap();
    (secrets, kv)
}

fn json(text: &str, what: &str) -> Value {
    serde_json::from_str(text).unwrap_or_else(|e| panic!("{what} is not JSON: {e}\n{text}"))
}

fn pretty(value: &Value) -> String {
    let mut text = serde_json::to_string_pretty(value).unwrap();
    text.push('\n');
    text
}

/// Compares `actual` with the snapshot `name`, or writes it when updating.
fn assert_snapshot(name: &str, actual: &Value) {
    let path = snapshot_dir().join(name);
    if std::env::var_os(UPDATE_ENV).is_some_and(|v| v == "1") {
        std::fs::create_dir_all(snapshot_dir()).unwrap();
        std::fs::write(&path, pretty(actual)).unwrap();
        return;
    }
    let frozen = std::fs::read_to_string(&path)
        .unwrap_or_else(|e| panic!("snapshot {} missing ({e}); run with {UPDATE_ENV}=1", path.display()));
    let frozen = json(&frozen, &path.display().to_string());
    assert!(
        &frozen == actual,
        "persisted shape drifted from {}\n--- frozen ---\n{}--- actual ---\n{}If the change is intended (and old \
         records still load), rerun with {UPDATE_ENV}=1.",
        path.display(),
        pretty(&frozen),
        pretty(actual)
    );
}

#[test]
fn persisted_records_match_frozen_snapshots() {
    let (secrets, kv) = populated();

    assert_snapshot(
        "keys.json",
        &serde_json::json!({ "key_value_store": kv.all_keys(), "secret_store": secrets.all_keys() }),
    );
    for alias in ["active", "expired", "signed-out"] {
        let record = KeyValueStore::get(&kv, &format!("authstate.server.{alias}")).unwrap();
        assert_snapshot(&format!("{alias}.server.json"), &json(&record, "server record"));
    }
    for alias in ["active", "expired"] {
        let tokens = SecretStore::get(&secrets, &format!("authstate.tokens.{alias}")).unwrap();
        assert_snapshot(&format!("{alias}.tokens.json"), &json(&tokens, "tokens record"));
    }
    assert!(
        matches!(SecretStore::get(&secrets, "authstate.tokens.signed-out"), Err(StorageError::NotFound(_))),
        "a signed-out server keeps no secrets"
    );
}

#[test]
fn tokens_are_only_in_the_secret_store() {
    let (secrets, kv) = populated();
    let all_secrets: Vec<&str> = SECRETS.iter().copied().chain(["opaque-token-0123456789"]).collect();
    for key in kv.all_keys() {
        let value = KeyValueStore::get(&kv, &key).unwrap();
        for secret in &all_secrets {
            assert!(!key.contains(secret) && !value.contains(secret), "a token is in the key-value store under {key}");
        }
    }
    for key in secrets.all_keys() {
        assert!(key.starts_with("authstate.tokens."), "unexpected secret-store key {key}");
        assert!(!all_secrets.iter().any(|s| key.contains(s)), "a token is in a secret-store key");
    }
    // And the secret store does hold the live tokens.
    let active = SecretStore::get(&secrets, "authstate.tokens.active").unwrap();
    assert!(SECRETS[..3].iter().all(|s| active.contains(s)));
}

#[test]
fn snapshots_restore_as_they_were_written() {
    let (secrets, kv) = populated();
    let m = manager(&secrets, &kv).unwrap();
    assert_eq!(m.restore_report().restored, 3);
    assert!(m.restore_report().is_clean(), "{:?}", m.restore_report());
    let state = |alias: &str| m.session(alias).unwrap().state();
    match state("active") {
        SessionState::Active { provider: ProviderKind::Oidc, tokens } => {
            assert_eq!(tokens.access.expose(), SECRETS[0]);
            assert_eq!(tokens.refresh.as_ref().map(Secret::expose), Some(SECRETS[1]));
            assert_eq!(tokens.id_token.as_ref().map(Secret::expose), Some(SECRETS[2]));
            assert_eq!(tokens.received_at, time::macros::datetime!(2026-01-01 00:00:00 UTC));
            assert_eq!(tokens.expires_at, Some(time::macros::datetime!(2026-01-01 01:00:00 UTC)));
        }
        other => panic!("active restored as {:?}", other.kind()),
    }
    match state("expired") {
        SessionState::Expired { provider: ProviderKind::TokenPair, tokens, reason: ExpiryReason::Marked } => {
            assert_eq!(tokens.access.expose(), SECRETS[3]);
            assert_eq!(tokens.refresh.as_ref().map(Secret::expose), Some(SECRETS[4]));
            assert_eq!(tokens.expires_at, None);
        }
        other => panic!("expired restored as {:?}", other.kind()),
    }
    assert_eq!(state("signed-out"), SessionState::NoSession);
    assert_eq!(m.session("signed-out").unwrap().info().provider, opaque());
}

// ---------------------------------------------------------------------------
// Records written by other builds, and damaged ones.
// ---------------------------------------------------------------------------

/// A v1 record as the first release wrote it: no `schema_version`, no
/// `expiry_reason`, no `scopes`. Hand-written, never regenerated.
const LEGACY_EXPIRED_RECORD: &str = r#"{
  "id": "https://legacy.example.com/",
  "alias": "legacy",
  "provider": {
    "kind": "oidc",
    "issuer": "https://id.legacy.example.com",
    "client_id": "legacy-app",
    "redirect_uri": "com.example.legacy:/cb"
  },
  "session": "expired"
}"#;

const LEGACY_ACTIVE_RECORD: &str = r#"{
  "id": "https://old.example.com/",
  "alias": "old",
  "provider": {
    "kind": "token_pair",
    "login_path": "api/token/",
    "refresh_path": "api/token/refresh/"
  },
  "session": "active"
}"#;

/// v1 tokens without `schema_version` and without the optional token fields.
const LEGACY_TOKENS: &str = r#"{
  "provider": "oidc",
  "tokens": { "access": "legacy-access", "received_at": "2025-06-01T12:00:00Z" }
}"#;

const LEGACY_ACTIVE_TOKENS: &str = r#"{
  "provider": "token_pair",
  "tokens": {
    "access": "old-access",
    "refresh": "old-refresh",
    "received_at": "2025-06-01T12:00:00Z",
    "expires_at": "2025-06-01T12:05:00Z"
  }
}"#;

fn put_kv(kv: &MemoryStore, key: &str, value: &str) {
    KeyValueStore::set(kv, key, value).unwrap();
}

fn put_secret(secrets: &MemoryStore, key: &str, value: &str) {
    SecretStore::set(secrets, key, value).unwrap();
}

#[test]
fn v1_records_without_optional_fields_still_load() {
    let (secrets, kv) = (MemoryStore::new(), MemoryStore::new());
    put_kv(&kv, "authstate.server.legacy", LEGACY_EXPIRED_RECORD);
    put_secret(&secrets, "authstate.tokens.legacy", LEGACY_TOKENS);
    put_kv(&kv, "authstate.server.old", LEGACY_ACTIVE_RECORD);
    put_secret(&secrets, "authstate.tokens.old", LEGACY_ACTIVE_TOKENS);

    let m = manager(&secrets, &kv).unwrap();
    assert_eq!(m.restore_report().restored, 2);
    assert!(m.restore_report().is_clean(), "{:?}", m.restore_report());

    let legacy = m.session("legacy").expect("legacy server restored");
    assert_eq!(legacy.info().id.as_str(), "https://legacy.example.com/");
    match &legacy.info().provider {
        Provider::Oidc(c) => {
            assert_eq!(c.client_id, "legacy-app");
            assert!(c.scopes.is_empty(), "missing scopes default to none");
        }
        other => panic!("legacy provider {other:?}"),
    }
    match legacy.state() {
        SessionState::Expired { provider: ProviderKind::Oidc, tokens, reason } => {
            assert_eq!(reason, ExpiryReason::Marked, "a missing expiry_reason reads as Marked");
            assert_eq!(tokens.access.expose(), "legacy-access");
            assert_eq!(tokens.refresh, None);
            assert_eq!(tokens.id_token, None);
            assert_eq!(tokens.expires_at, None);
            assert_eq!(tokens.received_at, time::macros::datetime!(2025-06-01 12:00:00 UTC));
        }
        other => panic!("legacy restored as {:?}", other.kind()),
    }

    let old = m.session("old").expect("old server restored");
    match &old.info().provider {
        Provider::TokenPair(c) => {
            assert_eq!(c.refresh_shape, RefreshRequestShape::JsonBody { field: "refresh".into() });
            assert_eq!(c.logout_path, None);
        }
        other => panic!("old provider {other:?}"),
    }
    match old.state() {
        SessionState::Active { provider: ProviderKind::TokenPair, tokens } => {
            assert_eq!(tokens.access.expose(), "old-access");
            assert_eq!(tokens.refresh.as_ref().map(Secret::expose), Some("old-refresh"));
            assert_eq!(tokens.expires_at, Some(time::macros::datetime!(2025-06-01 12:05:00 UTC)));
        }
        other => panic!("old restored as {:?}", other.kind()),
    }
}

#[test]
fn record_from_a_newer_schema_is_skipped_and_reported() {
    let (secrets, kv) = populated();
    let mut future: Value = json(LEGACY_EXPIRED_RECORD, "legacy record");
    future["schema_version"] = 99.into();
    future["alias"] = "future".into();
    future["id"] = "https://future.example.com/".into();
    future["some_field_from_the_future"] = serde_json::json!({ "x": 1 });
    put_kv(&kv, "authstate.server.future", &future.to_string());
    put_secret(&secrets, "authstate.tokens.future", LEGACY_TOKENS);

    let m = manager(&secrets, &kv).unwrap();
    let report = m.restore_report();
    assert_eq!(report.corrupt, vec!["authstate.server.future".to_string()]);
    assert_eq!(report.restored, 3, "the other servers are restored");
    assert!(m.session("future").is_none(), "a record this build cannot read is not guessed at");
    assert!(m.session("active").unwrap().is_authenticated());
    // Skipped, not destroyed: a newer build can still read it.
    assert_eq!(KeyValueStore::get(&kv, "authstate.server.future").unwrap(), future.to_string());
    assert_eq!(SecretStore::get(&secrets, "authstate.tokens.future").unwrap(), LEGACY_TOKENS);
}

#[test]
fn unreadable_server_record_is_skipped_and_reported() {
    let (secrets, kv) = populated();
    put_kv(&kv, "authstate.server.broken", "{\"id\": \"https://broken.example/\", \"alias\":");
    let m = manager(&secrets, &kv).unwrap();
    assert_eq!(m.restore_report().corrupt, vec!["authstate.server.broken".to_string()]);
    assert_eq!(m.restore_report().restored, 3);
}

#[test]
fn corrupt_tokens_restore_the_server_signed_out_and_are_reported() {
    let (secrets, kv) = populated();
    put_secret(&secrets, "authstate.tokens.active", "{\"provider\": \"oidc\", \"tokens\": {\"acc");
    let m = manager(&secrets, &kv).unwrap();
    let report = m.restore_report();
    assert_eq!(report.corrupt, vec!["authstate.tokens.active".to_string()]);
    assert_eq!(report.restored, 3, "the server is kept, signed out");
    assert_eq!(m.session("active").unwrap().state(), SessionState::NoSession);
    assert!(matches!(m.session("expired").unwrap().state(), SessionState::Expired { .. }));
}

#[test]
fn tokens_from_a_newer_schema_restore_signed_out_and_are_reported() {
    let (secrets, kv) = populated();
    let mut tokens = json(&SecretStore::get(&secrets, "authstate.tokens.expired").unwrap(), "tokens");
    tokens["schema_version"] = 99.into();
    put_secret(&secrets, "authstate.tokens.expired", &tokens.to_string());
    let m = manager(&secrets, &kv).unwrap();
    assert_eq!(m.restore_report().corrupt, vec!["authstate.tokens.expired".to_string()]);
    assert_eq!(m.session("expired").unwrap().state(), SessionState::NoSession);
    assert!(m.session("active").unwrap().is_authenticated());
}

/// Invariant 12: a locked secret store fails the open; it is never read as
/// empty, and the session is intact once the store is available again.
#[test]
fn locked_secret_store_fails_open_and_loses_nothing() {
    let (secrets, kv) = populated();
    let before_secrets: Vec<(String, String)> =
        secrets.all_keys().into_iter().map(|k| (k.clone(), SecretStore::get(&secrets, &k).unwrap())).collect();

    secrets.set_unavailable(true);
    match manager(&secrets, &kv) {
        Err(ManagerError::Storage(StorageError::Unavailable(_))) => {}
        other => panic!("open over a locked secret store: {other:?}"),
    }
    secrets.set_unavailable(false);

    let after: Vec<(String, String)> =
        secrets.all_keys().into_iter().map(|k| (k.clone(), SecretStore::get(&secrets, &k).unwrap())).collect();
    assert_eq!(after, before_secrets, "a failed open changes nothing");
    let m = manager(&secrets, &kv).unwrap();
    assert_eq!(m.restore_report().restored, 3);
    assert!(m.restore_report().is_clean(), "{:?}", m.restore_report());
    match m.session("active").unwrap().state() {
        SessionState::Active { tokens, .. } => {
            assert_eq!(tokens.access.expose(), SECRETS[0]);
            assert_eq!(tokens.refresh.as_ref().map(Secret::expose), Some(SECRETS[1]));
            assert_eq!(tokens.id_token.as_ref().map(Secret::expose), Some(SECRETS[2]));
        }
        other => panic!("active restored as {:?}", other.kind()),
    }
    assert!(matches!(m.session("expired").unwrap().state(), SessionState::Expired { .. }));
}

#[test]
fn unavailable_key_value_store_fails_open() {
    let (secrets, kv) = populated();
    kv.set_unavailable(true);
    assert!(matches!(manager(&secrets, &kv), Err(ManagerError::Storage(StorageError::Unavailable(_)))));
    kv.set_unavailable(false);
    assert!(manager(&secrets, &kv).unwrap().session("active").unwrap().is_authenticated());
}
