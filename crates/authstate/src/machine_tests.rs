// Unit tests of `machine.rs`, compiled only under #[cfg(test)] (included with #[path]).
use super::*;
use crate::model::{Secret, TokenGrant};
use time::macros::datetime;

const T0: OffsetDateTime = datetime!(2026-01-01 00:00 UTC);

fn tokens(access: &str, refresh: Option<&str>) -> Tokens {
    Tokens::from_grant(
        TokenGrant {
            access: Secret::new(access),
            refresh: refresh.map(Secret::new),
            id_token: None,
            expires_in: Some(60),
        },
        T0,
    )
}

fn active(access: &str, refresh: Option<&str>) -> Snapshot {
    Snapshot {
        state: SessionState::Active { provider: ProviderKind::Oidc, tokens: tokens(access, refresh) },
        generation: 1,
    }
}

fn run(now: &Snapshot, e: Event) -> Step {
    transition(now, e).unwrap()
}

#[test]
fn sign_in_persists_tokens_before_the_record() {
    let step =
        run(&Snapshot::initial(), Event::SignedIn { provider: ProviderKind::Oidc, tokens: tokens("a", Some("r")) });
    assert!(step.next.state.is_authenticated());
    assert_eq!(step.effects, vec![Effect::PersistTokens, Effect::PersistRecord]);
    assert_eq!(step.next.generation, 1);
}

#[test]
fn logout_deletes_secrets_after_the_record_and_cancels() {
    let step = run(&active("a", Some("r")), Event::Logout);
    assert_eq!(step.next.state, SessionState::NoSession);
    assert_eq!(
        step.effects,
        vec![Effect::PersistRecord, Effect::DeleteSecrets, Effect::Cancel(CancelReason::SignedOut)]
    );
    assert_eq!(run(&Snapshot::initial(), Event::Logout).verdict, Verdict::Unchanged);
}

#[test]
fn transient_refresh_failure_changes_nothing() {
    let now = active("a", Some("r"));
    let step = run(&now, Event::RefreshFailed { generation: 1, failure: RefreshFailure::Transient });
    assert_eq!(step.next, now);
    assert!(step.effects.is_empty());
}

#[test]
fn definitive_refresh_failure_expires_and_keeps_tokens() {
    let now = active("a", Some("r"));
    let step = run(&now, Event::RefreshFailed { generation: 1, failure: RefreshFailure::Rejected });
    let SessionState::Expired { tokens: kept, reason, .. } = &step.next.state else { panic!("not expired") };
    assert_eq!(kept, now.state.tokens().unwrap());
    assert_eq!(*reason, ExpiryReason::RefreshRejected);
    assert!(step.effects.contains(&Effect::Cancel(CancelReason::AuthExpired)));
    assert!(!step.effects.contains(&Effect::DeleteSecrets));
    let none = run(&now, Event::RefreshFailed { generation: 1, failure: RefreshFailure::NoRefreshToken });
    assert_eq!(none.next.state.expiry_reason(), Some(ExpiryReason::NoRefreshToken));
}

#[test]
fn refresh_from_an_older_generation_is_discarded() {
    let now = active("a", Some("r"));
    let grant = TokenGrant::access_only("b");
    let step = run(&now, Event::Refreshed { generation: 0, grant: grant.clone(), at: T0 });
    assert_eq!(step.verdict, Verdict::Discarded);
    assert_eq!(step.next, now);
    let after_logout = run(
        &Snapshot { state: SessionState::NoSession, generation: 2 },
        Event::Refreshed { generation: 2, grant, at: T0 },
    );
    assert_eq!(after_logout.verdict, Verdict::Discarded);
}

#[test]
fn refresh_revives_expired_and_keeps_old_refresh_token_without_rotation() {
    let expired = run(&active("a", Some("r")), Event::MarkExpired(ExpiryReason::Marked)).next;
    let step = run(&expired, Event::Refreshed { generation: 1, grant: TokenGrant::access_only("b"), at: T0 });
    let SessionState::Active { tokens, .. } = &step.next.state else { panic!("not active") };
    assert_eq!(tokens.access.expose(), "b");
    assert_eq!(tokens.refresh.as_ref().map(Secret::expose), Some("r"));
    assert_eq!(step.next.generation, 2);
}

#[test]
fn stale_401_does_not_refresh_twice() {
    let now = active("new", Some("r"));
    assert_eq!(
        run(&now, Event::Unauthorized { token_used: Secret::new("old") }).verdict,
        Verdict::RetryWithCurrentToken
    );
    assert_eq!(run(&now, Event::Unauthorized { token_used: Secret::new("new") }).verdict, Verdict::RefreshAndRetry);
}

#[test]
fn current_401_without_refresh_token_expires() {
    let step = run(&active("a", None), Event::Unauthorized { token_used: Secret::new("a") });
    assert_eq!(step.next.state.expiry_reason(), Some(ExpiryReason::Unauthorized));
}

#[test]
fn forbidden_never_touches_state() {
    for now in [Snapshot::initial(), active("a", Some("r"))] {
        let step = run(&now, Event::Forbidden);
        assert_eq!(step.next, now);
        assert_eq!(step.verdict, Verdict::PermissionDenied);
        assert!(step.effects.is_empty());
    }
}

#[test]
fn probe_unreachable_is_not_stale() {
    let now = active("a", None);
    assert_eq!(run(&now, Event::Probe { generation: now.generation, result: ProbeResult::Unreachable }).next, now);
    let stale = run(&now, Event::Probe { generation: now.generation, result: ProbeResult::Stale });
    assert_eq!(stale.next.state.expiry_reason(), Some(ExpiryReason::StaleToken));
    let revived = run(&stale.next, Event::Probe { generation: stale.next.generation, result: ProbeResult::Valid });
    assert!(revived.next.state.is_authenticated());
}

#[test]
fn probe_of_older_tokens_is_discarded() {
    // A password change replaced the token while the probe of the old one ran.
    let now = active("new", None);
    let late = run(&now, Event::Probe { generation: now.generation.wrapping_sub(1), result: ProbeResult::Stale });
    assert_eq!((late.next, late.verdict), (now, Verdict::Discarded));
}

#[test]
fn invalid_pairs_are_named_errors() {
    let e = transition(&Snapshot::initial(), Event::MarkExpired(ExpiryReason::Marked)).unwrap_err();
    assert_eq!(e, InvalidTransition { from: StateKind::NoSession, event: "mark_expired" });
    assert!(transition(&Snapshot::initial(), Event::Probe { generation: 0, result: ProbeResult::Valid }).is_err());
    assert!(transition(&active("a", None), Event::Restore(SessionState::NoSession)).is_err());
    let restored = run(&Snapshot::initial(), Event::Restore(active("a", None).state));
    assert!(restored.next.state.is_authenticated());
    assert!(restored.effects.is_empty());
    let again = Snapshot { state: SessionState::NoSession, generation: 3 };
    assert!(transition(&again, Event::Restore(SessionState::NoSession)).is_err());
}

mod probe_properties {
    use proptest::prelude::*;

    use super::*;

    fn result() -> impl Strategy<Value = ProbeResult> {
        prop_oneof![Just(ProbeResult::Valid), Just(ProbeResult::Stale), Just(ProbeResult::Unreachable)]
    }

    /// Any session holding tokens, at any generation, with any expiry reason.
    fn holding() -> impl Strategy<Value = Snapshot> {
        let reason = prop_oneof![
            Just(ExpiryReason::RefreshRejected),
            Just(ExpiryReason::StaleToken),
            Just(ExpiryReason::Unauthorized),
            Just(ExpiryReason::Misconfigured),
        ];
        (any::<bool>(), reason, 1..u64::MAX).prop_map(|(active, reason, generation)| {
            let tokens = tokens("a", None);
            let state = if active {
                SessionState::Active { provider: ProviderKind::OpaqueToken, tokens }
            } else {
                SessionState::Expired { provider: ProviderKind::OpaqueToken, tokens, reason }
            };
            Snapshot { state, generation }
        })
    }

    proptest! {
        /// Invariant 2 for probes: an unreachable server, or an answer about
        /// tokens the session no longer holds, changes nothing; no probe
        /// ever deletes tokens or changes the generation.
        #[test]
        fn probes_never_delete_tokens_and_only_current_answers_count(
            now in holding(),
            result in result(),
            offset in 0..3_u64,
        ) {
            let generation = now.generation.wrapping_sub(offset);
            let step = transition(&now, Event::Probe { generation, result }).unwrap();
            prop_assert_eq!(step.next.state.tokens(), now.state.tokens());
            prop_assert_eq!(step.next.generation, now.generation);
            prop_assert!(!step.effects.contains(&Effect::DeleteSecrets));
            if offset != 0 || result == ProbeResult::Unreachable {
                prop_assert_eq!(&step.next, &now);
            }
            match (result, offset) {
                (ProbeResult::Stale, 0) => prop_assert_eq!(step.next.state.kind(), StateKind::Expired),
                (ProbeResult::Valid, 0) => prop_assert!(step.next.state.is_authenticated()),
                _ => {}
            }
        }
    }
}
