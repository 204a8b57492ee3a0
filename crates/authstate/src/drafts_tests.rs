// Unit tests of `drafts.rs`, compiled only under #[cfg(test)] (included with #[path]).
use super::*;
use crate::clock::ManualClock;
use crate::storage::MemoryStore;

fn setup() -> (DraftStore, MemoryStore, ManualClock) {
    let kv = MemoryStore::new();
    let clock = ManualClock::at_epoch();
    let store = DraftStore::new(Arc::new(kv.clone()), Arc::new(clock.clone()));
    (store, kv, clock)
}

fn server(url: &str) -> ServerId {
    ServerId::parse(url).unwrap()
}

fn prod() -> ServerId {
    server("https://prod.example.com")
}

#[test]
fn saved_draft_is_peeked_without_being_deleted() {
    let (store, kv, _) = setup();
    store.save(&prod(), "general", "half a thought").unwrap();
    assert_eq!(store.peek(&prod(), "general").unwrap().as_deref(), Some("half a thought"));
    assert_eq!(store.peek(&prod(), "general").unwrap().as_deref(), Some("half a thought"));
    assert_eq!(kv.len(), 1);
}

#[test]
fn take_returns_the_draft_once_and_deletes_it() {
    let (store, kv, _) = setup();
    store.save(&prod(), "general", "hello").unwrap();
    assert_eq!(store.take(&prod(), "general").unwrap().as_deref(), Some("hello"));
    assert_eq!(store.take(&prod(), "general").unwrap(), None);
    assert!(kv.is_empty());
}

#[test]
fn missing_draft_is_none() {
    let (store, _, _) = setup();
    assert_eq!(store.peek(&prod(), "general").unwrap(), None);
    assert_eq!(store.take(&prod(), "general").unwrap(), None);
}

#[test]
fn saving_again_replaces_the_draft_and_restarts_its_ttl() {
    let (store, _, clock) = setup();
    store.save(&prod(), "r", "first").unwrap();
    clock.advance(Duration::hours(20));
    store.save(&prod(), "r", "second").unwrap();
    clock.advance(Duration::hours(20));
    assert_eq!(store.peek(&prod(), "r").unwrap().as_deref(), Some("second"));
}

#[test]
fn draft_is_readable_one_second_before_the_ttl() {
    let (store, _, clock) = setup();
    store.save(&prod(), "r", "still here").unwrap();
    clock.advance(DRAFT_TTL - Duration::seconds(1));
    assert_eq!(store.peek(&prod(), "r").unwrap().as_deref(), Some("still here"));
    assert_eq!(store.take(&prod(), "r").unwrap().as_deref(), Some("still here"));
}

#[test]
fn draft_is_gone_exactly_at_the_ttl_and_take_deletes_it() {
    let (store, kv, clock) = setup();
    store.save(&prod(), "r", "too late").unwrap();
    clock.advance(DRAFT_TTL);
    assert_eq!(store.peek(&prod(), "r").unwrap(), None);
    assert_eq!(kv.len(), 1, "peek never deletes");
    assert_eq!(store.take(&prod(), "r").unwrap(), None);
    assert!(kv.is_empty(), "an expired draft is deleted by take");
}

#[test]
fn oversize_draft_is_refused_and_the_previous_one_kept() {
    let (store, _, _) = setup();
    store.save(&prod(), "r", "keep me").unwrap();
    let big = "x".repeat(DEFAULT_MAX_DRAFT_BYTES + 1);
    let err = store.save(&prod(), "r", &big).unwrap_err();
    assert_eq!(err, DraftError::TooLarge { size: DEFAULT_MAX_DRAFT_BYTES + 1, max: DEFAULT_MAX_DRAFT_BYTES });
    assert!(!err.to_string().contains("xxxx"), "errors never carry the text");
    assert_eq!(store.peek(&prod(), "r").unwrap().as_deref(), Some("keep me"));
}

#[test]
fn cap_counts_utf8_bytes_and_the_exact_cap_is_accepted() {
    let (store, _, _) = setup();
    let store = store.with_max_bytes(8);
    assert_eq!(store.max_bytes(), 8);
    // 4 characters, 9 bytes.
    assert!(matches!(store.save(&prod(), "r", "ééé€"), Err(DraftError::TooLarge { size: 9, max: 8 })));
    store.save(&prod(), "r", "éé€").unwrap(); // 7 bytes
    store.save(&prod(), "r", "12345678").unwrap(); // exactly 8
    assert_eq!(store.take(&prod(), "r").unwrap().as_deref(), Some("12345678"));
}

#[test]
fn empty_save_deletes_the_draft() {
    let (store, kv, _) = setup();
    store.save(&prod(), "r", "something").unwrap();
    store.save(&prod(), "r", "").unwrap();
    assert!(kv.is_empty());
    assert_eq!(store.peek(&prod(), "r").unwrap(), None);
    store.save(&prod(), "r", "").unwrap(); // deleting nothing succeeds
}

#[test]
fn whitespace_is_user_content_and_kept() {
    let (store, _, _) = setup();
    store.save(&prod(), "r", " \n").unwrap();
    assert_eq!(store.take(&prod(), "r").unwrap().as_deref(), Some(" \n"));
}

#[test]
fn room_must_be_1_to_256_bytes_of_any_text() {
    let (store, kv, _) = setup();
    for room in ["", &"a".repeat(MAX_ROOM_BYTES + 1), &"é".repeat(129)] {
        let len = room.len();
        assert_eq!(store.save(&prod(), room, "t"), Err(DraftError::InvalidRoom { len }));
        assert_eq!(store.peek(&prod(), room), Err(DraftError::InvalidRoom { len }));
        assert_eq!(store.take(&prod(), room), Err(DraftError::InvalidRoom { len }));
    }
    assert!(kv.is_empty());
    let long = "a".repeat(MAX_ROOM_BYTES);
    for room in ["x", long.as_str(), "#général 💬", "a.b/c?d=e&f#g", "tab\tnew\nline", "."] {
        store.save(&prod(), room, "t").unwrap();
        assert_eq!(store.take(&prod(), room).unwrap().as_deref(), Some("t"), "room {room:?}");
    }
}

#[test]
fn two_servers_same_room_are_independent() {
    let (store, _, _) = setup();
    let staging = server("https://staging.example.com/api");
    store.save(&prod(), "general", "to prod").unwrap();
    store.save(&staging, "general", "to staging").unwrap();
    assert_eq!(store.take(&prod(), "general").unwrap().as_deref(), Some("to prod"));
    assert_eq!(store.peek(&staging, "general").unwrap().as_deref(), Some("to staging"));
    store.save(&staging, "general", "").unwrap();
    assert_eq!(store.peek(&staging, "general").unwrap(), None);
}

#[test]
fn keys_are_ascii_and_decode_back_to_server_and_room() {
    let (store, kv, _) = setup();
    store.save(&prod(), "a.b 💬/é", "t").unwrap();
    let keys = kv.all_keys();
    assert_eq!(keys.len(), 1);
    let key = &keys[0];
    assert!(key.is_ascii() && !key.contains(['/', '?', '#', '%', ' ']), "{key}");
    let rest = key.strip_prefix(DRAFT_PREFIX).unwrap();
    let (s, r) = rest.split_once('.').unwrap();
    assert_eq!(unhex(s).as_deref(), Some(prod().as_str()));
    assert_eq!(unhex(r).as_deref(), Some("a.b 💬/é"));
}

#[test]
fn record_is_versioned_json_with_rfc3339_saved_at() {
    let (store, kv, _) = setup();
    store.save(&prod(), "r", "body").unwrap();
    let key = draft_key(&prod(), "r").unwrap();
    let value = KeyValueStore::get(&kv, &key).unwrap();
    let json: serde_json::Value = serde_json::from_str(&value).unwrap();
    assert_eq!(
        json,
        serde_json::json!({
            "schema_version": 1,
            "server": "https://prod.example.com/",
            "room": "r",
            "text": "body",
            "saved_at": "2026-01-01T00:00:00Z",
        })
    );
}

#[test]
fn purge_deletes_only_expired_drafts_and_counts_them() {
    let (store, kv, clock) = setup();
    let staging = server("https://staging.example.com");
    store.save(&prod(), "old-1", "a").unwrap();
    store.save(&staging, "old-2", "b").unwrap();
    clock.advance(Duration::hours(12));
    store.save(&prod(), "young", "c").unwrap();
    assert_eq!(store.purge_expired().unwrap(), 0);
    clock.advance(Duration::hours(12));
    assert_eq!(store.purge_expired().unwrap(), 2);
    assert_eq!(kv.len(), 1);
    assert_eq!(store.peek(&prod(), "young").unwrap().as_deref(), Some("c"));
    assert_eq!(store.purge_expired().unwrap(), 0);
    clock.advance(Duration::hours(12));
    assert_eq!(store.purge_expired().unwrap(), 1);
    assert!(kv.is_empty());
}

#[test]
fn purge_leaves_unreadable_drafts_and_other_keys_alone() {
    let (store, kv, clock) = setup();
    store.save(&prod(), "r", "a").unwrap();
    KeyValueStore::set(&kv, "authstate.server.prod", "{}").unwrap();
    KeyValueStore::set(&kv, &draft_key(&prod(), "bad").unwrap(), "not json").unwrap();
    clock.advance(DRAFT_TTL);
    assert_eq!(store.purge_expired().unwrap(), 1);
    assert_eq!(kv.len(), 2);
}

#[test]
fn corrupt_value_is_a_corrupt_error_not_a_panic() {
    let (store, kv, _) = setup();
    let key = draft_key(&prod(), "r").unwrap();
    for bad in ["", "not json", "{}", "[1,2]", r#"{"schema_version":1,"text":"t"}"#] {
        KeyValueStore::set(&kv, &key, bad).unwrap();
        assert_eq!(store.peek(&prod(), "r"), Err(DraftError::Corrupt { key: key.clone() }), "{bad:?}");
        assert_eq!(store.take(&prod(), "r"), Err(DraftError::Corrupt { key: key.clone() }), "{bad:?}");
        assert_eq!(kv.len(), 1, "a corrupt entry is left in place");
    }
    store.save(&prod(), "r", "fresh").unwrap();
    assert_eq!(store.take(&prod(), "r").unwrap().as_deref(), Some("fresh"));
}

#[test]
fn record_under_another_key_or_from_a_newer_schema_is_corrupt() {
    let (store, kv, _) = setup();
    store.save(&prod(), "a", "text").unwrap();
    let a = draft_key(&prod(), "a").unwrap();
    let b = draft_key(&prod(), "b").unwrap();
    let value = KeyValueStore::get(&kv, &a).unwrap();
    KeyValueStore::set(&kv, &b, &value).unwrap();
    assert_eq!(store.peek(&prod(), "b"), Err(DraftError::Corrupt { key: b }));
    KeyValueStore::set(&kv, &a, &value.replace("\"schema_version\":1", "\"schema_version\":2")).unwrap();
    assert_eq!(store.take(&prod(), "a"), Err(DraftError::Corrupt { key: a }));
}

#[test]
fn unavailable_storage_is_an_error_not_no_draft() {
    let (store, kv, _) = setup();
    store.save(&prod(), "r", "safe").unwrap();
    kv.set_unavailable(true);
    let unavailable = |r: Result<_, DraftError>| matches!(r, Err(DraftError::Storage(StorageError::Unavailable(_))));
    assert!(unavailable(store.peek(&prod(), "r").map(drop)));
    assert!(unavailable(store.take(&prod(), "r").map(drop)));
    assert!(unavailable(store.save(&prod(), "r", "new")));
    assert!(unavailable(store.save(&prod(), "r", "")));
    assert!(unavailable(store.purge_expired().map(drop)));
    kv.set_unavailable(false);
    assert_eq!(store.take(&prod(), "r").unwrap().as_deref(), Some("safe"));
}

/// A store whose deletes fail while reads work (a keychain locking mid-call).
struct DeleteFails(MemoryStore);

impl KeyValueStore for DeleteFails {
    fn get(&self, key: &str) -> Result<String, StorageError> {
        KeyValueStore::get(&self.0, key)
    }
    fn set(&self, key: &str, value: &str) -> Result<(), StorageError> {
        KeyValueStore::set(&self.0, key, value)
    }
    fn delete(&self, _key: &str) -> Result<(), StorageError> {
        Err(StorageError::Unavailable("delete refused".into()))
    }
    fn keys(&self, prefix: &str) -> Result<Vec<String>, StorageError> {
        self.0.keys(prefix)
    }
}

#[test]
fn take_whose_delete_fails_keeps_the_draft_and_returns_the_error() {
    let kv = MemoryStore::new();
    let store = DraftStore::new(Arc::new(DeleteFails(kv.clone())), Arc::new(ManualClock::at_epoch()));
    store.save(&prod(), "r", "once").unwrap();
    assert!(matches!(store.take(&prod(), "r"), Err(DraftError::Storage(StorageError::Unavailable(_)))));
    assert_eq!(store.peek(&prod(), "r").unwrap().as_deref(), Some("once"));
}

#[test]
fn clones_share_drafts_and_debug_shows_no_text() {
    let (store, _, _) = setup();
    let other = store.clone();
    store.save(&prod(), "r", "secret words").unwrap();
    assert_eq!(other.take(&prod(), "r").unwrap().as_deref(), Some("secret words"));
    assert!(!format!("{store:?}").contains("secret"));
}

#[test]
fn hex_round_trips_and_rejects_non_hex() {
    for s in ["", "abc", "é💬\0.", "https://x.example/"] {
        assert_eq!(unhex(&hex(s)).as_deref(), Some(s));
    }
    assert_eq!(unhex("abc"), None);
    assert_eq!(unhex("zz"), None);
    assert_eq!(unhex("ff"), None, "not UTF-8");
}

#[test]
fn the_count_cap_evicts_expired_drafts_then_the_oldest_and_reports_it() {
    let (store, _, clock) = setup();
    let store = store.with_max_drafts(3);
    store.save(&prod(), "a", "old and expired").unwrap();
    clock.advance(Duration::hours(25));
    store.save(&prod(), "b", "oldest live").unwrap();
    clock.advance(Duration::minutes(1));
    store.save(&prod(), "c", "newer").unwrap();
    store.save(&prod(), "d", "newest").unwrap();
    assert!(store.take_evictions().is_empty(), "an expired draft made room; nothing lost");
    store.save(&prod(), "d", "replacing needs no room").unwrap();
    store.save(&prod(), "e", "one more").unwrap();
    let evicted = store.take_evictions();
    assert_eq!(evicted.len(), 1);
    assert_eq!((evicted[0].server.clone(), evicted[0].room.as_str()), (prod(), "b"));
    assert_eq!(store.peek(&prod(), "b").unwrap(), None);
    for room in ["c", "d", "e"] {
        assert!(store.peek(&prod(), room).unwrap().is_some(), "{room}");
    }
}

#[test]
fn a_clock_outside_the_storable_years_is_a_clear_error_and_keeps_the_draft() {
    let (store, _, clock) = setup();
    store.save(&prod(), "r", "kept").unwrap();
    clock.set(time::macros::datetime!(-0001-06-01 00:00 UTC));
    assert_eq!(store.save(&prod(), "r", "new"), Err(DraftError::ClockOutOfRange { year: -1 }));
    clock.set(time::macros::datetime!(0001-01-01 00:00 UTC));
    store.save(&prod(), "r", "year one").unwrap();
    assert_eq!(store.peek(&prod(), "r").unwrap().as_deref(), Some("year one"));
}
