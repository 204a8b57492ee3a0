//! Endpoint paths across the FFI (DESIGN.md invariant 15, issue #13): every
//! path of the core's hostile corpus is refused in every field of
//! `add_token_pair_server` and `add_opaque_token_server` with
//! `InvalidInput`, and nothing is stored; the ordinary corpus is accepted.

#[path = "../../authstate/tests/common/endpoint_corpus.rs"]
mod endpoint_corpus;

use std::sync::Arc;

use authstate_ffi::{
    AuthError, OpaqueTokenSettings, ServerManager, TokenPairSettings, device_token_settings, simplejwt_settings,
};
use endpoint_corpus::Case;

const URL: &str = "https://api.example/tenant-a/";

fn manager() -> Arc<ServerManager> {
    ServerManager::in_memory().expect("in-memory manager")
}

/// Every TokenPair field set to `path`, one at a time.
fn token_pair_settings(path: &str) -> Vec<(&'static str, TokenPairSettings)> {
    let base = || simplejwt_settings("api/token/".into());
    let p = || path.to_owned();
    vec![
        ("login_path", TokenPairSettings { login_path: p(), ..base() }),
        ("refresh_path", TokenPairSettings { refresh_path: p(), ..base() }),
        ("logout_path", TokenPairSettings { logout_path: Some(p()), ..base() }),
    ]
}

/// Every OpaqueToken field set to `path`, one at a time.
fn opaque_settings(path: &str) -> Vec<(&'static str, OpaqueTokenSettings)> {
    let base = || device_token_settings("api/v1/auth/".into());
    let p = || path.to_owned();
    vec![
        ("login_path", OpaqueTokenSettings { login_path: p(), ..base() }),
        ("probe_path", OpaqueTokenSettings { probe_path: p(), ..base() }),
        ("logout_path", OpaqueTokenSettings { logout_path: p(), ..base() }),
        ("sessions_path", OpaqueTokenSettings { sessions_path: Some(p()), ..base() }),
        ("logout_all_path", OpaqueTokenSettings { logout_all_path: Some(p()), ..base() }),
        ("password_path", OpaqueTokenSettings { password_path: Some(p()), ..base() }),
    ]
}

#[test]
fn every_hostile_path_is_invalid_input_in_every_field() {
    let m = manager();
    let cases = endpoint_corpus::hostile();
    assert!(cases.len() >= 60, "only {} hostile paths", cases.len());
    let mut wrong = Vec::new();
    for Case { path, why } in cases {
        for (field, settings) in token_pair_settings(&path) {
            match m.add_token_pair_server(URL.into(), settings, None) {
                Err(AuthError::InvalidInput { detail }) if detail.contains("endpoint path") => {}
                other => wrong.push(format!("token pair {field} {path:?} ({why}): {other:?}")),
            }
        }
        for (field, settings) in opaque_settings(&path) {
            match m.add_opaque_token_server(URL.into(), settings, None) {
                Err(AuthError::InvalidInput { detail }) if detail.contains("endpoint path") => {}
                other => wrong.push(format!("opaque {field} {path:?} ({why}): {other:?}")),
            }
        }
        // The layout functions build paths from a prefix: a hostile prefix
        // gives settings that are refused too.
        let prefixed = if path.ends_with('/') { path.clone() } else { format!("{path}/") };
        let simplejwt = m.add_token_pair_server(URL.into(), simplejwt_settings(prefixed.clone()), None);
        if !matches!(simplejwt, Err(AuthError::InvalidInput { .. })) {
            wrong.push(format!("simplejwt_settings({prefixed:?}) ({why}): {simplejwt:?}"));
        }
        let device = m.add_opaque_token_server(URL.into(), device_token_settings(prefixed.clone()), None);
        if !matches!(device, Err(AuthError::InvalidInput { .. })) {
            wrong.push(format!("device_token_settings({prefixed:?}) ({why}): {device:?}"));
        }
    }
    assert!(wrong.is_empty(), "{} hostile settings not refused as invalid input:\n{}", wrong.len(), wrong.join("\n"));
    assert!(m.servers().is_empty(), "nothing was stored");
}

#[test]
fn ordinary_paths_are_accepted_in_every_field() {
    let m = manager();
    let mut n = 0;
    let mut next = || {
        n += 1;
        (format!("https://api{n}.example/tenant-a/"), Some(format!("s{n}")))
    };
    for Case { path, why } in endpoint_corpus::ordinary() {
        for (field, settings) in token_pair_settings(&path) {
            let (url, alias) = next();
            let added = m.add_token_pair_server(url, settings, alias);
            assert!(added.is_ok(), "token pair {field} {path:?} ({why}): {added:?}");
        }
        for (field, settings) in opaque_settings(&path) {
            let (url, alias) = next();
            let added = m.add_opaque_token_server(url, settings, alias);
            assert!(added.is_ok(), "opaque {field} {path:?} ({why}): {added:?}");
        }
    }
}
