//! The default secret store in containers: `login` never says "Signed in"
//! for tokens the next command cannot find (issue #14).
//!
//! - Without a session keyring of its own (a container, a CI job: nothing
//!   ran `pam_keyinit` or `keyctl session`), a login's tokens used to land in
//!   a keyring that died with the `login` process: "Signed in", then
//!   `token` found nothing (exit 4). Now the next process finds them in the
//!   kernel keyring. This test runs only in such a process (as `cargo test`
//!   does on the test machines); under `keyctl session -` it prints SKIP.
//! - With the keyring system calls refused, as Docker's default seccomp
//!   profile does, the default store falls back to the 0600 file with one
//!   warning, and the store directory keeps that choice; an explicit
//!   `--secrets keyring` fails (exit 7) instead, before any password is sent.
//!
//! The sign-ins go to the real Django REST framework peer.
#![cfg(target_os = "linux")]

mod common;

use std::os::unix::fs::MetadataExt;
use std::os::unix::process::CommandExt;
use std::process::Command;

use common::django_peer::{DjangoOptions, DjangoPeer, http_client};
use common::{Machine, PASSWORD, Run, run_command};
use linux_keyutils::{KeyRing, KeyRingIdentifier};
use reqwest::StatusCode;

/// Whether this thread (kernel keyrings are per thread, and a spawned
/// process inherits its spawning thread's) has no session keyring of its
/// own: `@s` then stands for the user-session keyring `_uid_ses.<uid>`.
/// `None` when the keyring cannot be used at all.
fn without_own_session_keyring() -> Option<bool> {
    let session = KeyRing::from_special_id(KeyRingIdentifier::Session, false).ok()?;
    let description = session.metadata().ok()?.get_description().to_owned();
    Some(description.starts_with("_uid_ses."))
}

/// `command` with the keyring system calls (add_key, request_key, keyctl)
/// failing with EPERM, as under Docker's default seccomp profile.
fn without_keyring_syscalls(mut command: Command) -> Command {
    // SAFETY: the closure runs in the forked child before exec; it only
    // builds a filter on the stack and makes two raw system calls.
    unsafe { command.pre_exec(deny_keyring_syscalls) };
    command
}

fn deny_keyring_syscalls() -> std::io::Result<()> {
    #[cfg(target_arch = "x86_64")]
    const AUDIT_ARCH: u32 = 0xC000_003E;
    #[cfg(target_arch = "aarch64")]
    const AUDIT_ARCH: u32 = 0xC000_00B7;
    #[cfg(not(any(target_arch = "x86_64", target_arch = "aarch64")))]
    compile_error!("add this architecture's AUDIT_ARCH value");

    fn stmt(code: u32, k: u32) -> libc::sock_filter {
        libc::sock_filter { code: code as u16, jt: 0, jf: 0, k }
    }
    fn jump_if(k: u32, jt: u8) -> libc::sock_filter {
        libc::sock_filter { code: (libc::BPF_JMP | libc::BPF_JEQ | libc::BPF_K) as u16, jt, jf: 0, k }
    }
    let load = libc::BPF_LD | libc::BPF_W | libc::BPF_ABS;
    let ret = libc::BPF_RET | libc::BPF_K;
    let refuse = libc::SECCOMP_RET_ERRNO | libc::EPERM as u32;
    let mut filter = [
        stmt(load, 4), // seccomp_data.arch
        jump_if(AUDIT_ARCH, 1),
        stmt(ret, libc::SECCOMP_RET_ALLOW),
        stmt(load, 0), // seccomp_data.nr
        jump_if(libc::SYS_add_key as u32, 3),
        jump_if(libc::SYS_request_key as u32, 2),
        jump_if(libc::SYS_keyctl as u32, 1),
        stmt(ret, libc::SECCOMP_RET_ALLOW),
        stmt(ret, refuse),
    ];
    let program = libc::sock_fprog { len: filter.len() as u16, filter: filter.as_mut_ptr() };
    // SAFETY: plain system calls; `program` outlives them.
    unsafe {
        if libc::prctl(libc::PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) != 0
            || libc::syscall(libc::SYS_seccomp, libc::SECCOMP_SET_MODE_FILTER, 0, &program) != 0
        {
            return Err(std::io::Error::last_os_error());
        }
    }
    Ok(())
}

/// `machine`'s command `args`, run with the keyring system calls refused.
fn run_without_keyring(machine: &Machine, args: &[&str], stdin: &str) -> Run {
    run_command(without_keyring_syscalls(machine.command(args)), args, stdin)
}

fn login_args(alias: &str) -> Vec<&str> {
    vec!["login", alias, "--username", "alice", "--password-stdin"]
}

fn record(machine: &Machine) -> Option<String> {
    std::fs::read_to_string(machine.store_dir().join("secret-store")).ok().map(|s| s.trim().to_owned())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn without_a_session_keyring_the_next_command_finds_the_tokens() {
    // Checked on this thread, which spawns the commands below.
    match without_own_session_keyring() {
        Some(true) => {}
        Some(false) => {
            eprintln!("SKIP: this process has a session keyring of its own (run outside `keyctl session`)");
            return;
        }
        None => {
            eprintln!("SKIP: the kernel keyring cannot be used here");
            return;
        }
    }
    let Some(peer) = DjangoPeer::start(DjangoOptions::default()).await else { return };
    peer.create_user("alice", PASSWORD).await;
    let machine = Machine::with_keyring();
    machine.add_server(&[&peer.base_url(), "--alias", "api", "--provider", "token-pair"]);

    let login = machine.password_login("api", "alice", PASSWORD, &[]).success().stderr_has("Signed in to api");
    assert!(!login.stderr.contains("warning:"), "the kernel keyring works here: no fallback\n{login}");
    assert_eq!(record(&machine).as_deref(), Some("keyring"));

    // Each command is a new process: the tokens must be where the next one looks.
    let token = machine.token("api");
    let me = http_client().get(peer.url("api/me/")).bearer_auth(&token).send().await.expect("GET api/me/");
    assert_eq!(me.status(), StatusCode::OK);
    assert_eq!(machine.status_of("api")["state"], "active");
    assert!(!machine.store_dir().join("secrets.json").exists(), "tokens were written to a file");

    machine.run(&["logout", "api"]).success();
    machine.run(&["token", "api"]).code(4).one_line_error();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_refused_keyring_falls_back_to_the_file_store_once_and_for_good() {
    let Some(peer) = DjangoPeer::start(DjangoOptions::default()).await else { return };
    peer.create_user("alice", PASSWORD).await;
    let machine = Machine::with_keyring();
    let url = peer.base_url();
    let add = ["server", "add", url.as_str(), "--alias", "api", "--provider", "token-pair"];
    run_without_keyring(&machine, &add, "").success();

    let login = run_without_keyring(&machine, &login_args("api"), &format!("{PASSWORD}\n"))
        .success()
        .stderr_has("Signed in to api")
        .reveals_none(&[PASSWORD]);
    let warned: Vec<&str> = login.stderr.lines().filter(|l| l.starts_with("warning: ")).collect();
    assert_eq!(warned.len(), 1, "one warning line\n{login}");
    assert!(warned[0].contains("keyring") && warned[0].contains("secrets.json"), "{login}");

    let secrets = machine.store_dir().join("secrets.json");
    assert_eq!(std::fs::metadata(&secrets).expect("secrets.json").mode() & 0o777, 0o600);
    assert_eq!(record(&machine).as_deref(), Some("file"));

    // The next commands, without a flag, use the file store: with the keyring
    // refused or not, and without another warning.
    let token = run_without_keyring(&machine, &["token", "api"], "").success();
    assert!(token.stderr.is_empty(), "{token}");
    let me =
        http_client().get(peer.url("api/me/")).bearer_auth(token.stdout.trim_end()).send().await.expect("GET api/me/");
    assert_eq!(me.status(), StatusCode::OK);
    let again = machine.run(&["token", "api"]).success();
    assert_eq!(again.stdout, token.stdout, "{again}");
    assert!(again.stderr.is_empty(), "{again}");

    machine.run(&["logout", "api"]).success();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_explicit_keyring_that_is_refused_fails_the_login_before_the_password_is_sent() {
    let Some(peer) = DjangoPeer::start(DjangoOptions::default()).await else { return };
    peer.create_user("alice", PASSWORD).await;
    let machine = Machine::with_keyring();
    let url = peer.base_url();
    let add = ["server", "add", url.as_str(), "--alias", "api", "--provider", "token-pair"];
    run_without_keyring(&machine, &add, "").success();

    let mut args = vec!["--secrets", "keyring"];
    args.extend(login_args("api"));
    let login = run_without_keyring(&machine, &args, &format!("{PASSWORD}\n"))
        .code(7)
        .one_line_error()
        .stderr_has("keyring")
        .stderr_has("hint: use `--secrets file`")
        .reveals_none(&[PASSWORD]);
    assert!(!login.stderr.contains("Signed in"), "{login}");
    let counts: serde_json::Value =
        http_client().get(peer.url("__test/counts")).send().await.expect("counts").json().await.expect("json");
    assert_eq!(counts["jwt_login"], 0, "the password was sent");
    assert_eq!(record(&machine), None, "an explicit choice is not recorded");
    assert!(!machine.store_dir().join("secrets.json").exists());
}
