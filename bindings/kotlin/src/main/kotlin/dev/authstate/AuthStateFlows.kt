// Kotlin's idiom over the core's watches (`watchRevisions`, `watchState`):
// each Flow is a thin loop over `next()`, and a server's state a StateFlow for
// Compose or a ViewModel. What counts as a change, what comes first and what a
// removal does are the core's rules; this layer adds none of its own.

package dev.authstate

import kotlinx.coroutines.CoroutineScope
import kotlinx.coroutines.flow.Flow
import kotlinx.coroutines.flow.SharingStarted
import kotlinx.coroutines.flow.StateFlow
import kotlinx.coroutines.flow.catch
import kotlinx.coroutines.flow.flow
import kotlinx.coroutines.flow.stateIn

/**
 * The manager's connection revision as a cold [Flow], one [RevisionWatch]
 * per collection.
 *
 * Guarantees (the core's): the first value is the revision at the moment of
 * collection; every later value is the latest revision once it has moved past
 * the one emitted before, so values strictly increase and bumps in quick
 * succession may be conflated into one (observers re-read state, they do not
 * count events). The flow never completes on its own. Cancelling the collector
 * cancels (and frees) the watch, releasing its native wait
 * ([ServerManager.pendingWaits] drops back); it never blocks a thread.
 */
fun ServerManager.revisions(): Flow<ULong> = flow {
    val watch = watchRevisions()
    try {
        while (true) emit(watch.next() ?: break)
    } finally {
        watch.cancel() // releases a pending next() at once
        watch.close() // frees the native watch now rather than at garbage collection
    }
}

/**
 * The state of server [alias] as a cold [Flow], one [StateWatch] per
 * collection (created when collection starts).
 *
 * Guarantees (the core's): the first value is the server's state at the
 * moment of collection; then a value only when the state differs in case,
 * expiry reason or provider (a token refresh and other servers' changes emit
 * nothing). If the server is removed, the flow emits one last
 * [SessionState.NoSession] (unless that was already the last value) and
 * completes normally. Collecting fails with [AuthException.UnknownServer] at
 * once if [alias] is unknown when collection starts (not when [states] is
 * called: the flow is cold). Cancelling the collector cancels (and frees) the
 * watch, releasing its native wait; it never blocks a thread.
 */
fun ServerManager.states(alias: String): Flow<SessionState> = flow {
    val watch = watchState(alias)
    try {
        while (true) emit((watch.next() ?: break).state)
    } finally {
        watch.cancel() // releases a pending next() at once
        watch.close() // frees the native watch now rather than at garbage collection
    }
}

/**
 * The state of server [alias] as a hot [StateFlow] living in [scope]
 * (a `viewModelScope`, say): `value` is readable at once (the current state,
 * read without blocking) and then follows [states] until [scope] is cancelled.
 * Like any StateFlow it is conflated: a collector that is slower than the
 * changes sees the latest state, not every one. While following, it holds
 * one native watch (one pending wait), released when [scope] is cancelled.
 * If the server is removed, it keeps its last value ([SessionState.NoSession]),
 * stops following and releases its watch; a removal fails nothing in [scope].
 *
 * Throws [AuthException.UnknownServer] at once if [alias] is unknown.
 */
fun ServerManager.stateFlow(alias: String, scope: CoroutineScope): StateFlow<SessionState> {
    val initial = state(alias)
    return states(alias)
        // Removed between `state` and the start of collection: what a removal
        // emits last, rather than a failure in [scope].
        .catch { if (it is AuthException.UnknownServer) emit(SessionState.NoSession) else throw it }
        .stateIn(scope, SharingStarted.Eagerly, initial)
}
