//! Observation through the FFI (issue #15): the watches carry the core's
//! rules, so every language's stream, a loop over `next()`, behaves alike.

mod common;

use std::sync::Arc;

use authstate_ffi::{AuthError, ServerManager, SessionState};

fn add(manager: &ServerManager, alias: &str) {
    common::add(manager, alias).expect("add server");
}

/// Polls `future` once: `Some` if it finished.
fn poll_once<F: std::future::Future>(future: std::pin::Pin<&mut F>) -> Option<F::Output> {
    let waker = std::task::Waker::noop();
    match future.poll(&mut std::task::Context::from_waker(waker)) {
        std::task::Poll::Ready(value) => Some(value),
        std::task::Poll::Pending => None,
    }
}

#[tokio::test]
async fn an_unknown_alias_is_refused_at_once() {
    let manager = ServerManager::in_memory().unwrap();
    assert!(matches!(manager.watch_state("nope".into()), Err(AuthError::UnknownServer { .. })));
}

#[tokio::test]
async fn the_current_state_comes_first_other_servers_are_silent_and_removal_ends_the_stream() {
    let manager = ServerManager::in_memory().unwrap();
    add(&manager, "a");
    let watch = manager.watch_state("a".into()).unwrap();
    let first = watch.next().await.expect("the current state at once");
    assert_eq!((first.state, first.revision), (SessionState::NoSession, manager.connection_revision()));

    let mut pending = Box::pin(watch.next());
    add(&manager, "b");
    assert_eq!(poll_once(pending.as_mut()), None, "server b's arrival is not a change of a");
    manager.remove_server("a".into()).unwrap();
    assert_eq!(pending.await, None, "removed while NoSession: the stream ends");
    assert_eq!(watch.next().await, None, "and stays ended");
}

#[tokio::test]
async fn revisions_start_with_the_current_one_and_follow_changes() {
    let manager = ServerManager::in_memory().unwrap();
    let watch = manager.watch_revisions();
    let start = watch.next().await.unwrap();
    assert_eq!(start, manager.connection_revision());
    add(&manager, "a");
    assert_eq!(watch.next().await, Some(manager.connection_revision()));
    assert!(manager.connection_revision() > start);
    watch.cancel();
    assert_eq!(watch.next().await, None);
}

#[tokio::test]
async fn cancelling_a_thousand_watches_leaves_no_pending_wait() {
    let manager = ServerManager::in_memory().unwrap();
    add(&manager, "a");
    let mut watches = Vec::new();
    for _ in 0..500 {
        let state = manager.watch_state("a".into()).unwrap();
        state.next().await.unwrap();
        let revisions = manager.watch_revisions();
        revisions.next().await.unwrap();
        watches.push((state, revisions));
    }
    let mut waits = Vec::new();
    for (state, revisions) in &watches {
        let (state, revisions) = (Arc::clone(state), Arc::clone(revisions));
        waits.push(tokio::spawn(async move { state.next().await.map(|o| o.revision) }));
        waits.push(tokio::spawn(async move { revisions.next().await }));
    }
    while manager.pending_waits() < 1_000 {
        tokio::task::yield_now().await;
    }
    for (state, revisions) in &watches {
        state.cancel();
        revisions.cancel();
    }
    for wait in waits {
        assert_eq!(wait.await.unwrap(), None, "released by cancel, not by a change");
    }
    assert_eq!(manager.pending_waits(), 0);
}
