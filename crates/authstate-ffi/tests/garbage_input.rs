//! Garbage at every FFI entry point gets a typed error, never a panic:
//! bad URLs, empty strings, 1 MB strings, control characters, extreme times.

use std::sync::Arc;

use authstate_ffi::{
    AuthError, CancelToken, GuardDecision, ManagerOptions, ManualClock, PreAuthState, ProviderKind, ServerManager,
    validate_return_to,
};

const ISSUER: &str = "https://idp.example";

fn garbage() -> Vec<String> {
    vec![
        String::new(),
        " ".into(),
        "not a url".into(),
        "\u{0}\u{7}\r\n".into(),
        "javascript:alert(1)".into(),
        "https://".into(),
        "http://[::1".into(),
        "x".repeat(1 << 20),
        format!("https://{}.example", "a".repeat(1 << 20)),
    ]
}

fn manager() -> Arc<ServerManager> {
    ServerManager::in_memory().expect("in-memory manager")
}

/// A manager holding one valid server, `chat`.
fn manager_with_chat() -> Arc<ServerManager> {
    let m = manager();
    let added = m.add_oidc_server(
        "https://chat.example".into(),
        ISSUER.into(),
        "app".into(),
        "app:/cb".into(),
        Some("chat".into()),
        vec![],
    );
    added.expect("add chat");
    m
}

fn is_input_error(result: &Result<impl std::fmt::Debug, AuthError>) -> bool {
    matches!(result, Err(AuthError::InvalidInput { .. }))
}

#[test]
fn add_server_refuses_garbage_urls_with_invalid_input() {
    let m = manager();
    for bad in garbage() {
        let result = m.add_oidc_server(bad.clone(), ISSUER.into(), "app".into(), "app:/cb".into(), None, vec![]);
        assert!(is_input_error(&result), "{:.40?} gave {result:?}", bad);
    }
    assert!(m.servers().is_empty(), "nothing was added");
}

#[test]
fn add_server_refuses_garbage_provider_settings() {
    let m = manager();
    let url = || "https://chat.example".to_owned();
    for bad in garbage() {
        let issuer = m.add_oidc_server(url(), bad.clone(), "app".into(), "app:/cb".into(), None, vec![]);
        assert!(is_input_error(&issuer), "issuer {bad:.40?} gave {issuer:?}");
    }
    // Client ids and scopes are opaque tokens: anything without spaces or
    // control characters is one (`javascript:alert(1)` included), within bounds.
    for bad in [String::new(), " ".into(), "two words".into(), "\u{0}\u{7}\r\n".into(), "x".repeat(1 << 20)] {
        let client = m.add_oidc_server(url(), ISSUER.into(), bad.clone(), "app:/cb".into(), None, vec![]);
        assert!(is_input_error(&client), "client id {bad:.40?} gave {client:?}");
        let scopes = m.add_oidc_server(url(), ISSUER.into(), "app".into(), "app:/cb".into(), None, vec![bad.clone()]);
        assert!(is_input_error(&scopes), "scope {bad:.40?} gave {scopes:?}");
    }
    for bad in [String::new(), "not a url".into(), "/relative".into(), format!("app:/{}", "x".repeat(1 << 20))] {
        let redirect = m.add_oidc_server(url(), ISSUER.into(), "app".into(), bad, None, vec![]);
        assert!(is_input_error(&redirect), "{redirect:?}");
    }
    assert!(m.servers().is_empty(), "nothing was stored");
}

#[test]
fn add_server_refuses_garbage_aliases() {
    let m = manager();
    for bad in ["", " ", "a/b", "../x", "\u{0}"].map(String::from).into_iter().chain([("a".repeat(1 << 20))]) {
        let result = m.add_oidc_server(
            "https://chat.example".into(),
            ISSUER.into(),
            "app".into(),
            "app:/cb".into(),
            Some(bad),
            vec![],
        );
        assert!(is_input_error(&result), "{result:?}");
    }
}

#[test]
fn lookups_by_garbage_alias_are_unknown_server() {
    let m = manager();
    for bad in garbage() {
        assert!(matches!(m.state(bad.clone()), Err(AuthError::UnknownServer { .. })));
        assert!(matches!(m.session(bad.clone()), Err(AuthError::UnknownServer { .. })));
        assert!(matches!(
            m.remove_server(bad.clone()),
            Err(AuthError::UnknownServer { .. }) | Err(AuthError::InvalidInput { .. })
        ));
    }
}

#[test]
fn guard_never_redirects_to_garbage() {
    let m = manager();
    for bad in garbage() {
        match m.guard(bad.clone(), Some("nobody".into()), false) {
            GuardDecision::Allow => {}
            GuardDecision::Redirect { to } => {
                assert!(to.starts_with('/') && !to.starts_with("//"), "redirect {to:.60}");
                assert!(to.len() < 4096, "a 1 MB location must not be echoed into a redirect");
            }
        }
    }
}

#[test]
fn return_paths_and_preauth_refuse_garbage() {
    for bad in garbage().into_iter().chain(["https://evil.example".into(), "//evil.example".into(), "/\\evil".into()]) {
        assert!(is_input_error(&validate_return_to(bad.clone())), "{bad:.40}");
        let result = PreAuthState::new("https://chat.example".into(), ProviderKind::Oidc, Some(bad.clone()));
        assert!(is_input_error(&result.map(|_| ())), "{bad:.40}");
    }
    for bad in garbage() {
        let result = PreAuthState::new(bad.clone(), ProviderKind::Oidc, None);
        assert!(is_input_error(&result.map(|_| ())), "server {bad:.40?}");
    }
    let ok = PreAuthState::new("https://chat.example".into(), ProviderKind::Oidc, Some("/rooms/42".into()))
        .expect("a relative path is accepted");
    assert_eq!(ok.return_to().as_deref(), Some("/rooms/42"));
    assert_eq!(ok.pkce_challenge_method(), "S256");
}

#[test]
fn clocks_refuse_unrepresentable_times() {
    assert!(is_input_error(&ManualClock::new(i64::MAX).map(|_| ())));
    let clock = ManualClock::new(1_700_000_000).expect("clock");
    assert!(is_input_error(&clock.set_unix_secs(i64::MIN)));
    assert_eq!(clock.now_unix_secs(), 1_700_000_000, "a refused set leaves the time alone");
    clock.advance_secs(u32::MAX);
    assert_eq!(clock.now_unix_secs(), 1_700_000_000 + i64::from(u32::MAX));
}

#[test]
fn return_paths_across_the_ffi_follow_the_core_rules() {
    // Issue #13: whitespace and format characters after the first '/',
    // overlong UTF-8 and %u escapes, full-width dots and solidus.
    let hostile = [
        "/ /x",
        "/\u{3000}/x",
        "/\u{00AD}/x",
        "/\u{200D}/x",
        "/%c0%afevil.example",
        "/%u002f%u002fevil.example",
        "/\u{FF0E}\u{FF0E}\u{FF0F}\u{FF0F}evil.example",
        "/login?next=%2F%2Fevil.example",
    ];
    for bad in hostile {
        let refused = validate_return_to(bad.into());
        assert!(
            matches!(&refused, Err(AuthError::InvalidInput { detail }) if detail.contains("return path")),
            "{bad:?}: {refused:?}"
        );
        let pre = PreAuthState::new("https://chat.example".into(), ProviderKind::Oidc, Some(bad.into()));
        assert!(is_input_error(&pre.map(|_| ())), "{bad:?}");
    }
    let long = format!("/{}", "é".repeat(2047));
    for ok in ["/login?next=%2Fdashboard", "/فارسی\u{200C}ها", long.as_str()] {
        assert_eq!(validate_return_to(ok.into()).as_deref(), Ok(ok), "{ok:.40?}");
        let pre = PreAuthState::new("https://chat.example".into(), ProviderKind::Oidc, Some(ok.into())).expect("ok");
        assert_eq!(pre.return_to().as_deref(), Some(ok));
    }
}

/// 0001-01-01T00:00:00Z and 9999-12-31T23:59:59Z: the first and last
/// seconds the stores can write (RFC 3339 dates, four-digit years).
const FIRST_STORABLE: i64 = -62_135_596_800;
const LAST_STORABLE: i64 = 253_402_300_799;

#[test]
fn clocks_refuse_times_the_stores_cannot_write() {
    for bad in [FIRST_STORABLE - 1, -62_167_219_201, -100_000_000_000, LAST_STORABLE + 1] {
        assert!(is_input_error(&ManualClock::new(bad).map(|_| ())), "{bad}");
        let clock = ManualClock::new(1_700_000_000).expect("clock");
        assert!(is_input_error(&clock.set_unix_secs(bad)), "{bad}");
        assert_eq!(clock.now_unix_secs(), 1_700_000_000);
    }
    let late = ManualClock::new(LAST_STORABLE - 10).expect("9999");
    late.advance_secs(u32::MAX);
    assert_eq!(late.now_unix_secs(), LAST_STORABLE, "advancing stops at the last storable second");
}

#[test]
fn drafts_work_at_both_ends_of_the_storable_range() {
    for at in [FIRST_STORABLE, LAST_STORABLE] {
        let clock = ManualClock::new(at).expect("clock");
        let m = ServerManager::new(ManagerOptions::default(), None, None, Some(clock)).expect("manager");
        m.add_oidc_server("https://chat.example".into(), ISSUER.into(), "app".into(), "app:/cb".into(), None, vec![])
            .expect("add");
        let drafts = m.drafts();
        drafts.save("chat".into(), "r".into(), "unsent".into()).unwrap_or_else(|e| panic!("save at {at}: {e:?}"));
        assert_eq!(drafts.peek("chat".into(), "r".into()).expect("peek").as_deref(), Some("unsent"));
    }
}

#[test]
fn manager_options_refuse_garbage() {
    let empty = ManagerOptions { directory: Some("  ".into()), ..ManagerOptions::default() };
    assert!(is_input_error(&ServerManager::new(empty, None, None, None).map(|_| ())));
    let bad_pem = ManagerOptions { trusted_roots_pem: vec!["not a certificate".into()], ..ManagerOptions::default() };
    let result = ServerManager::new(bad_pem, None, None, None).map(|_| ());
    assert!(matches!(result, Err(AuthError::Configuration { .. })), "{result:?}");
    // Route templates that would send users off the app, or lose the server.
    for (home, sign_in) in [
        (Some("https://evil.example/"), None),
        (None, Some("//evil.example/login?server={server}")),
        (None, Some("/login?next={return_to}")),
    ] {
        let dir = tempfile::tempdir().expect("a directory");
        let store = dir.path().join("store");
        let routes = ManagerOptions {
            directory: Some(store.display().to_string()),
            home_route: home.map(str::to_owned),
            sign_in_route: sign_in.map(str::to_owned),
            ..ManagerOptions::default()
        };
        let result = ServerManager::new(routes, None, None, None).map(|_| ());
        assert!(is_input_error(&result), "{home:?} {sign_in:?}: {result:?}");
        assert!(!store.exists(), "a refused option creates nothing");
    }
}

#[test]
fn the_guard_follows_the_route_templates_given() {
    let options = ManagerOptions {
        home_route: Some("/welcome".into()),
        sign_in_route: Some("/login/{server}?next={return_to}".into()),
        ..ManagerOptions::default()
    };
    let m = ServerManager::new(options, None, None, None).expect("manager");
    m.add_oidc_server("https://chat.example".into(), ISSUER.into(), "app".into(), "app:/cb".into(), None, vec![])
        .expect("add");
    assert_eq!(
        m.guard("/rooms/1".into(), Some("chat".into()), false),
        GuardDecision::Redirect { to: "/login/https%3A%2F%2Fchat.example%2F?next=%2Frooms%2F1".into() }
    );
    assert_eq!(m.guard("/rooms/1".into(), None, false), GuardDecision::Redirect { to: "/welcome".into() });
}

#[test]
fn drafts_refuse_garbage_rooms_and_unknown_servers() {
    let m = manager_with_chat();
    let drafts = m.drafts();
    assert!(matches!(drafts.save("nobody".into(), "r".into(), "t".into()), Err(AuthError::UnknownServer { .. })));
    assert!(is_input_error(&drafts.save("chat".into(), String::new(), "t".into())));
    assert!(is_input_error(&drafts.save("chat".into(), "r".repeat(1 << 20), "t".into())));
    let huge = "x".repeat(usize::try_from(drafts.max_bytes()).expect("fits") + 1);
    drafts.save("chat".into(), "r".into(), "kept".into()).expect("save");
    assert!(is_input_error(&drafts.save("chat".into(), "r".into(), huge)));
    assert_eq!(drafts.peek("chat".into(), "r".into()).expect("peek").as_deref(), Some("kept"), "nothing is lost");
}

#[tokio::test]
async fn sign_in_entry_points_refuse_garbage() {
    let m = manager();
    for bad in garbage() {
        let result = m.begin_login(bad.clone(), None).await;
        assert!(matches!(result, Err(AuthError::UnknownServer { .. })), "{result:?}");
        let result = m.complete_login(bad.clone()).await;
        assert!(matches!(result, Err(AuthError::SignInFailed { .. })), "{result:?}");
        let result = m.sign_out(bad).await;
        assert!(matches!(result, Err(AuthError::UnknownServer { .. })), "{result:?}");
    }
    let callback = "app:/cb?code=abc&state=never-issued".to_owned();
    assert!(matches!(m.complete_login(callback).await, Err(AuthError::SignInFailed { .. })));
}

#[tokio::test]
async fn a_signed_out_session_says_sign_in_and_honours_cancel() {
    let m = manager_with_chat();
    let session = m.session("chat".into()).expect("session");
    assert!(matches!(session.fresh_access_token().await, Err(AuthError::SignInRequired { .. })));
    let cancel = CancelToken::new();
    cancel.cancel();
    let result = session.fresh_access_token_cancellable(cancel).await;
    assert!(matches!(result, Err(AuthError::SignInRequired { .. } | AuthError::Cancelled { .. })), "{result:?}");
    assert_eq!(session.valid_access_token(), None);
    assert!(session.sign_out_locally().is_ok(), "signing out twice is harmless");
    let verdict = session.on_response(401, Some("\u{0}garbage".into()), "x".repeat(1 << 20)).await;
    assert_eq!(verdict, authstate_ffi::ResponseVerdict::SignedOut);
}
