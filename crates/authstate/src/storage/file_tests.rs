use super::*;

#[test]
fn values_survive_reopen() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("store.json");
    let s = FileStore::open(&path).unwrap();
    KeyValueStore::set(&s, "a", "1").unwrap();
    KeyValueStore::set(&s, "b", "2").unwrap();
    KeyValueStore::delete(&s, "a").unwrap();
    let again = FileStore::open(&path).unwrap();
    assert_eq!(KeyValueStore::get(&again, "b").unwrap(), "2");
    assert!(matches!(KeyValueStore::get(&again, "a"), Err(StorageError::NotFound(_))));
    assert_eq!(again.keys("").unwrap(), vec!["b".to_string()]);
    assert!(again.moved_aside().is_none());
}

#[test]
fn corrupt_file_is_moved_aside_and_reported() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("store.json");
    fs::write(&path, b"{\"format\":1,\"entries\":{\"a\":").unwrap();
    let s = FileStore::open(&path).unwrap();
    let aside = s.moved_aside().unwrap().to_path_buf();
    assert!(aside.to_string_lossy().contains(".corrupt-"));
    assert!(aside.exists());
    assert!(!path.exists());
    assert!(s.keys("").unwrap().is_empty());
    let notices = s.take_notices();
    assert!(matches!(&notices[..], [StoreNotice::MovedAside { moved_to, .. }] if *moved_to == aside));
    assert!(s.take_notices().is_empty(), "notices are handed out once");
    KeyValueStore::set(&s, "a", "1").unwrap();
    assert_eq!(KeyValueStore::get(&FileStore::open(&path).unwrap(), "a").unwrap(), "1");
}

#[test]
fn corruption_written_by_another_process_later_is_reported_too() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("store.json");
    let s = FileStore::open(&path).unwrap();
    KeyValueStore::set(&s, "a", "1").unwrap();
    fs::write(&path, b"garbage that is longer than before").unwrap();
    assert!(matches!(KeyValueStore::get(&s, "a"), Err(StorageError::NotFound(_))));
    assert_eq!(s.take_notices().len(), 1);
}

#[test]
fn unknown_format_is_moved_aside_not_misread() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("store.json");
    fs::write(&path, br#"{"format":99,"entries":{}}"#).unwrap();
    assert!(FileStore::open(&path).unwrap().moved_aside().is_some());
}

#[cfg(unix)]
#[test]
fn file_is_private_and_no_temp_files_remain() {
    use std::os::unix::fs::PermissionsExt;
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("store.json");
    let s = FileStore::open(&path).unwrap();
    KeyValueStore::set(&s, "a", "1").unwrap();
    assert_eq!(fs::metadata(&path).unwrap().permissions().mode() & 0o777, 0o600);
    let mut names: Vec<_> =
        fs::read_dir(dir.path()).unwrap().map(|e| e.unwrap().file_name().into_string().unwrap()).collect();
    names.sort();
    assert_eq!(names, ["store.json", "store.json.lock"]);
}

#[test]
fn orphaned_temporary_files_are_removed_at_open() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("secrets.json");
    let s = FileStore::open(&path).unwrap();
    KeyValueStore::set(&s, "a", "1").unwrap();
    // What a writer killed between writing and renaming leaves behind (old and new names).
    fs::write(dir.path().join("secrets.json.tmp-4242"), b"{\"tokens\": \"copy\"}").unwrap();
    fs::write(dir.path().join("secrets.json.tmp-4242-7"), b"{\"tokens\": \"copy\"}").unwrap();
    fs::write(dir.path().join("other.json.tmp-1"), b"not ours").unwrap();
    let again = FileStore::open(&path).unwrap();
    assert_eq!(KeyValueStore::get(&again, "a").unwrap(), "1");
    assert!(!dir.path().join("secrets.json.tmp-4242").exists());
    assert!(!dir.path().join("secrets.json.tmp-4242-7").exists());
    assert!(dir.path().join("other.json.tmp-1").exists(), "another file's temporaries are left alone");
}

#[test]
fn two_stores_on_one_file_see_and_keep_each_others_writes() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("state.json");
    let a = FileStore::open(&path).unwrap();
    let b = FileStore::open(&path).unwrap();
    KeyValueStore::set(&a, "from-a", "1").unwrap();
    KeyValueStore::set(&b, "from-b", "2").unwrap();
    assert_eq!(KeyValueStore::get(&a, "from-b").unwrap(), "2", "a re-reads b's write");
    KeyValueStore::delete(&a, "from-a").unwrap();
    assert_eq!(b.keys("").unwrap(), ["from-b"]);
    assert_eq!(FileStore::open(&path).unwrap().keys("").unwrap(), ["from-b"]);
}

#[test]
fn concurrent_writers_on_one_file_lose_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("state.json");
    let stores: Vec<_> = (0..8).map(|_| Arc::new(FileStore::open(&path).unwrap())).collect();
    let threads: Vec<_> = stores
        .iter()
        .enumerate()
        .map(|(i, s)| {
            let s = Arc::clone(s);
            std::thread::spawn(move || {
                for n in 0..25 {
                    KeyValueStore::set(&*s, &format!("k{i}-{n}"), "v").unwrap();
                }
            })
        })
        .collect();
    for t in threads {
        t.join().unwrap();
    }
    assert_eq!(FileStore::open(&path).unwrap().keys("k").unwrap().len(), 200);
}

#[test]
fn unwritable_location_is_unavailable() {
    let dir = tempfile::tempdir().unwrap();
    let sub = dir.path().join("sub");
    let s = FileStore::open(sub.join("store.json")).unwrap();
    fs::write(&sub, b"a file where the directory should be").unwrap();
    assert!(matches!(KeyValueStore::set(&s, "a", "1"), Err(StorageError::Unavailable(_))));
    assert!(matches!(KeyValueStore::get(&s, "a"), Err(StorageError::Unavailable(_))));
    assert!(matches!(FileStore::open(sub.join("store.json")), Err(StorageError::Unavailable(_))));
}

use std::sync::Arc;
