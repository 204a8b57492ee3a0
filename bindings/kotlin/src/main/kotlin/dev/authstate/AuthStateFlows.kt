// Kotlin's idiom over the core's observation primitive: `changed(afterRevision)`
// becomes a cold Flow, and a server's state a StateFlow for Compose or a ViewModel.

package dev.authstate

import kotlinx.coroutines.CoroutineScope
import kotlinx.coroutines.flow.Flow
import kotlinx.coroutines.flow.SharingStarted
import kotlinx.coroutines.flow.StateFlow
import kotlinx.coroutines.flow.catch
import kotlinx.coroutines.flow.distinctUntilChanged
import kotlinx.coroutines.flow.flow
import kotlinx.coroutines.flow.map
import kotlinx.coroutines.flow.stateIn

/**
 * The manager's connection revision as a cold [Flow].
 *
 * Guarantees: the first value is the revision at the moment of collection;
 * every later value is strictly greater than the one before, and the latest
 * revision is always emitted eventually. Bumps that happen in quick
 * succession may be conflated into one emission (observers re-read state,
 * they do not count events). The flow never completes on its own; cancelling
 * the collector cancels the pending `changed` call. It never blocks a thread.
 */
fun ServerManager.revisions(): Flow<ULong> = flow {
    var seen = connectionRevision()
    emit(seen)
    while (true) {
        seen = changed(seen)
        emit(seen)
    }
}

/**
 * The state of server [alias] as a cold [Flow]: its state at collection time,
 * then its state after every revision bump, with consecutive equal states
 * skipped (other servers' changes do not re-emit).
 *
 * Guarantees: the last value emitted reflects the state after the latest
 * revision. The flow fails with [AuthException.UnknownServer] if the server
 * is unknown or is removed while collecting.
 */
fun ServerManager.states(alias: String): Flow<SessionState> =
    revisions().map { state(alias) }.distinctUntilChanged()

/**
 * The state of server [alias] as a hot [StateFlow] living in [scope]
 * (a `viewModelScope`, say): `value` is readable at once (the current state,
 * read without blocking) and follows [states] until [scope] is cancelled.
 * If the server is removed, it keeps its last value and stops following
 * (a removal does not fail [scope]).
 *
 * Throws [AuthException.UnknownServer] at once if the server is unknown.
 */
fun ServerManager.stateFlow(alias: String, scope: CoroutineScope): StateFlow<SessionState> {
    val initial = state(alias)
    return states(alias)
        .catch { if (it !is AuthException.UnknownServer) throw it }
        .stateIn(scope, SharingStarted.Eagerly, initial)
}
