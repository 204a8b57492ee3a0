// Unit tests of `preauth/store.rs`, compiled only under #[cfg(test)] (included with #[path]).
use super::*;
use crate::clock::ManualClock;
use crate::model::{ProviderKind, ServerId};
use crate::preauth::ReturnTo;
use crate::storage::MemoryStore;

struct Fixture {
    clock: ManualClock,
    memory: MemoryStore,
    store: PreAuthStore,
}

fn fixture() -> Fixture {
    let clock = ManualClock::at_epoch();
    let memory = MemoryStore::new();
    let store = PreAuthStore::new(Arc::new(memory.clone()), Arc::new(clock.clone()));
    Fixture { clock, memory, store }
}

impl Fixture {
    fn login(&self, url: &str) -> PreAuthState {
        let s = PreAuthState::new(ServerId::parse(url).unwrap(), ProviderKind::Oidc, None, &self.clock);
        self.store.save(&s).unwrap();
        s
    }

    fn raw(&self) -> Option<String> {
        SecretStore::get(&self.memory, PREAUTH_KEY).ok()
    }
}

#[test]
fn consumed_at_29_59_is_accepted() {
    let f = fixture();
    let s = f.login("https://a.example");
    f.clock.advance(Duration::seconds(29 * 60 + 59));
    assert_eq!(f.store.consume(s.csrf_state().expose()).unwrap(), s);
}

#[test]
fn consumed_at_exactly_30_minutes_is_expired_and_removed() {
    let f = fixture();
    let s = f.login("https://a.example");
    f.clock.advance(PREAUTH_TTL);
    assert_eq!(f.store.consume(s.csrf_state().expose()), Err(PreAuthError::Expired { age_secs: 1800 }));
    assert_eq!(f.store.consume(s.csrf_state().expose()), Err(PreAuthError::Unknown));
    assert_eq!(f.raw(), None);
}

#[test]
fn just_under_30_minutes_is_accepted() {
    let f = fixture();
    let s = f.login("https://a.example");
    f.clock.advance(PREAUTH_TTL - Duration::milliseconds(1));
    assert!(f.store.consume(s.csrf_state().expose()).is_ok());
}

#[test]
fn an_entry_dated_far_in_the_future_is_expired() {
    let f = fixture();
    let s = f.login("https://a.example");
    f.clock.advance(-Duration::hours(1));
    assert_eq!(f.store.consume(s.csrf_state().expose()), Err(PreAuthError::Expired { age_secs: -3600 }));
}

#[test]
fn a_state_is_single_use() {
    let f = fixture();
    let s = f.login("https://a.example");
    assert!(f.store.consume(s.csrf_state().expose()).is_ok());
    assert_eq!(f.store.consume(s.csrf_state().expose()), Err(PreAuthError::Unknown));
    assert_eq!(f.store.pending().unwrap(), 0);
}

#[test]
fn two_logins_to_two_servers_are_in_flight_together() {
    let f = fixture();
    let a = f.login("https://a.example");
    let b = f.login("https://b.example");
    assert_eq!(f.store.pending().unwrap(), 2);
    let got_b = f.store.consume(b.csrf_state().expose()).unwrap();
    assert_eq!(got_b.server().as_str(), "https://b.example/");
    let got_a = f.store.consume(a.csrf_state().expose()).unwrap();
    assert_eq!(got_a.server().as_str(), "https://a.example/");
    assert_eq!(f.store.pending().unwrap(), 0);
}

#[test]
fn unknown_or_mismatched_state_is_unknown_and_consumes_nothing() {
    let f = fixture();
    let s = f.login("https://a.example");
    let state = s.csrf_state().expose();
    for wrong in ["", "nope", &state[..state.len() - 1], &format!("{state}x"), &state.to_uppercase()] {
        assert_eq!(f.store.consume(wrong), Err(PreAuthError::Unknown), "{wrong:?}");
    }
    assert_eq!(f.store.pending().unwrap(), 1);
    assert!(f.store.consume(state).is_ok());
}

#[test]
fn save_drops_entries_already_past_their_ttl() {
    let f = fixture();
    let old = f.login("https://a.example");
    f.clock.advance(PREAUTH_TTL);
    let fresh = f.login("https://b.example");
    let raw = f.raw().unwrap();
    assert!(!raw.contains(old.csrf_state().expose()));
    assert!(raw.contains(fresh.csrf_state().expose()));
    assert_eq!(f.store.consume(old.csrf_state().expose()), Err(PreAuthError::Unknown));
}

#[test]
fn pending_logins_are_capped_oldest_first() {
    let f = fixture();
    let first = f.login("https://a.example");
    for _ in 0..MAX_PENDING {
        f.clock.advance(Duration::seconds(1));
        f.login("https://b.example");
    }
    assert_eq!(f.store.pending().unwrap(), MAX_PENDING);
    assert_eq!(f.store.consume(first.csrf_state().expose()), Err(PreAuthError::Unknown));
}

#[test]
fn unavailable_store_is_a_storage_error_not_unknown() {
    let f = fixture();
    let s = f.login("https://a.example");
    f.memory.set_unavailable(true);
    assert!(matches!(
        f.store.consume(s.csrf_state().expose()),
        Err(PreAuthError::Storage(StorageError::Unavailable(_)))
    ));
    assert!(matches!(f.store.consume("never-issued"), Err(PreAuthError::Storage(_))));
    assert!(matches!(f.store.pending(), Err(PreAuthError::Storage(_))));
    let other = PreAuthState::new(s.server().clone(), ProviderKind::Oidc, None, &f.clock);
    assert!(matches!(f.store.save(&other), Err(PreAuthError::Storage(_))));
    f.memory.set_unavailable(false);
    // Nothing was consumed while the store was locked.
    assert_eq!(f.store.consume(s.csrf_state().expose()).unwrap(), s);
}

#[test]
fn corrupt_json_is_a_typed_error_and_the_next_save_recovers() {
    let f = fixture();
    SecretStore::set(&f.memory, PREAUTH_KEY, "{not json SECRET-ish").unwrap();
    let err = f.store.consume("anything").unwrap_err();
    assert!(matches!(&err, PreAuthError::Corrupt { detail } if !detail.contains("SECRET")), "{err:?}");
    assert!(matches!(f.store.pending(), Err(PreAuthError::Corrupt { .. })));
    let s = f.login("https://a.example");
    assert_eq!(SecretStore::get(&f.memory, CORRUPT_KEY).unwrap(), "{not json SECRET-ish");
    assert_eq!(f.store.consume(s.csrf_state().expose()).unwrap(), s);
}

#[test]
fn a_corrupt_entry_does_not_hide_the_others() {
    let f = fixture();
    let good = f.login("https://a.example");
    let mut map: RawMap = serde_json::from_str(&f.raw().unwrap()).unwrap();
    map.insert("bad-state".into(), serde_json::json!({"server": 5}));
    SecretStore::set(&f.memory, PREAUTH_KEY, &serde_json::to_string(&map).unwrap()).unwrap();
    assert!(matches!(f.store.consume("bad-state"), Err(PreAuthError::Corrupt { .. })));
    assert_eq!(f.store.consume(good.csrf_state().expose()).unwrap(), good);
}

#[test]
fn entries_written_before_return_to_existed_are_consumed() {
    let f = fixture();
    // Frozen by hand: the stored map before `return_to` and `schema_version`.
    let old = r#"{"c3RhdGUtMTIzNDU2Nzg5MA":{
        "server":"https://a.example/","provider":"oidc",
        "pkce_verifier":"dBjftJeZ4CVP-mB92K27uhbUJU1p1r_wW1gFWFOEjXk",
        "pkce_challenge":"E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM",
        "csrf_state":"c3RhdGUtMTIzNDU2Nzg5MA","nonce":"bm9uY2UtMTIzNDU2Nzg5MA",
        "created_at":"2025-12-31T23:45:00Z"}}"#;
    SecretStore::set(&f.memory, PREAUTH_KEY, old).unwrap();
    let s = f.store.consume("c3RhdGUtMTIzNDU2Nzg5MA").unwrap();
    assert_eq!(s.return_to(), None);
    assert_eq!(s.server().as_str(), "https://a.example/");
}

#[test]
fn stored_json_omits_return_to_when_absent() {
    let f = fixture();
    f.login("https://a.example");
    assert!(!f.raw().unwrap().contains("return_to"));
    let with = PreAuthState::new(
        ServerId::parse("https://b.example").unwrap(),
        ProviderKind::Oidc,
        Some(ReturnTo::parse("/x").unwrap()),
        &f.clock,
    );
    f.store.save(&with).unwrap();
    assert!(f.raw().unwrap().contains("\"return_to\":\"/x\""));
    assert_eq!(f.store.consume(with.csrf_state().expose()).unwrap().safe_return_to().unwrap().as_str(), "/x");
}

#[test]
fn clear_forgets_everything() {
    let f = fixture();
    let s = f.login("https://a.example");
    f.store.clear().unwrap();
    assert_eq!(f.store.consume(s.csrf_state().expose()), Err(PreAuthError::Unknown));
    assert!(f.memory.is_empty());
}
