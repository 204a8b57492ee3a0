// Scenarios (c) observation through the Flow layer (AuthStateFlows.kt, loops
// over the core's StateWatch and RevisionWatch) and (j) 100 concurrent
// suspend calls, single-flight against the real provider.
// The letters match the Python twin (bindings/python/tests).

package dev.authstate

import java.util.concurrent.CopyOnWriteArrayList
import java.util.concurrent.atomic.AtomicInteger
import kotlinx.coroutines.CoroutineExceptionHandler
import kotlinx.coroutines.CoroutineScope
import kotlinx.coroutines.CoroutineStart
import kotlinx.coroutines.Dispatchers
import kotlinx.coroutines.Job
import kotlinx.coroutines.SupervisorJob
import kotlinx.coroutines.async
import kotlinx.coroutines.awaitAll
import kotlinx.coroutines.cancelAndJoin
import kotlinx.coroutines.channels.Channel
import kotlinx.coroutines.channels.ReceiveChannel
import kotlinx.coroutines.delay
import kotlinx.coroutines.flow.first
import kotlinx.coroutines.flow.produceIn
import kotlinx.coroutines.flow.take
import kotlinx.coroutines.flow.toList
import kotlinx.coroutines.joinAll
import kotlinx.coroutines.launch
import kotlinx.coroutines.runBlocking
import kotlinx.coroutines.withTimeout
import kotlinx.coroutines.withTimeoutOrNull
import kotlinx.coroutines.yield
import org.junit.jupiter.api.Assertions.assertEquals
import org.junit.jupiter.api.Assertions.assertFalse
import org.junit.jupiter.api.Assertions.assertNotEquals
import org.junit.jupiter.api.Assertions.assertNull
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
            withTimeout(30_000) { scope.coroutineContext[Job]!!.cancelAndJoin() }
        }
        assertEquals(listOf<Throwable>(), unhandled, "unhandled failures in the scope")
    }

    /** Waits (at most 30 s, polling) until [manager] has exactly [count] pending native waits. */
    private suspend fun pendingWaitsReach(manager: ServerManager, count: ULong) {
        withTimeoutOrNull(30_000) { while (manager.pendingWaits() != count) delay(1) }
        assertEquals(count, manager.pendingWaits(), "pending native waits")
    }

    /** The next value, failing after 30 s instead of hanging. */
    private suspend fun <T> ReceiveChannel<T>.next(): T = withTimeout(30_000) { receive() }

    /** Asserts the channel's flow completed normally, emitting nothing more. */
    private suspend fun <T> ReceiveChannel<T>.assertCompleted(message: String) {
        val result = withTimeout(30_000) { receiveCatching() }
        assertTrue(result.isClosed, "$message: got ${result.getOrNull()}")
        assertNull(result.exceptionOrNull(), "$message: the flow failed")
    }

    private val active = SessionState.Active(ProviderKind.OIDC)

    // The low-level primitive the watches are built on.

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
        assertEquals(0uL, manager.pendingWaits())
    }

    // (a) the current value first.

    @Test
    fun `(c) states and revisions emit the current state and revision first`() = runBlocking<Unit> {
        val manager = peer.client()
        manager.addOffline("a")
        assertEquals(manager.connectionRevision(), manager.revisions().first(), "the current revision first")
        assertEquals(SessionState.NoSession, manager.states(ALIAS).first())
        manager.signIn()
        assertEquals(active, manager.states(ALIAS).first(), "the current state first")
        assertEquals(SessionState.NoSession, manager.states("a").first())
        assertEquals(manager.connectionRevision(), manager.revisions().first())
        manager.session(ALIAS).markExpired()
        assertEquals(SessionState.Expired(ProviderKind.OIDC, ExpiryReason.MARKED), manager.states(ALIAS).first())
        assertEquals(0uL, manager.pendingWaits(), "first() cancelled every watch")
    }

    @Test
    fun `(c) revisions emits the current revision, then each add and remove`() = withScope { scope ->
        val manager = ServerManager.inMemory()
        val revisions = manager.revisions().produceIn(scope)
        val start = revisions.next()
        assertEquals(manager.connectionRevision(), start, "the first value is the current revision")
        manager.addOffline("a")
        val added = revisions.next()
        assertEquals(manager.connectionRevision(), added)
        assertTrue(added > start)
        manager.removeServer("a")
        assertEquals(manager.connectionRevision(), revisions.next())
        revisions.cancel()
        pendingWaitsReach(manager, 0uL)
    }

    @Test
    fun `(c) revisions strictly increase through a burst and reach the latest`() = withScope { scope ->
        val manager = ServerManager.inMemory()
        val revisions = manager.revisions().produceIn(scope)
        val seen = mutableListOf(revisions.next())
        repeat(5) { manager.addOffline("s$it") }
        val latest = manager.connectionRevision()
        while (seen.last() < latest) seen += revisions.next()
        assertEquals(seen.sorted().distinct(), seen, "strictly increasing: $seen")
        assertEquals(latest, seen.last(), "the latest revision is reached, not passed")
        manager.addOffline("one-more")
        assertEquals(manager.connectionRevision(), revisions.next())
    }

    // (b) other servers' changes and refreshes are silent.

    @Test
    fun `(c) a sign-in on another server emits nothing on this server's states`() = withScope { scope ->
        val manager = peer.client()
        manager.addOffline("a")
        val a = manager.states("a").produceIn(scope)
        val idp = manager.states(ALIAS).produceIn(scope)
        assertEquals(SessionState.NoSession, a.next())
        assertEquals(SessionState.NoSession, idp.next())
        val before = manager.connectionRevision()
        manager.signIn()
        assertTrue(manager.connectionRevision() > before, "the sign-in bumped the revision")
        assertEquals(active, idp.next(), "the signed-in server emits")
        assertNull(withTimeoutOrNull(200) { a.receive() }, "another server's sign-in is silent")
        // The proof without timing: A's removal ends its flow with no value
        // before it (its last value was NoSession already), so nothing was queued.
        manager.removeServer("a")
        a.assertCompleted("a's flow after its removal")
    }

    @Test
    fun `(c) a refresh is silent on states`() = withScope { scope ->
        val (_, manager, session, old) = peer.signedInThenExpired()
        val states = manager.states(ALIAS).produceIn(scope)
        assertEquals(active, states.next(), "an expired access token is still Active")
        val before = manager.connectionRevision()
        assertNotEquals(old, session.freshAccessToken())
        assertTrue(manager.connectionRevision() > before, "the refresh bumped the revision")
        assertNull(withTimeoutOrNull(200) { states.receive() }, "a refresh is silent")
        assertEquals(RevocationOutcome.Revoked, manager.signOut(ALIAS))
        assertEquals(SessionState.NoSession, states.next(), "the next value is the sign-out, not a repeat of Active")
    }

    // (c) a removal completes the flow after NoSession.

    @Test
    fun `(c) removing a signed-in server emits NoSession, then completes its states`() = withScope { scope ->
        val manager = peer.client()
        val states = manager.states(ALIAS).produceIn(scope)
        assertEquals(SessionState.NoSession, states.next())
        manager.signIn()
        assertEquals(active, states.next())
        manager.removeServer(ALIAS)
        assertEquals(SessionState.NoSession, states.next(), "one last NoSession")
        states.assertCompleted("the states flow after the removal")
        pendingWaitsReach(manager, 0uL)
    }

    @Test
    fun `(c) a whole states collection ends normally on removal`() = runBlocking<Unit> {
        val manager = peer.client()
        manager.signIn()
        val values = async(Dispatchers.Default, CoroutineStart.UNDISPATCHED) { manager.states(ALIAS).toList() }
        pendingWaitsReach(manager, 1uL) // the first value is in, the watch waits
        manager.removeServer(ALIAS)
        assertEquals(listOf(active, SessionState.NoSession), withTimeout(30_000) { values.await() })
        assertEquals(0uL, manager.pendingWaits())
    }

    @Test
    fun `(c) revisions, states and stateFlow follow add, sign-in, sign-out and removal`() = withScope { scope ->
        val manager = manager(clockAtNow())
        val revisions = manager.revisions().produceIn(scope)
        revisions.next()
        manager.addPeer(peer)
        assertEquals(manager.connectionRevision(), revisions.next())
        val states = manager.states(ALIAS).produceIn(scope)
        val hot = manager.stateFlow(ALIAS, scope)
        assertEquals(SessionState.NoSession, hot.value, "a StateFlow's value is readable at once")
        assertEquals(SessionState.NoSession, states.next())

        assertEquals("/rooms/42", manager.signIn("/rooms/42").returnTo)
        assertEquals(active, states.next())
        withTimeout(30_000) { hot.first { it == active } }

        assertEquals(RevocationOutcome.Revoked, manager.signOut(ALIAS))
        assertEquals(SessionState.NoSession, states.next())
        withTimeout(30_000) { hot.first { it == SessionState.NoSession } }

        manager.signIn()
        assertEquals(active, states.next())
        withTimeout(30_000) { hot.first { it == active } }

        manager.removeServer(ALIAS)
        assertEquals(SessionState.NoSession, states.next(), "a removal emits NoSession")
        states.assertCompleted("a removed server completes the states flow")
        withTimeout(30_000) { hot.first { it == SessionState.NoSession } }
        assertEquals(manager.connectionRevision(), revisions.receiveUntil { it >= manager.connectionRevision() })
        assertEquals(SessionState.NoSession, hot.value, "the StateFlow keeps its last value, failing nothing")
        revisions.cancel()
        pendingWaitsReach(manager, 0uL) // the StateFlow's watch ended with the removal
    }

    // (d) an unknown alias is refused when collection starts.

    @Test
    fun `(c) states and stateFlow of an unknown server throw UnknownServer at once`() = runBlocking<Unit> {
        val manager = ServerManager.inMemory()
        assertThrows<AuthException.UnknownServer>("states(nope).collect") { manager.states("nope").collect { } }
        assertThrows<AuthException.UnknownServer>("stateFlow(nope)") { manager.stateFlow("nope", this) }
        val flow = manager.states("later") // cold: nothing happens before collection
        manager.addOffline("later")
        assertEquals(SessionState.NoSession, flow.first(), "the alias is looked up when collection starts")
        assertEquals(0uL, manager.pendingWaits())
    }

    // (e) cancelled collectors release their native waits.

    @Test
    fun `(c) 1000 cancelled states and revisions flows leave no pending native wait`() = withScope { scope ->
        val manager = ServerManager.inMemory()
        manager.addOffline("a")
        val count = 1_000
        val first = Channel<Unit>(Channel.UNLIMITED)
        val states = List(count) { scope.launch { manager.states("a").collect { first.send(Unit) } } }
        val revisions = List(count) { scope.launch { manager.revisions().collect { first.send(Unit) } } }
        repeat(2 * count) { first.next() }
        pendingWaitsReach(manager, (2 * count).toULong()) // every collector waits in next()

        states.forEach { it.cancel() }
        withTimeout(30_000) { states.joinAll() }
        pendingWaitsReach(manager, count.toULong())
        revisions.forEach { it.cancel() }
        withTimeout(30_000) { revisions.joinAll() }
        assertEquals(0uL, manager.pendingWaits())
        println("kotlin: $count cancelled states() and $count cancelled revisions() flows, pending native waits: ${manager.pendingWaits()}")

        // Nothing emitted after cancellation.
        manager.addOffline("b")
        manager.removeServer("a")
        yield()
        assertTrue(first.tryReceive().isFailure, "a cancelled collector emitted")
    }

    @Test
    fun `(c) cancelling a collector cancels its pending next call`() = withScope { scope ->
        val manager = ServerManager.inMemory()
        val collected = Channel<ULong>(Channel.UNLIMITED)
        val job = scope.launch { manager.revisions().collect { collected.send(it) } }
        collected.next()
        pendingWaitsReach(manager, 1uL)
        job.cancel()
        withTimeout(10_000) { job.join() } // a pending next() must not keep the collector alive
        assertEquals(0uL, manager.pendingWaits())
        manager.addOffline("a")
        assertTrue(collected.tryReceive().isFailure, "nothing emitted after cancellation")
    }

    // The Kotlin layer adds no semantics: it passes the watch's values through and cancels it.

    /** A scripted [StateWatch] (UniFFI's fake constructor): [next] returns [script], then null. */
    private class ScriptedWatch(script: List<SessionState>) : StateWatch(NoHandle) {
        private val remaining = script.toMutableList()
        val cancels = AtomicInteger()

        override suspend fun next(): StateObservation? =
            remaining.removeFirstOrNull()?.let { StateObservation(1uL, it) }

        override fun cancel() {
            cancels.incrementAndGet()
        }
    }

    /** A [ServerManager] whose [watchState] hands out [watch]. */
    private class ScriptedManager(val watch: StateWatch) : ServerManager(NoHandle) {
        override fun watchState(alias: String): StateWatch = watch
    }

    @Test
    fun `(c) states passes every observation through and cancels the watch`() = runBlocking<Unit> {
        val expired = SessionState.Expired(ProviderKind.OIDC, ExpiryReason.MARKED)
        val script = listOf(SessionState.NoSession, SessionState.NoSession, active, active, expired)
        val completed = ScriptedWatch(script)
        assertEquals(script, ScriptedManager(completed).states(ALIAS).toList(), "no filtering of its own")
        assertEquals(1, completed.cancels.get(), "a watch that ended is cancelled once")

        val abandoned = ScriptedWatch(script)
        assertEquals(script.take(2), ScriptedManager(abandoned).states(ALIAS).take(2).toList())
        assertEquals(1, abandoned.cancels.get(), "a collector that stops early cancels the watch")
    }

    // (j) concurrency.

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
    fun `(j) 100 states collectors all see one sign-in`() = withScope { scope ->
        val manager = peer.client()
        val channels = (1..n).map { manager.states(ALIAS).produceIn(scope) }
        assertEquals(List(n) { SessionState.NoSession }, channels.map { it.next() })
        manager.signIn()
        assertEquals(List(n) { active }, channels.map { it.next() })
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
        assertEquals(List(n) { active }, results.subList(2 * n, 3 * n))
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
}
