// The state diagram in `machine.md` is checked against the transition table
// (compiled only under #[cfg(test)], included with #[path]): every (state,
// event, next state) the table allows appears in the diagram, and nothing else.
use std::collections::BTreeSet;

use super::*;
use crate::model::{Secret, TokenGrant};
use time::macros::datetime;

const DIAGRAM: &str = include_str!("machine.md");
const T0: OffsetDateTime = datetime!(2026-01-01 00:00 UTC);

fn tokens(access: &str, refresh: Option<&str>) -> Tokens {
    let grant = TokenGrant {
        access: Secret::new(access),
        refresh: refresh.map(Secret::new),
        id_token: None,
        expires_in: Some(60),
    };
    Tokens::from_grant(grant, T0)
}

/// Every shape of snapshot the table tells apart: each case, with and without
/// a refresh token, at the first generation and a later one.
fn snapshots() -> Vec<Snapshot> {
    let mut all = Vec::new();
    for generation in [0, 1] {
        all.push(Snapshot { state: SessionState::NoSession, generation });
        for refresh in [Some("r"), None] {
            let (provider, tokens) = (ProviderKind::TokenPair, tokens("a", refresh));
            all.push(Snapshot { state: SessionState::Active { provider, tokens: tokens.clone() }, generation });
            let reason = ExpiryReason::Marked;
            all.push(Snapshot { state: SessionState::Expired { provider, tokens, reason }, generation });
        }
    }
    all
}

/// Events of every kind with every datum the table looks at, for a snapshot
/// of `generation` (whose access token is `a`).
fn events(generation: u64) -> Vec<Event> {
    // A new `Event` variant does not compile here until it is sampled below.
    let _every_variant_is_sampled = |event: &Event| match event {
        Event::SignedIn { .. }
        | Event::Refreshed { .. }
        | Event::RefreshFailed { .. }
        | Event::Unauthorized { .. }
        | Event::Forbidden
        | Event::Probe { .. }
        | Event::MarkExpired(_)
        | Event::Logout
        | Event::Restore(_)
        | Event::Reload(_)
        | Event::Removed => (),
    };
    let states = || {
        let kept = tokens("b", Some("s"));
        [
            SessionState::NoSession,
            SessionState::Active { provider: ProviderKind::TokenPair, tokens: kept.clone() },
            SessionState::Expired { provider: ProviderKind::TokenPair, tokens: kept, reason: ExpiryReason::Marked },
        ]
    };
    let grant = || TokenGrant { access: Secret::new("n"), refresh: None, id_token: None, expires_in: Some(60) };
    let mut all = vec![
        Event::SignedIn { provider: ProviderKind::Oidc, tokens: tokens("b", Some("s")) },
        Event::Unauthorized { token_used: Secret::new("a") },
        Event::Unauthorized { token_used: Secret::new("older") },
        Event::Forbidden,
        Event::MarkExpired(ExpiryReason::Marked),
        Event::Logout,
        Event::Removed,
    ];
    for g in [generation, generation + 1] {
        all.push(Event::Refreshed { generation: g, grant: grant(), at: T0 });
        for failure in [
            RefreshFailure::Transient,
            RefreshFailure::Rejected,
            RefreshFailure::NoRefreshToken,
            RefreshFailure::Misconfigured,
            RefreshFailure::Interrupted,
        ] {
            all.push(Event::RefreshFailed { generation: g, failure });
        }
        for result in [ProbeResult::Valid, ProbeResult::Stale, ProbeResult::Unreachable] {
            all.push(Event::Probe { generation: g, result });
        }
    }
    all.extend(states().into_iter().map(Event::Restore));
    all.extend(states().into_iter().map(Event::Reload));
    all
}

fn name(kind: StateKind) -> &'static str {
    match kind {
        StateKind::NoSession => "NoSession",
        StateKind::Active => "Active",
        StateKind::Expired => "Expired",
    }
}

/// (state, event, next state) for every pair the table allows.
fn table() -> BTreeSet<(String, String, String)> {
    let mut allowed = BTreeSet::new();
    for now in snapshots() {
        for event in events(now.generation) {
            let event_name = event.name();
            if let Ok(step) = transition(&now, event) {
                let (from, to) = (name(now.state.kind()), name(step.next.state.kind()));
                allowed.insert((from.to_owned(), event_name.to_owned(), to.to_owned()));
            }
        }
    }
    allowed
}

/// (state, event, next state) for every edge of the mermaid diagram:
/// `From --> To : event, event`.
fn diagram(text: &str) -> BTreeSet<(String, String, String)> {
    let start = text.find("```mermaid").expect("machine.md has a mermaid block");
    let block = &text[start..];
    let block = &block[..block[3..].find("```").map_or(block.len(), |end| end + 3)];
    let mut edges = BTreeSet::new();
    for line in block.lines() {
        let Some((from, rest)) = line.trim().split_once(" --> ") else { continue };
        if from == "[*]" {
            continue;
        }
        let (to, events) = rest.split_once(" : ").expect("every edge names its events");
        for event in events.split(',') {
            edges.insert((from.trim().to_owned(), event.trim().to_owned(), to.trim().to_owned()));
        }
    }
    edges
}

#[test]
fn the_diagram_shows_every_allowed_transition_and_nothing_else() {
    let (table, diagram) = (table(), diagram(DIAGRAM));
    let missing: Vec<_> = table.difference(&diagram).collect();
    let extra: Vec<_> = diagram.difference(&table).collect();
    assert!(
        missing.is_empty() && extra.is_empty(),
        "machine.md's diagram has drifted from `transition`:\nallowed but not drawn: {missing:?}\ndrawn but not allowed: {extra:?}"
    );
}

#[test]
fn the_diagram_check_sees_an_edge_that_is_not_allowed() {
    let drifted = DIAGRAM.replace("NoSession --> NoSession : ", "NoSession --> NoSession : probe, ");
    assert_ne!(diagram(&drifted), table());
}
