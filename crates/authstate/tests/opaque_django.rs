//! The OpaqueToken backend against a real Django REST framework server with
//! django-rest-knox and the Notechondria views (session probe, device
//! sessions, password change), started by the harness on 127.0.0.1.
//!
//! Each [`Device`] is one app install with its own stores and clock; several
//! of them sign in to the same account, as phone and laptop would.

mod common;

use std::sync::Arc;

use authstate::storage::KeyValueStore;
use authstate::{
    AccountError, AuthedClient, Change, ExpiryReason, FailureReason, ProbeResult, ProviderKind, RevocationOutcome,
    Secret, SessionError, SessionState, StateKind, TokenGrant,
};
use common::devices::{API, Device, PASSWORD, opaque};
use common::django_peer::{DjangoOptions, DjangoPeer, http_client};
use parking_lot::Mutex;

async fn peer() -> Option<DjangoPeer> {
    let peer = DjangoPeer::start(DjangoOptions::default()).await?;
    peer.create_user("alice", PASSWORD).await;
    peer.create_user("bob", PASSWORD).await;
    Some(peer)
}

/// `GET api/v1/me/` through the device's session.
async fn me(device: &Device, peer: &DjangoPeer) -> Result<u16, FailureReason> {
    let api: AuthedClient = device.api();
    api.send(api.get(peer.url("api/v1/me/"))).await.map(|r| r.status().as_u16()).map_err(|f| f.reason)
}

fn expired_reason(device: &Device) -> Option<ExpiryReason> {
    device.session.state().expiry_reason()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn login_returns_a_device_token_and_how_many_other_devices_are_signed_in() {
    let Some(peer) = peer().await else { return };
    let phone = Device::new(&peer.base_url(), opaque());
    let first = phone.login("alice").await;
    let summary = first.device.expect("the server describes the device session");
    assert_eq!((summary.other_sessions, summary.multi_device), (0, false));
    assert_eq!(summary.device_label.as_deref(), Some("test device"));
    let tokens = phone.tokens();
    assert_eq!((tokens.refresh.is_some(), tokens.expires_at), (false, None));

    let laptop = Device::new(&peer.base_url(), opaque());
    let second = laptop.login("alice").await.device.expect("device summary");
    assert_eq!((second.other_sessions, second.multi_device), (1, true));
    assert_ne!(second.session_id, summary.session_id);
    assert_eq!(laptop.session.device_summary().as_deref(), Some(&second), "the banner reads it from the session");
    assert_ne!(phone.access(), laptop.access(), "one token per device");
    assert_eq!(me(&laptop, &peer).await, Ok(200));

    // The banner survives an app restart, and signing out forgets it.
    let restarted = laptop.reopened();
    assert_eq!(restarted.session.device_summary().as_deref(), Some(&second));
    assert_eq!(me(&restarted, &peer).await, Ok(200));

    // Signing in again on the laptop retires its previous device session.
    let before = laptop.access();
    let again = laptop.login("alice").await.device.expect("device summary");
    assert_eq!(again.other_sessions, 1, "the phone, not the laptop's previous session");
    let status = http_client()
        .get(peer.url("api/v1/me/"))
        .header("Authorization", format!("Token {before}"))
        .send()
        .await
        .expect("GET me")
        .status();
    assert_eq!(status, 401, "the previous token was revoked");

    let wrong = laptop.auth.sign_in_with_password(API, "alice", &Secret::new("hunter2-not-it"), None).await;
    assert!(matches!(wrong, Err(authstate::LoginError::InvalidCredentials(_))), "{wrong:?}");
    assert!(laptop.session.is_authenticated(), "a refused login changes nothing");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_probe_expires_a_stale_token_silently_and_an_unreachable_server_changes_nothing() {
    let Some(mut peer) = peer().await else { return };
    let phone = Device::new(&peer.base_url(), opaque());
    phone.login("alice").await;
    assert_eq!(phone.session.probe().await, Ok(ProbeResult::Valid));

    peer.stop();
    let held = phone.session.state();
    assert_eq!(phone.session.probe().await, Ok(ProbeResult::Unreachable));
    assert_eq!(phone.session.state(), held, "a network failure is not a stale token");
    peer.restart().await;
    assert_eq!(phone.session.probe().await, Ok(ProbeResult::Valid), "tokens survive a server restart");

    // Another device signs every device out: the phone's token is now stale.
    let laptop = Device::new(&peer.base_url(), opaque());
    laptop.login("alice").await;
    laptop.auth.sign_out_everywhere(API).await.expect("sign out everywhere");
    assert_eq!(phone.session.probe().await, Ok(ProbeResult::Stale), "stale is an answer, not an error");
    match phone.session.state() {
        SessionState::Expired { reason: ExpiryReason::StaleToken, tokens, .. } => {
            assert_eq!(Some(&tokens), held.tokens(), "tokens are kept")
        }
        other => panic!("{other:?}"),
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_token_from_another_backend_is_stale_not_an_error() {
    let Some(render) = peer().await else { return };
    let Some(northflank) = peer().await else { return };
    let old = Device::new(&render.base_url(), opaque());
    old.login("alice").await;
    // The app is pointed at another backend with the token it saved (seed 000).
    let swapped = Device::new(&northflank.base_url(), opaque());
    let token = TokenGrant::access_only(old.access());
    swapped.session.sign_in(ProviderKind::OpaqueToken, token).expect("restore the saved token");

    assert_eq!(swapped.session.probe().await, Ok(ProbeResult::Stale));
    assert_eq!(expired_reason(&swapped), Some(ExpiryReason::StaleToken));
    assert_eq!(old.session.probe().await, Ok(ProbeResult::Valid));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn device_sessions_are_listed_without_keys_and_revoked_one_by_one() {
    let Some(peer) = peer().await else { return };
    let phone = Device::new(&peer.base_url(), opaque());
    let laptop = Device::new(&peer.base_url(), opaque());
    let bobs = Device::new(&peer.base_url(), opaque());
    phone.login("alice").await;
    let laptop_id = laptop.login("alice").await.device.and_then(|d| d.session_id).expect("session id");
    let bobs_id = bobs.login("bob").await.device.and_then(|d| d.session_id).expect("session id");

    let listed = phone.auth.device_sessions(API).await.expect("list");
    assert_eq!(listed.len(), 2);
    assert_eq!(listed.iter().filter(|s| s.is_current).count(), 1);
    assert!(listed.iter().any(|s| s.id == laptop_id && !s.is_current));
    let raw = http_client()
        .get(peer.url("api/v1/auth/sessions/"))
        .header("Authorization", format!("Token {}", phone.access()))
        .send()
        .await
        .expect("GET sessions")
        .text()
        .await
        .expect("body");
    for token in [phone.access(), laptop.access()] {
        assert!(!raw.contains(&token) && !raw.contains(&token[..8]), "the listing leaks a key: {raw}");
    }
    assert_eq!(phone.session.device_summary().map(|d| d.other_sessions), Some(1));

    // Bob's session is not Alice's to revoke: 404, and nothing happens.
    assert_eq!(phone.auth.revoke_device_session(API, bobs_id).await, Err(AccountError::NotFound));
    assert_eq!(me(&bobs, &peer).await, Ok(200));

    phone.auth.revoke_device_session(API, laptop_id).await.expect("revoke the laptop");
    assert!(phone.session.is_authenticated());
    assert_eq!(phone.session.device_summary().map(|d| (d.other_sessions, d.multi_device)), Some((0, false)));
    assert_eq!(me(&laptop, &peer).await, Err(FailureReason::AuthExpired));
    assert_eq!(expired_reason(&laptop), Some(ExpiryReason::Unauthorized));

    // Revoking this device's own session signs it out here too.
    let own = phone.session.device_summary().and_then(|d| d.session_id).expect("own id");
    phone.auth.revoke_device_session(API, own).await.expect("revoke own");
    assert_eq!(phone.session.state_kind(), StateKind::NoSession);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn logout_revokes_this_device_only() {
    let Some(mut peer) = peer().await else { return };
    let phone = Device::new(&peer.base_url(), opaque());
    let laptop = Device::new(&peer.base_url(), opaque());
    phone.login("alice").await;
    laptop.login("alice").await;
    let phones_token = phone.access();

    let report = phone.auth.sign_out(API).await.expect("sign out");
    assert_eq!(report.revocation, RevocationOutcome::Revoked);
    assert_eq!(phone.session.state_kind(), StateKind::NoSession);
    assert!(phone.secrets.is_empty());
    assert_eq!(phone.session.device_summary(), None);
    assert_eq!(phone.reopened().session.device_summary(), None, "the saved summary is deleted too");
    let saved = KeyValueStore::keys(&phone.values, "authstate.device.").expect("keys");
    assert!(saved.is_empty(), "{saved:?}");
    let dead = http_client()
        .get(peer.url("api/v1/me/"))
        .header("Authorization", format!("Token {phones_token}"))
        .send()
        .await
        .expect("GET me");
    assert_eq!(dead.status(), 401);

    assert_eq!(laptop.session.probe().await, Ok(ProbeResult::Valid));
    assert_eq!(me(&laptop, &peer).await, Ok(200));
    assert!(laptop.session.is_authenticated());

    // Unreachable: signed out here all the same.
    peer.stop();
    let report = laptop.auth.sign_out(API).await.expect("sign out");
    assert!(matches!(report.revocation, RevocationOutcome::Failed(_)), "{report:?}");
    assert_eq!(laptop.session.state_kind(), StateKind::NoSession);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn logout_everywhere_expires_every_other_device_on_next_use() {
    let Some(mut peer) = peer().await else { return };
    let devices: Vec<Device> = (0..3).map(|_| Device::new(&peer.base_url(), opaque())).collect();
    for device in &devices {
        device.login("alice").await;
    }

    peer.stop();
    let offline = devices[0].auth.sign_out_everywhere(API).await;
    assert!(matches!(offline, Err(AccountError::TryLater { .. })), "{offline:?}");
    assert!(devices[0].session.is_authenticated(), "nothing changes when the server cannot be reached");
    peer.restart().await;

    devices[0].auth.sign_out_everywhere(API).await.expect("sign out everywhere");
    assert_eq!(devices[0].session.state_kind(), StateKind::NoSession);
    for other in &devices[1..] {
        assert!(other.session.is_authenticated(), "nothing happens until the next use");
        assert_eq!(me(other, &peer).await, Err(FailureReason::AuthExpired));
        assert_eq!(expired_reason(other), Some(ExpiryReason::Unauthorized));
        assert!(matches!(other.session.fresh_access_token().await, Err(SessionError::SignInRequired { .. })));
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_password_change_keeps_this_device_signed_in_with_a_fresh_token() {
    let Some(peer) = peer().await else { return };
    let phone = Device::new(&peer.base_url(), opaque());
    let laptop = Device::new(&peer.base_url(), opaque());
    phone.login("alice").await;
    laptop.login("alice").await;
    let old = phone.access();
    let seen = Arc::new(Mutex::new(Vec::new()));
    let recorder = Arc::clone(&seen);
    let _subscription = phone.auth.manager().subscribe(Arc::new(move |change: &Change| {
        recorder.lock().push(change.state);
    }));

    let refused = phone.auth.change_password(API, &Secret::new("not-the-password"), &Secret::new("new-pass-1")).await;
    let Err(AccountError::Refused(detail)) = &refused else { panic!("{refused:?}") };
    assert!(!detail.contains("not-the-password") && !detail.contains("new-pass-1"), "{detail}");
    assert_eq!(phone.access(), old);

    let outcome = phone
        .auth
        .change_password(API, &Secret::new(PASSWORD), &Secret::new("new-pass-1"))
        .await
        .expect("change the password");
    assert!(outcome.persisted);
    assert_ne!(phone.access(), old, "the fresh token replaced the stored one");
    assert!(phone.session.is_authenticated());
    let seen = seen.lock().clone();
    assert!(!seen.is_empty() && seen.iter().all(|s| *s == StateKind::Active), "never through NoSession: {seen:?}");
    assert_eq!(me(&phone, &peer).await, Ok(200));
    let dead = http_client()
        .get(peer.url("api/v1/me/"))
        .header("Authorization", format!("Token {old}"))
        .send()
        .await
        .expect("GET me");
    assert_eq!(dead.status(), 401, "the old token died");
    assert_eq!(laptop.session.probe().await, Ok(ProbeResult::Stale), "other devices are signed out");
}
