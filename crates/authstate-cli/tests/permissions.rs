//! Who may read and write the store directory: the user's own files that are
//! too open are tightened with a warning and still used; another user's file,
//! a file others can write, or a symbolic link to another user's file is
//! refused with exit 7 and left unread. No server: a store signed in offline.
//!
//! The tests that hand a file to another user (`chown 65534`) need root, as
//! the test machines run; elsewhere they print SKIP and pass.
#![cfg(unix)]

mod common;

use std::fs;
use std::os::unix::fs::{MetadataExt, PermissionsExt, symlink};
use std::path::Path;

use common::Machine;

/// `nobody` on Debian: a user who is not the one running the tests.
const OTHER_UID: u32 = 65534;

fn mode(path: &Path) -> u32 {
    fs::symlink_metadata(path).expect("stat").mode() & 0o7777
}

fn set_mode(path: &Path, mode: u32) {
    fs::set_permissions(path, fs::Permissions::from_mode(mode)).expect("chmod");
}

/// A machine with a token-pair server `prod` signed in offline (token `offline-token`).
fn signed_in_machine() -> Machine {
    let machine = Machine::new();
    machine.add_server(&["https://prod.example.com", "--alias", "prod", "--provider", "token-pair"]);
    machine.sign_in_offline("prod", "offline-token");
    assert_eq!(machine.token("prod"), "offline-token");
    machine
}

/// Whether the tests run as root (needed to give a file to another user).
fn running_as_root(machine: &Machine) -> bool {
    let root = fs::metadata(machine.store_dir()).expect("stat").uid() == 0;
    if !root {
        eprintln!("SKIP: not root, cannot chown a file to another user");
    }
    root
}

/// The `warning:` lines of stderr.
fn warnings(stderr: &str) -> Vec<&str> {
    stderr.lines().filter(|l| l.starts_with("warning: ")).collect()
}

#[test]
fn a_secrets_file_open_to_others_is_tightened_with_one_warning_and_still_used() {
    let machine = signed_in_machine();
    let secrets = machine.store_dir().join("secrets.json");
    assert_eq!(mode(&secrets), 0o600, "secrets.json is created 0600");
    set_mode(&secrets, 0o644);

    let run = machine.run(&["token", "prod"]).success();
    assert_eq!(run.stdout, "offline-token\n", "the token is still read\n{run}");
    let warned = warnings(&run.stderr);
    assert_eq!(warned.len(), 1, "one warning line\n{run}");
    for part in [secrets.to_str().expect("utf-8"), "0644", "0600"] {
        assert!(warned[0].contains(part), "the warning lacks {part:?}\n{run}");
    }
    assert!(!run.stderr.contains("offline-token"), "a token in a message\n{run}");
    assert_eq!(mode(&secrets), 0o600);

    // Fixed once: the next command says nothing.
    let again = machine.run(&["token", "prod"]).success();
    assert!(again.stderr.is_empty(), "{again}");
}

#[test]
fn the_state_file_journal_and_lock_files_open_to_others_are_tightened() {
    let machine = signed_in_machine();
    let names = ["state.json", "prod.lease", "authstate.lock", "authstate.changes", "state.json.lock"];
    for name in names {
        set_mode(&machine.store_dir().join(name), 0o640);
    }
    let run = machine.run(&["status"]).success();
    assert_eq!(warnings(&run.stderr).len(), names.len(), "one warning per file\n{run}");
    for name in names {
        assert_eq!(mode(&machine.store_dir().join(name)), 0o600, "{name}");
    }
}

#[test]
fn a_refresh_journal_others_can_write_is_refused_unread() {
    let machine = signed_in_machine();
    let journal = machine.store_dir().join("prod.lease");
    set_mode(&journal, 0o666);
    machine
        .run(&["token", "prod"])
        .code(7)
        .one_line_error()
        .stderr_has(journal.to_str().expect("utf-8"))
        .stderr_has("writable by other users")
        .reveals_none(&["offline-token"]);
    assert_eq!(mode(&journal), 0o666, "a refused file is left as it is");
}

#[test]
fn a_store_directory_open_to_others_is_tightened_to_0700() {
    let machine = Machine::new();
    machine.add_server(&["https://prod.example.com", "--alias", "prod", "--provider", "token-pair"]);
    let dir = machine.store_dir();
    assert_eq!(mode(dir), 0o700, "the CLI made it private");
    set_mode(dir, 0o755);

    let run = machine.run(&["server", "list"]).success();
    assert!(run.stdout.contains("prod"), "{run}");
    let warned = warnings(&run.stderr);
    assert_eq!(warned.len(), 1, "{run}");
    for part in [dir.to_str().expect("utf-8"), "0755", "0700"] {
        assert!(warned[0].contains(part), "the warning lacks {part:?}\n{run}");
    }
    assert_eq!(mode(dir), 0o700);
}

#[test]
fn a_new_store_directory_is_created_0700() {
    let parent = tempfile::tempdir().expect("temp dir");
    let dir = parent.path().join("nested/store");
    let mut command = std::process::Command::new(assert_cmd::cargo::cargo_bin!("authstate"));
    command.env_remove("AUTHSTATE_STORE_DIR").arg("--store-dir").arg(&dir).args([
        "--secrets",
        "file",
        "server",
        "list",
    ]);
    common::run_command(command, &["server", "list"], "").success();
    assert_eq!(mode(&dir), 0o700);
}

#[test]
fn a_secrets_file_others_can_write_is_refused_unread() {
    let machine = signed_in_machine();
    let secrets = machine.store_dir().join("secrets.json");
    set_mode(&secrets, 0o666);

    machine
        .run(&["token", "prod"])
        .code(7)
        .one_line_error()
        .stderr_has(secrets.to_str().expect("utf-8"))
        .stderr_has("writable by other users")
        .stderr_has("hint: ")
        .reveals_none(&["offline-token"]);
    assert_eq!(mode(&secrets), 0o666, "a refused file is left as it is");
}

#[test]
fn a_secrets_file_owned_by_another_user_is_refused_unread() {
    let machine = signed_in_machine();
    if !running_as_root(&machine) {
        return;
    }
    let secrets = machine.store_dir().join("secrets.json");
    // Not a store document: had it been read, it would have been moved aside as corrupt.
    fs::write(&secrets, "planted by someone else").expect("write");
    std::os::unix::fs::chown(&secrets, Some(OTHER_UID), Some(OTHER_UID)).expect("chown");

    for args in [&["token", "prod"][..], &["status"], &["server", "list"]] {
        machine
            .run(args)
            .code(7)
            .one_line_error()
            .stderr_has(secrets.to_str().expect("utf-8"))
            .stderr_has(&format!("uid {OTHER_UID}"))
            .stderr_has("hint: ");
    }
    assert_eq!(fs::read_to_string(&secrets).expect("read"), "planted by someone else");
    let leftovers: Vec<_> = fs::read_dir(machine.store_dir())
        .expect("ls")
        .flatten()
        .filter(|e| e.file_name().to_string_lossy().contains(".corrupt-"))
        .collect();
    assert!(leftovers.is_empty(), "the refused file was read: {leftovers:?}");
    assert_eq!(fs::metadata(&secrets).expect("stat").uid(), OTHER_UID, "left as it is");
}

#[test]
fn a_state_file_owned_by_another_user_is_refused() {
    let machine = signed_in_machine();
    if !running_as_root(&machine) {
        return;
    }
    let state = machine.store_dir().join("state.json");
    std::os::unix::fs::chown(&state, Some(OTHER_UID), None).expect("chown");
    machine.run(&["status"]).code(7).one_line_error().stderr_has(state.to_str().expect("utf-8"));
}

#[test]
fn a_symlinked_secrets_file_of_another_user_is_refused() {
    let machine = signed_in_machine();
    if !running_as_root(&machine) {
        return;
    }
    let elsewhere = tempfile::tempdir().expect("temp dir");
    let theirs = elsewhere.path().join("their-secrets.json");
    fs::write(&theirs, r#"{"format":1,"entries":{}}"#).expect("write");
    set_mode(&theirs, 0o600);
    std::os::unix::fs::chown(&theirs, Some(OTHER_UID), Some(OTHER_UID)).expect("chown");
    let secrets = machine.store_dir().join("secrets.json");
    fs::remove_file(&secrets).expect("rm");
    symlink(&theirs, &secrets).expect("ln -s");

    machine
        .run(&["token", "prod"])
        .code(7)
        .one_line_error()
        .stderr_has(secrets.to_str().expect("utf-8"))
        .stderr_has(&format!("uid {OTHER_UID}"));
    assert!(fs::symlink_metadata(&secrets).expect("lstat").file_type().is_symlink(), "the link is left as it is");

    // A link owned by someone else is refused even when it leads to a file of ours.
    let ours = elsewhere.path().join("our-secrets.json");
    fs::write(&ours, r#"{"format":1,"entries":{}}"#).expect("write");
    set_mode(&ours, 0o600);
    fs::remove_file(&secrets).expect("rm");
    symlink(&ours, &secrets).expect("ln -s");
    std::os::unix::fs::lchown(&secrets, Some(OTHER_UID), Some(OTHER_UID)).expect("lchown");
    machine.run(&["status"]).code(7).one_line_error().stderr_has("symbolic link");
}

#[test]
fn a_store_directory_owned_by_another_user_is_refused() {
    let machine = Machine::new();
    if !running_as_root(&machine) {
        return;
    }
    machine.add_server(&["https://prod.example.com", "--alias", "prod", "--provider", "token-pair"]);
    let dir = machine.store_dir();
    set_mode(dir, 0o777);
    std::os::unix::fs::chown(dir, Some(OTHER_UID), Some(OTHER_UID)).expect("chown");

    machine.run(&["status"]).code(7).one_line_error().stderr_has(dir.to_str().expect("utf-8")).stderr_has("hint: ");
    assert_eq!(mode(dir), 0o777, "another user's directory is left as it is");
    // Give it back, so the temporary directory can be removed.
    std::os::unix::fs::chown(dir, Some(0), Some(0)).expect("chown back");
}
