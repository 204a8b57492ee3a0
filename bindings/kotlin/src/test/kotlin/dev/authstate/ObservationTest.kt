// Scenarios (c) observation through the Flow layer (AuthStateFlows.kt) and
// (j) 100 concurrent suspend calls, single-flight against the real provider.
// The letters match the Python twin (bindings/python/tests).

package dev.authstate

import java.util.concurrent.CopyOnWriteArrayList
import kotlinx.coroutines.CoroutineExceptionHandler
import kotlinx.coroutines.CoroutineScope
import kotlinx.coroutines.Dispatchers
import kotlinx.coroutines.SupervisorJob
import kotlinx.coroutines.async
import kotlinx.coroutines.awaitAll
import kotlinx.coroutines.cancel
import kotlinx.coroutines.channels.Channel
import kotlinx.coroutines.flow.MutableStateFlow
import kotlinx.coroutines.flow.first
import kotlinx.coroutines.flow.produceIn
import kotlinx.coroutines.flow.update
import kotlinx.coroutines.launch
import kotlinx.coroutines.runBlocking
import kotlinx.coroutines.withTimeout
import kotlinx.coroutines.yield
import org.junit.jupiter.api.Assertions.assertEquals
import org.junit.jupiter.api.Assertions.assertFalse
import org.junit.jupiter.api.Assertions.assertNotEquals
import org.junit.jupiter.api.Assertions.assertTrue
import org.junit.jupiter.api.Test

class ObservationTest {
    private val peer: OidcPeer get() = OidcPeer.shared
    private val n = 100

    private fun ServerManager.addOffline(alias: String) =
        addOidcServer("https://$alias.example", "https://id.example.com", "app", OidcPeer.REDIRECT_URI, alias)

    /**
     * Runs [block] with a scope on the default dispatcher, cancelled
     * afterwards; fails if any coroutine in it failed unhandled.
     */
    private fun withScope(block: suspend CoroutineScope.(CoroutineScope) -> Unit) = runBlocking<Unit> {
        val unhandled = CopyOnWriteArrayList<Throwable>()
        val handler = CoroutineExceptionHandler { _, e -> unhandled.add(e) }
        val scope = CoroutineScope(Dispatchers.Default + SupervisorJob() + handler)
        try {
            block(scope)
        } finally {
            scope.cancel()
        }
        assertEquals(listOf<Throwable>(), unhandled, "unhandled failures in the scope")
    }

    @Test
    fun `(c) changed resolves only once the revision passes`() = runBlocking<Unit> {
        val manager = ServerManager.inMemory()
        val seen = manager.connectionRevision()
        val waiting = async(Dispatchers.Default) { manager.changed(seen) }
        yield()
        assertFalse(waiting.isCompleted)
        manager.addOffline("a")
        assertEquals(manager.connectionRevision(), withTimeout(10_000) { waiting.await() })
        assertEquals(manager.connectionRevision(), manager.changed(seen), "already past: at once")
    }

    @Test
    fun `(c) revisions emits the current revision, then each add and remove`() = withScope { scope ->
        val manager = ServerManager.inMemory()
        val revisions = manager.revisions().produceIn(scope)
        val start = revisions.receive()
        assertEquals(manager.connectionRevision(), start, "the first value is the current revision")
        manager.addOffline("a")
        val added = revisions.receiveUntil { it >= manager.connectionRevision() }
        assertTrue(added > start)
        manager.removeServer("a")
        assertEquals(manager.connectionRevision(), revisions.receiveUntil { it >= manager.connectionRevision() })
    }

    @Test
    fun `(c) revisions, states and stateFlow follow add, sign-in and sign-out`() = withScope { scope ->
        val manager = manager(clockAtNow())
        val revisions = manager.revisions().produceIn(scope)
        var last = revisions.receive()
        suspend fun advanced(): ULong {
            val target = manager.connectionRevision()
            val seen = mutableListOf<ULong>()
            while (seen.lastOrNull()?.let { it < target } != false) seen += withTimeout(30_000) { revisions.receive() }
            assertEquals(seen.sorted().distinct(), seen, "revisions strictly increase")
            assertTrue(seen.first() > last)
            return seen.last().also { last = it }
        }

        manager.addPeer(peer)
        advanced()
        val states = manager.states(ALIAS).produceIn(scope)
        val hot = manager.stateFlow(ALIAS, scope)
        assertEquals(SessionState.NoSession, hot.value, "a StateFlow's value is readable at once")
        assertEquals(SessionState.NoSession, states.receive())

        assertEquals("/rooms/42", manager.signIn("/rooms/42").returnTo)
        advanced()
        assertEquals(SessionState.Active(60), withTimeout(30_000) { states.receive() }, "repeats are skipped")
        withTimeout(30_000) { hot.first { it is SessionState.Active } }

        assertEquals(RevocationOutcome.Revoked, manager.signOut(ALIAS))
        advanced()
        assertEquals(SessionState.NoSession, withTimeout(30_000) { states.receive() })
        withTimeout(30_000) { hot.first { it == SessionState.NoSession } }

        manager.removeServer(ALIAS)
        assertThrows<AuthException.UnknownServer>("a removed server ends the states Flow") {
            withTimeout(30_000) { states.receive() }
        }
        revisions.receiveUntil { it >= manager.connectionRevision() }
        assertEquals(SessionState.NoSession, hot.value, "the StateFlow keeps its last value, failing nothing")
    }

    @Test
    fun `(c) states and stateFlow of an unknown server throw UnknownServer`() = runBlocking<Unit> {
        val manager = ServerManager.inMemory()
        assertThrows<AuthException.UnknownServer> { manager.states("nope").first() }
        assertThrows<AuthException.UnknownServer> { manager.stateFlow("nope", this) }
    }

    /** Stands in for a ServerManager (UniFFI's fake constructor): each [bump] is one revision. */
    private class ScriptedManager(initial: SessionState) : ServerManager(NoHandle) {
        private val current = MutableStateFlow(1uL to initial)

        /** How many times `changed` has been entered. */
        val waits = MutableStateFlow(0)

        override fun connectionRevision(): ULong = current.value.first
        override fun state(alias: String): SessionState = current.value.second
        override suspend fun changed(afterRevision: ULong): ULong {
            waits.update { it + 1 }
            return current.first { it.first > afterRevision }.first
        }

        fun bump(state: SessionState) = current.update { (revision, _) -> revision + 1u to state }
    }

    @Test
    fun `(c) states skips revisions that leave the state equal`() = withScope { scope ->
        val manager = ScriptedManager(SessionState.NoSession)
        val states = manager.states(ALIAS).produceIn(scope)
        assertEquals(SessionState.NoSession, states.receive())
        withTimeout(10_000) { manager.waits.first { it >= 1 } }
        for (waits in 2..4) { // other servers change: an equal state is not emitted
            manager.bump(SessionState.NoSession)
            withTimeout(10_000) { manager.waits.first { it >= waits } } // read the state, waiting again
            assertTrue(states.tryReceive().isFailure, "an equal state was emitted")
        }
        manager.bump(SessionState.Active(60))
        assertEquals(SessionState.Active(60), states.receive())
        manager.bump(SessionState.Active(59)) // not equal: a refresh
        assertEquals(SessionState.Active(59), states.receive())
        manager.bump(SessionState.Expired(ExpiryReason.MARKED))
        assertEquals(SessionState.Expired(ExpiryReason.MARKED), states.receive())
    }

    @Test
    fun `(c) revisions strictly increase through a burst and reach the latest`() = withScope { scope ->
        val manager = ScriptedManager(SessionState.NoSession)
        val revisions = manager.revisions().produceIn(scope)
        assertEquals(1uL, revisions.receive())
        repeat(5) { manager.bump(SessionState.NoSession) }
        val seen = mutableListOf<ULong>()
        while (seen.lastOrNull() != 6uL) seen += withTimeout(10_000) { revisions.receive() }
        assertEquals(seen.sorted().distinct(), seen, "strictly increasing: $seen")
        manager.bump(SessionState.NoSession)
        assertEquals(7uL, revisions.receive())
    }

    @Test
    fun `(j) 100 changed waiters all resolve on one change`() = runBlocking<Unit> {
        val manager = ServerManager.inMemory()
        val start = manager.connectionRevision()
        val waiting = (1..n).map { async(Dispatchers.Default) { manager.changed(start) } }
        yield()
        manager.addOffline("b")
        assertEquals(List(n) { manager.connectionRevision() }, withTimeout(30_000) { waiting.awaitAll() })
    }

    @Test
    fun `(j) 100 concurrent mixed calls with a valid token do no I-O`() = runBlocking<Unit> {
        val manager = peer.client()
        manager.signIn()
        val session = manager.session(ALIAS)
        val token = session.validAccessToken()
        val revision = manager.connectionRevision()
        peer.resetCounts()
        val results = (0 until 4 * n).map { i ->
            async(Dispatchers.Default) {
                when (i / n) {
                    0 -> session.freshAccessToken()
                    1 -> manager.changed(revision - 1u)
                    2 -> manager.state(ALIAS)
                    else -> noopAsync()
                }
            }
        }.awaitAll()
        assertEquals(List(n) { token }, results.subList(0, n))
        assertEquals(List(n) { revision }, results.subList(n, 2 * n))
        assertEquals(List(n) { SessionState.Active(60) }, results.subList(2 * n, 3 * n))
        assertEquals(List(n) { Unit }, results.subList(3 * n, 4 * n))
        assertEquals(0L, peer.tokenRequests())
    }

    @Test
    fun `(j) 100 callers after expiry cause exactly one token request`() = runBlocking<Unit> {
        val (clock, manager, session, old) = peer.signedInThenExpired()
        val revision = manager.connectionRevision()
        peer.resetCounts()
        val tokens = (1..n).map { async(Dispatchers.Default) { session.freshAccessToken() } }
        val revisions = (1..n).map { async(Dispatchers.Default) { manager.changed(revision) } }
        val fresh = tokens.awaitAll()
        assertEquals(1, fresh.toSet().size, "every caller got the one new token")
        assertNotEquals(old, fresh.first())
        assertTrue(withTimeout(30_000) { revisions.awaitAll() }.all { it > revision }, "the refresh bumped the revision")
        assertEquals(1L, peer.tokenRequests(), "single flight: one token request for $n callers")
        assertEquals(fresh.first(), session.validAccessToken())
        assertEquals(200, peer.userinfoStatus(fresh.first()))
    }

    @Test
    fun `(j) 100 401s for the same token refresh once`() = runBlocking<Unit> {
        val manager = peer.client()
        manager.signIn()
        val session = manager.session(ALIAS)
        val old = session.validAccessToken()!!
        peer.resetCounts()
        val verdicts = (1..n).map { async(Dispatchers.Default) { session.onResponse(401u, null, old) } }.awaitAll()
        assertEquals(List(n) { ResponseVerdict.Retry }, verdicts)
        assertEquals(1L, peer.tokenRequests())
        assertTrue(session.validAccessToken().let { it != null && it != old })
    }

    @Test
    fun `(c) cancelling a collector cancels its pending changed call`() = withScope { scope ->
        val manager = ServerManager.inMemory()
        val collected = Channel<ULong>(Channel.UNLIMITED)
        val job = scope.launch { manager.revisions().collect { collected.send(it) } }
        collected.receive()
        job.cancel()
        withTimeout(10_000) { job.join() } // a pending changed() must not keep the collector alive
        manager.addOffline("a")
        assertTrue(collected.tryReceive().isFailure, "nothing emitted after cancellation")
    }
}
