//! Parallel `token` calls (issue #14): each is its own process, sharing the
//! store directory through the core's lock files, with no whole-command
//! lock. 20 calls at once for two servers with expired access tokens — the
//! real simplejwt and the real oidc-provider, both rotating refresh tokens —
//! make exactly one refresh per server, every call of a server prints that
//! refresh's token, and the two servers' calls run side by side. The wall
//! time of the 20 calls is printed beside that of one call (not asserted).

mod common;

use std::process::Stdio;
use std::time::{Duration, Instant};

use common::django_peer::{DjangoOptions, DjangoPeer, http_client};
use common::oidc_peer::{CLIENT_ID, OidcPeer, PeerOptions};
use common::{Machine, PASSWORD, browser_login};
use reqwest::StatusCode;

const CALLS: usize = 20;
const ALIASES: [&str; 2] = ["api", "idp"];

fn median(mut v: Vec<Duration>) -> Duration {
    v.sort();
    v[v.len() / 2]
}

/// Runs `token` for each alias of `aliases` at once, one process each;
/// returns the wall time from the first spawn to the last exit, and each
/// call's (alias, token).
fn at_once(machine: &Machine, aliases: &[&str]) -> (Duration, Vec<(String, String)>) {
    let started = Instant::now();
    let children: Vec<_> = aliases
        .iter()
        .map(|alias| {
            let child = machine
                .command(&["token", alias])
                .stdin(Stdio::null())
                .stdout(Stdio::piped())
                .stderr(Stdio::piped())
                .spawn()
                .expect("spawn authstate token");
            ((*alias).to_owned(), child)
        })
        .collect();
    let outputs: Vec<_> =
        children.into_iter().map(|(alias, child)| (alias, child.wait_with_output().expect("wait"))).collect();
    let took = started.elapsed();
    let tokens = outputs
        .into_iter()
        .map(|(alias, out)| {
            let stdout = String::from_utf8_lossy(&out.stdout).into_owned();
            let stderr = String::from_utf8_lossy(&out.stderr);
            assert!(out.status.success(), "token {alias}: {}\n{stderr}", out.status);
            assert!(stderr.is_empty(), "token {alias} said something: {stderr}");
            (alias, stdout.trim_end().to_owned())
        })
        .collect();
    (took, tokens)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn twenty_parallel_token_calls_for_two_servers_refresh_once_per_server() {
    // Lifetimes far above the refresh threshold: only the expired tokens the test sets up are refreshed.
    let Some(django) = DjangoPeer::start(DjangoOptions { access_ttl_secs: 3600, ..DjangoOptions::default() }).await
    else {
        return;
    };
    let Some(oidc) = OidcPeer::start(PeerOptions { access_token_ttl_secs: 3600, ..PeerOptions::default() }).await
    else {
        return;
    };
    django.create_user("alice", PASSWORD).await;
    let machine = Machine::new().trusting_test_ca();
    machine.add_server(&[&django.base_url(), "--alias", "api", "--provider", "token-pair"]);
    machine.add_server(&[&oidc.issuer(), "--alias", "idp", "--client-id", CLIENT_ID]);
    machine.password_login("api", "alice", PASSWORD, &[]).success();
    browser_login(&machine, "idp").await.success();

    let machine = std::sync::Arc::new(machine);
    let timed = {
        let machine = machine.clone();
        move |aliases: Vec<&'static str>, expire: bool| {
            let machine = machine.clone();
            tokio::task::spawn_blocking(move || {
                for alias in ALIASES.iter().filter(|_| expire) {
                    machine.expire_access_token(alias);
                }
                at_once(&machine, &aliases)
            })
        }
    };

    // One call alone, with its refresh (the median of three per server).
    let mut single = Vec::new();
    for alias in ALIASES {
        let mut times = Vec::new();
        for _ in 0..3 {
            times.push(timed(vec![alias], true).await.expect("one call").0);
        }
        single.push((alias, median(times)));
    }

    let (django_before, oidc_before) = (django.counts().await.jwt_refresh, oidc.counts().await.token);
    let calls: Vec<&'static str> = (0..CALLS).map(|i| ALIASES[i % 2]).collect();
    let (wall, tokens) = timed(calls.clone(), true).await.expect("parallel calls");
    assert_eq!(
        django.counts().await.jwt_refresh - django_before,
        1,
        "one refresh at simplejwt for {} calls",
        CALLS / 2
    );
    assert_eq!(oidc.counts().await.token - oidc_before, 1, "one refresh at the OIDC provider for {} calls", CALLS / 2);
    for alias in ALIASES {
        let mine: Vec<&str> = tokens.iter().filter(|(a, _)| a == alias).map(|(_, t)| t.as_str()).collect();
        assert_eq!(mine.len(), CALLS / 2);
        assert!(
            mine.iter().all(|t| *t == mine[0] && !t.is_empty()),
            "{alias}: every call prints the one refreshed token"
        );
    }
    let api_token = &tokens.iter().find(|(a, _)| a == "api").expect("an api call").1;
    let idp_token = &tokens.iter().find(|(a, _)| a == "idp").expect("an idp call").1;
    let me = http_client().get(django.url("api/me/")).bearer_auth(api_token).send().await.expect("GET api/me/");
    assert_eq!(me.status(), StatusCode::OK);
    assert_eq!(oidc.userinfo(idp_token).await.status(), StatusCode::OK);
    for alias in ALIASES {
        assert_eq!(machine.status_of(alias)["state"], "active");
    }

    // What 20 processes cost here without any refresh (valid tokens), and one alone.
    let (wall_valid, _) = timed(calls, false).await.expect("parallel calls, valid tokens");
    let one_valid = median(vec![
        timed(vec!["api"], false).await.expect("one call").0,
        timed(vec!["api"], false).await.expect("one call").0,
        timed(vec!["api"], false).await.expect("one call").0,
    ]);
    assert_eq!(django.counts().await.jwt_refresh - django_before, 1, "valid tokens are not refreshed");

    let slowest_single = single.iter().map(|(_, t)| *t).max().unwrap_or_default();
    println!(
        "{CALLS} parallel `token` calls, 2 servers, expired tokens: {wall:?} (1 refresh per server); \
         one call alone with its refresh: {}; ratio {:.2}. \
         Without a refresh (valid tokens): {CALLS} parallel {wall_valid:?}, one alone {one_valid:?}",
        single.iter().map(|(a, t)| format!("{a} {t:?}")).collect::<Vec<_>>().join(", "),
        wall.as_secs_f64() / slowest_single.as_secs_f64()
    );
}
