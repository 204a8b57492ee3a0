//! Sessions in the Linux kernel keyring (keyutils) survive a restart and are
//! deleted by logout (DESIGN.md invariant 10).
//!
//! Ignored by default: it writes to the caller's session keyring. Run it in a
//! throw-away session keyring, as `cargo xtask` does:
//!
//! ```text
//! keyctl session - cargo test -p authstate --features keyutils --test keyring_linux -- --include-ignored
//! ```
#![cfg(all(target_os = "linux", feature = "keyutils"))]

use std::sync::Arc;

use authstate::model::OidcConfig;
use authstate::storage::{KeyringSecretStore, MemoryStore, SecretStore, StorageError};
use authstate::{ManagerConfig, ManualClock, Provider, ProviderKind, Secret, ServerManager, SessionState, TokenGrant};

const TOKENS_KEY: &str = "authstate.tokens.kr";

fn open(secrets: &Arc<KeyringSecretStore>, kv: &MemoryStore) -> ServerManager {
    let secrets: Arc<dyn SecretStore> = secrets.clone();
    let config = ManagerConfig::new(secrets, Arc::new(kv.clone())).with_clock(Arc::new(ManualClock::at_epoch()));
    ServerManager::open(config).expect("open manager over the kernel keyring")
}

fn assert_active_with(state: SessionState, access: &str, refresh: &str) {
    match state {
        SessionState::Active { provider: ProviderKind::Oidc, tokens } => {
            assert_eq!(tokens.access.expose(), access);
            assert_eq!(tokens.refresh.as_ref().map(Secret::expose), Some(refresh));
            assert_eq!(tokens.expires_at, Some(time::macros::datetime!(2026-01-01 00:15:00 UTC)));
        }
        other => panic!("expected Active, got {:?}", other.kind()),
    }
}

#[test]
#[ignore = "uses the session keyring: run under `keyctl session -` (cargo xtask does)"]
fn session_survives_restart_in_kernel_keyring_and_logout_deletes_it() {
    let service = format!("authstate-test-{}", std::process::id());
    let secrets = Arc::new(KeyringSecretStore::linux_keyutils(&service).expect("kernel keyring available"));
    // Start clean even if an earlier run with the same pid died half-way.
    secrets.delete(TOKENS_KEY).expect("delete a missing key succeeds");
    let kv = MemoryStore::new();
    let (access, refresh) = (format!("kr-access-{service}"), format!("kr-refresh-{service}"));

    let first = open(&secrets, &kv);
    let session = first
        .add_server(
            "https://keyring.example.com/",
            Some("kr"),
            Provider::Oidc(OidcConfig {
                issuer: "https://id.keyring.example.com".into(),
                client_id: "kr-app".into(),
                redirect_uri: "com.example.kr:/cb".into(),
                scopes: vec![],
            }),
        )
        .unwrap();
    session
        .sign_in(
            ProviderKind::Oidc,
            TokenGrant {
                access: Secret::new(&access),
                refresh: Some(Secret::new(&refresh)),
                id_token: None,
                expires_in: Some(900),
            },
        )
        .expect("tokens written to the kernel keyring");
    let stored = secrets.get(TOKENS_KEY).expect("tokens are in the keyring");
    assert!(stored.contains(&access) && stored.contains(&refresh));
    for key in kv.all_keys() {
        let value = authstate::storage::KeyValueStore::get(&kv, &key).unwrap();
        assert!(!value.contains(&access) && !value.contains(&refresh), "token in the key-value store under {key}");
    }
    drop((session, first));

    // A restart: a new manager over the same stores.
    let second = open(&secrets, &kv);
    assert!(second.restore_report().corrupt.is_empty(), "{:?}", second.restore_report());
    let session = second.session("kr").expect("server restored");
    assert_active_with(session.state(), &access, &refresh);

    session.logout().expect("logout persisted");
    assert_eq!(session.state(), SessionState::NoSession);
    match secrets.get(TOKENS_KEY) {
        Err(StorageError::NotFound(_)) => {}
        other => panic!("tokens still in the keyring after logout: {:?}", other.map(|_| "<a value>")),
    }

    // And a restart after logout finds a known server without secrets.
    let third = open(&secrets, &kv);
    assert_eq!(third.session("kr").expect("server still known").state(), SessionState::NoSession);
    assert!(matches!(secrets.get(TOKENS_KEY), Err(StorageError::NotFound(_))));
}
