//! SIGKILL during `authstate token`'s refresh (issue #13), 200 kills against
//! the real simplejwt (rotation, old refresh tokens blacklisted), with
//! `--secrets file`. Each round expires the stored access token, starts
//! `token`, kills it at a delay spread over the span of a whole refresh
//! (process start to exit), then runs `token` again, as the next command
//! would, and sorts what it says:
//!
//! - survived: the next `token` works (the kill came before the request was
//!   sent, or after the new tokens were saved, or the server never rotated);
//! - lost, named honestly: exit 4, "the refresh was interrupted … sign in
//!   again" — the server rotated and the answer died with the process,
//!   which no client can recover without a server grace window; the test
//!   signs in again and goes on;
//! - anything else (a lost session called "rejected", another exit code) fails.
//!
//! After every next command no temporary file of the stores is left. The
//! counts are printed (BENCHMARKS.md records them).

mod common;

use std::process::Stdio;
use std::time::{Duration, Instant};

use common::django_peer::{DjangoOptions, DjangoPeer};
use common::{Machine, PASSWORD};

const ALIAS: &str = "api";

#[derive(Debug, Default)]
struct Tally {
    /// `token` had finished before the kill came.
    finished_first: usize,
    /// Killed; the next `token` worked without a word about an interruption.
    survived: usize,
    /// Killed after the journal said "refreshing"; the next `token` still worked.
    survived_interrupted: usize,
    /// Killed after the server rotated: the next `token` said the refresh was interrupted (exit 4).
    lost_interrupted: usize,
    /// Anything else, with the output.
    other: Vec<String>,
}

fn login(machine: &Machine) {
    machine.password_login(ALIAS, "alice", PASSWORD, &[]).success();
}

/// How long one `token` with a refresh takes here (the median of five).
fn refresh_span(machine: &Machine) -> Duration {
    let mut took: Vec<Duration> = (0..5)
        .map(|_| {
            machine.expire_access_token(ALIAS);
            let started = Instant::now();
            machine.run(&["token", ALIAS]).success();
            started.elapsed()
        })
        .collect();
    took.sort();
    took[2]
}

fn kill_rounds(machine: &Machine, kills: usize) -> Tally {
    let span = refresh_span(machine);
    println!("one `token` with a refresh takes {span:?} here; kills are spread over 0..{span:?} after its start");
    let mut tally = Tally::default();
    for round in 0..kills {
        machine.expire_access_token(ALIAS);
        // Spread over the span, in an order that is not monotonic.
        let delay = span * ((round * 37) % kills) as u32 / kills as u32;
        let mut child = machine
            .command(&["token", ALIAS])
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("spawn authstate token");
        // Deliberate: where in the refresh the kill lands is what this test varies.
        std::thread::sleep(delay);
        let finished = child.try_wait().expect("try_wait").is_some();
        if !finished {
            child.kill().expect("SIGKILL");
        }
        child.wait().expect("reap");

        // The next command.
        machine.expire_access_token(ALIAS);
        let next = machine.run(&["token", ALIAS]);
        let left = machine.temporary_files();
        assert!(left.is_empty(), "round {round}: temporary files left after the next command: {left:?}\n{next}");
        assert!(
            !next.stderr.contains("rejected the refresh token"),
            "round {round}: an interrupted refresh reported as a rejection\n{next}"
        );
        let interrupted_warning = next.stderr.contains("an earlier refresh was interrupted");
        match next.code {
            Some(0) if finished => tally.finished_first += 1,
            Some(0) if interrupted_warning => tally.survived_interrupted += 1,
            Some(0) => tally.survived += 1,
            Some(4)
                if next.stderr.contains("error: api: the refresh was interrupted")
                    && next.stderr.contains("sign in again")
                    && next.stdout.is_empty() =>
            {
                tally.lost_interrupted += 1;
                login(machine);
            }
            _ => {
                tally.other.push(format!("round {round} (delay {delay:?}, finished {finished}):\n{next}"));
                login(machine);
            }
        }
    }
    tally
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sigkill_during_token_refresh_loses_only_answers_the_server_rotated_and_names_them() {
    let Some(peer) = DjangoPeer::start(DjangoOptions::default()).await else { return };
    peer.create_user("alice", PASSWORD).await;
    let kills: usize = std::env::var("AUTHSTATE_KILLS").ok().and_then(|v| v.parse().ok()).unwrap_or(200);
    let machine = Machine::new();
    machine.add_server(&[&peer.base_url(), "--alias", ALIAS, "--provider", "token-pair"]);
    login(&machine);

    let started = Instant::now();
    let (machine, tally) = tokio::task::spawn_blocking(move || {
        let tally = kill_rounds(&machine, kills);
        (machine, tally)
    })
    .await
    .expect("the kill rounds panicked");
    let killed = kills - tally.finished_first;
    let lost_share = tally.lost_interrupted as f64 / killed.max(1) as f64 * 100.0;
    println!(
        "{kills} rounds in {:?}: {} finished before the kill; of {killed} killed: {} survived, {} survived an interruption, \
         {} lost as RefreshInterrupted ({lost_share:.1}% of kills), {} other",
        started.elapsed(),
        tally.finished_first,
        tally.survived,
        tally.survived_interrupted,
        tally.lost_interrupted,
        tally.other.len()
    );
    assert!(tally.other.is_empty(), "outcomes other than survived or lost-as-interrupted:\n{}", tally.other.join("\n"));
    // The session is alive at the end.
    machine.expire_access_token(ALIAS);
    machine.run(&["token", ALIAS]).success();
}
