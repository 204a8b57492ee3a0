//! What the stores hold and found, as the host sees it through the FFI
//! (DESIGN.md invariants 12–14): directories are validated, drafts have their
//! own file, a corrupt file is moved aside and reported in `restore_report`,
//! a removed server's session answers `UnknownServer`, and managers sharing a
//! directory follow each other without being asked.

mod common;

use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

use authstate::SessionError;
use authstate::refresh::TransientKind;
use authstate_ffi::{AuthError, ExpiryReason, ManagerOptions, ServerManager, SessionState, StoreNotice};

fn add(manager: &ServerManager, alias: &str) {
    common::add(manager, alias).expect("add server");
}

fn in_dir(dir: &Path) -> Arc<ServerManager> {
    ServerManager::with_files(dir.to_string_lossy().into_owned()).expect("open")
}

fn options(directory: Option<&str>, lock_directory: Option<&str>) -> ManagerOptions {
    ManagerOptions {
        directory: directory.map(str::to_owned),
        lock_directory: lock_directory.map(str::to_owned),
        ..ManagerOptions::default()
    }
}

#[test]
fn blank_directories_are_invalid_input_and_unusable_ones_a_storage_error_naming_them() {
    for blank in ["", "   ", "\t\n"] {
        for opts in [options(Some(blank), None), options(None, Some(blank))] {
            let result = ServerManager::new(opts, None, None, None);
            assert!(matches!(result, Err(AuthError::InvalidInput { .. })), "{blank:?}");
        }
    }
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("a-file");
    std::fs::write(&file, b"not a directory").unwrap();
    let inside_a_file = file.join("store");
    let inside = inside_a_file.to_string_lossy();
    for (opts, field) in [(options(Some(&inside), None), "directory"), (options(None, Some(&inside)), "lock_directory")]
    {
        match ServerManager::new(opts, None, None, None) {
            Err(AuthError::Storage { detail }) => {
                assert!(detail.contains(field) && detail.contains(inside.as_ref()), "{detail}")
            }
            other => panic!("expected Storage for {field}, got {:?}", other.map(|_| ())),
        }
    }
}

#[test]
fn a_missing_directory_is_created_and_drafts_get_their_own_file() {
    let root = tempfile::tempdir().unwrap();
    let dir = root.path().join("nested/app");
    let manager = in_dir(&dir);
    add(&manager, "chat");
    manager.drafts().save("chat".into(), "room".into(), "half a sentence".into()).unwrap();
    let state = std::fs::read_to_string(dir.join("state.json")).unwrap();
    let drafts = std::fs::read_to_string(dir.join("drafts.json")).unwrap();
    assert!(drafts.contains("half a sentence") && !state.contains("half a sentence"));
    assert!(dir.join("authstate.changes").exists(), "the directory is the lock directory by default");
    let leftovers: Vec<_> = std::fs::read_dir(&dir)
        .unwrap()
        .filter_map(|e| e.ok()?.file_name().into_string().ok())
        .filter(|name| name.contains("probe"))
        .collect();
    assert!(leftovers.is_empty(), "the writability probe leaves nothing: {leftovers:?}");

    let again = in_dir(&dir);
    assert_eq!(again.drafts().take("chat".into(), "room".into()).unwrap().as_deref(), Some("half a sentence"));
    assert!(again.restore_report().is_clean, "{:?}", again.restore_report());
    assert_eq!(again.restore_report().restored, 1);
}

#[test]
fn a_separate_lock_directory_holds_the_coordination_files() {
    let (store, locks) = (tempfile::tempdir().unwrap(), tempfile::tempdir().unwrap());
    let opts = options(Some(&store.path().to_string_lossy()), Some(&locks.path().to_string_lossy()));
    let manager = ServerManager::new(opts, None, None, None).unwrap();
    add(&manager, "chat");
    assert!(locks.path().join("authstate.changes").exists());
    assert!(!store.path().join("authstate.changes").exists());
    // Memory stores may still share a lock directory (nothing to share, nothing breaks).
    let memory = ServerManager::new(options(None, Some(&locks.path().to_string_lossy())), None, None, None).unwrap();
    add(&memory, "chat");
}

#[test]
fn a_corrupt_secrets_file_is_moved_aside_and_reported_to_the_host() {
    let dir = tempfile::tempdir().unwrap();
    add(&in_dir(dir.path()), "chat");
    std::fs::write(dir.path().join("secrets.json"), b"{\"format\":1,\"entries\":").unwrap();
    std::fs::write(dir.path().join("drafts.json"), b"\x00garbage").unwrap();

    let manager = in_dir(dir.path());
    let report = manager.restore_report();
    assert!(!report.is_clean);
    let moved: Vec<_> = report
        .notices
        .iter()
        .map(|notice| match notice {
            StoreNotice::MovedAside { file, moved_to, detail } => {
                assert!(Path::new(moved_to).exists(), "the content is kept at {moved_to}");
                assert!(!detail.is_empty());
                Path::new(file).file_name().unwrap().to_string_lossy().into_owned()
            }
            StoreNotice::Other { detail } => panic!("unexpected notice {detail}"),
        })
        .collect();
    assert!(moved.contains(&"secrets.json".to_owned()) && moved.contains(&"drafts.json".to_owned()), "{moved:?}");
    assert_eq!(manager.state("chat".into()).unwrap(), SessionState::NoSession);
    assert!(manager.store_notices().is_empty(), "what opening found is in the report, not repeated");
}

#[test]
fn a_store_file_corrupted_after_opening_is_reported_by_store_notices() {
    let dir = tempfile::tempdir().unwrap();
    let manager = in_dir(dir.path());
    add(&manager, "chat");
    manager.drafts().save("chat".into(), "room".into(), "text".into()).unwrap();
    std::fs::write(dir.path().join("drafts.json"), b"not json").unwrap();
    // The next write re-reads the file under its lock, finds it corrupt, moves it aside.
    manager.drafts().save("chat".into(), "other".into(), "more".into()).unwrap();
    let notices = manager.store_notices();
    assert!(
        notices.iter().any(|n| matches!(n, StoreNotice::MovedAside { file, .. } if file.ends_with("drafts.json"))),
        "{notices:?}"
    );
    assert_eq!(manager.store_notices(), notices, "notices accumulate; reading them twice gives the same list");
}

#[tokio::test]
async fn a_removed_servers_session_answers_unknown_server_and_holds_nothing() {
    let manager = ServerManager::in_memory().unwrap();
    add(&manager, "chat");
    let session = manager.session("chat".into()).unwrap();
    assert!(!session.is_removed());
    manager.remove_server("chat".into()).unwrap();

    assert!(session.is_removed());
    assert_eq!(session.state(), SessionState::NoSession);
    assert_eq!(session.token_info(), None);
    assert_eq!(session.valid_access_token(), None);
    assert!(!session.persistence_pending());
    let unknown = |result: Result<(), AuthError>, what: &str| {
        assert!(matches!(result, Err(AuthError::UnknownServer { .. })), "{what}: {result:?}");
    };
    unknown(session.fresh_access_token().await.map(|_| ()), "fresh_access_token");
    unknown(session.refresh().await, "refresh");
    unknown(session.probe().await.map(|_| ()), "probe");
    unknown(session.sign_out_locally(), "sign_out_locally");
    unknown(session.mark_expired(), "mark_expired");
    unknown(manager.session("chat".into()).map(|_| ()), "manager.session");
    unknown(manager.state("chat".into()).map(|_| ()), "manager.state");
}

#[test]
fn the_core_errors_new_in_13_map_to_what_the_host_should_do() {
    let interrupted = SessionError::TryLater { kind: TransientKind::Interrupted, retry_after: None };
    assert!(matches!(AuthError::from(interrupted), AuthError::TryLater { .. }));
    assert!(matches!(AuthError::from(SessionError::ServerRemoved), AuthError::UnknownServer { .. }));
    let storage = SessionError::Storage(authstate::storage::StorageError::Unavailable("locked".into()));
    assert!(matches!(AuthError::from(storage), AuthError::Storage { .. }));
    assert_eq!(ExpiryReason::from(authstate::ExpiryReason::RefreshInterrupted), ExpiryReason::RefreshInterrupted);
}

#[tokio::test]
async fn managers_sharing_a_directory_follow_each_other_without_being_asked() {
    let dir = tempfile::tempdir().unwrap();
    let (a, b) = (in_dir(dir.path()), in_dir(dir.path()));
    let seen = b.connection_revision();
    let started = std::time::Instant::now();
    add(&a, "chat");
    // No call on b: its follower notices the change counter and catches up.
    let revision = tokio::time::timeout(Duration::from_secs(5), b.changed(seen)).await.expect("b follows a");
    assert!(revision > seen);
    assert_eq!(b.servers().iter().map(|s| s.alias.as_str()).collect::<Vec<_>>(), ["chat"]);
    assert!(started.elapsed() < Duration::from_secs(2), "within a few follower periods: {:?}", started.elapsed());

    let seen = b.connection_revision();
    a.remove_server("chat".into()).unwrap();
    tokio::time::timeout(Duration::from_secs(5), b.changed(seen)).await.expect("b follows the removal");
    assert!(b.servers().is_empty());
}
