//! The real OpenID provider used by the integration tests works as the
//! harness promises: login, code exchange, userinfo, refresh, request counts,
//! denial, any loopback port, revocation, and state surviving a restart.

mod common;

use common::oidc_peer::{OidcPeer, PeerOptions, drive_login, drive_login_deny};
use oauth2::{PkceCodeChallenge, PkceCodeVerifier};
use reqwest::StatusCode;
use serde_json::Value;
use url::Url;

/// An authorization URL for the test client, with a fresh PKCE S256 pair.
fn authorization_url(peer: &OidcPeer, redirect_uri: &str, state: &str) -> (String, PkceCodeVerifier) {
    let (challenge, verifier) = PkceCodeChallenge::new_random_sha256();
    let mut url = Url::parse(&peer.endpoints().authorization).expect("authorization endpoint");
    url.query_pairs_mut()
        .append_pair("client_id", peer.client_id())
        .append_pair("response_type", "code")
        .append_pair("scope", "openid offline_access")
        .append_pair("prompt", "consent")
        .append_pair("redirect_uri", redirect_uri)
        .append_pair("state", state)
        .append_pair("code_challenge", challenge.as_str())
        .append_pair("code_challenge_method", "S256");
    (url.into(), verifier)
}

fn query(url: &str, name: &str) -> Option<String> {
    let url = Url::parse(url).expect("callback URL");
    url.query_pairs().find(|(k, _)| k == name).map(|(_, v)| v.into_owned())
}

/// A plain form POST to the token endpoint.
async fn token_request(peer: &OidcPeer, form: &[(&str, &str)]) -> (StatusCode, Value) {
    let _ = rustls::crypto::ring::default_provider().install_default();
    let response = common::oidc_peer::http_client(false)
        .post(&peer.endpoints().token)
        .form(form)
        .send()
        .await
        .expect("POST token");
    let status = response.status();
    (status, response.json().await.expect("token response is JSON"))
}

async fn login(peer: &OidcPeer, redirect_uri: &str, user: &str) -> Value {
    let (auth_url, verifier) = authorization_url(peer, redirect_uri, "s-123");
    let callback = drive_login(&auth_url, user).await;
    assert!(callback.starts_with(redirect_uri), "callback {callback}");
    assert_eq!(query(&callback, "state").as_deref(), Some("s-123"));
    assert_eq!(query(&callback, "iss"), Some(peer.issuer()));
    let code = query(&callback, "code").unwrap_or_else(|| panic!("no code in {callback}"));
    let (status, body) = token_request(
        peer,
        &[
            ("grant_type", "authorization_code"),
            ("client_id", peer.client_id()),
            ("code", &code),
            ("redirect_uri", redirect_uri),
            ("code_verifier", verifier.secret()),
        ],
    )
    .await;
    assert_eq!(status, StatusCode::OK, "code exchange: {body}\n{}", peer.log());
    body
}

async fn refresh(peer: &OidcPeer, refresh_token: &str) -> (StatusCode, Value) {
    token_request(
        peer,
        &[("grant_type", "refresh_token"), ("client_id", peer.client_id()), ("refresh_token", refresh_token)],
    )
    .await
}

fn field<'a>(body: &'a Value, name: &str) -> &'a str {
    body[name].as_str().unwrap_or_else(|| panic!("no {name} in {body}"))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn login_refresh_and_restart() {
    let Some(mut peer) = OidcPeer::start(PeerOptions::default()).await else { return };

    let tokens = login(&peer, &peer.redirect_uri(), "alice").await;
    let access = field(&tokens, "access_token");
    let first_refresh = field(&tokens, "refresh_token");
    field(&tokens, "id_token");
    assert_eq!(tokens["expires_in"], 60);

    let userinfo = peer.userinfo(access).await;
    assert_eq!(userinfo.status(), StatusCode::OK);
    let claims: Value = userinfo.json().await.expect("userinfo JSON");
    assert_eq!(claims["sub"], "alice");

    let (status, refreshed) = refresh(&peer, first_refresh).await;
    assert_eq!(status, StatusCode::OK, "refresh: {refreshed}");
    let newest_refresh = field(&refreshed, "refresh_token").to_owned();
    assert_ne!(newest_refresh, first_refresh, "refresh tokens rotate");
    field(&refreshed, "id_token");

    let counts = peer.counts().await;
    assert_eq!((counts.token, counts.revocation, counts.userinfo), (2, 0, 1));

    peer.stop();
    let refused = common::oidc_peer::http_client(false).get(peer.issuer()).send().await;
    assert!(refused.as_ref().is_err_and(reqwest::Error::is_connect), "stopped peer answered: {refused:?}");

    peer.restart().await;
    let (status, after) = refresh(&peer, &newest_refresh).await;
    assert_eq!(status, StatusCode::OK, "refresh after restart: {after}\n{}", peer.log());
    let access = field(&after, "access_token");
    assert_eq!(peer.userinfo(access).await.status(), StatusCode::OK);
    assert_eq!(peer.counts().await.token, 1, "counts restart with the process");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn deny_any_loopback_port_and_revocation() {
    let opts = PeerOptions { access_token_ttl_secs: 5, ..PeerOptions::default() };
    let Some(peer) = OidcPeer::start(opts).await else { return };

    // A native client's loopback redirect URI may carry any port (RFC 8252).
    let with_port = "http://127.0.0.1:49152/callback";
    let (auth_url, _) = authorization_url(&peer, with_port, "deny");
    let denied = drive_login_deny(&auth_url).await;
    assert!(denied.starts_with(with_port), "{denied}");
    assert_eq!(query(&denied, "error").as_deref(), Some("access_denied"));
    assert_eq!(query(&denied, "state").as_deref(), Some("deny"));

    let tokens = login(&peer, with_port, "bob").await;
    assert_eq!(tokens["expires_in"], 5);
    peer.reset_counts().await;
    peer.revoke_at_provider(field(&tokens, "refresh_token")).await;
    let (status, body) = refresh(&peer, field(&tokens, "refresh_token")).await;
    assert_eq!((status, field(&body, "error")), (StatusCode::BAD_REQUEST, "invalid_grant"));
    let counts = peer.counts().await;
    assert_eq!((counts.token, counts.revocation, counts.userinfo), (1, 1, 0));

    // Not a loopback IP: rejected before any interaction.
    let (auth_url, _) = authorization_url(&peer, "http://localhost:49152/callback", "x");
    let response = common::oidc_peer::http_client(false).get(&auth_url).send().await.expect("GET auth");
    assert_eq!(response.status(), StatusCode::BAD_REQUEST);
}
