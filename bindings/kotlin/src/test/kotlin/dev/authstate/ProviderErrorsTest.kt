// Scenario (i) where the provider is needed: SignInFailed for a tampered
// callback, TryLater, Configuration, Cancelled (CancelToken and coroutine
// cancellation), UnknownServer for a removed server. Offline error mapping is
// in OfflineScenariosTest. The letters match the Python twin.

package dev.authstate

import java.net.ServerSocket
import java.net.URI
import kotlinx.coroutines.CoroutineStart
import kotlinx.coroutines.Dispatchers
import kotlinx.coroutines.async
import kotlinx.coroutines.runBlocking
import kotlinx.coroutines.withTimeout
import org.junit.jupiter.api.Assertions.assertEquals
import org.junit.jupiter.api.Assertions.assertFalse
import org.junit.jupiter.api.Assertions.assertNotEquals
import org.junit.jupiter.api.Assertions.assertTrue
import org.junit.jupiter.api.Test

class ProviderErrorsTest {
    private val peer: OidcPeer get() = OidcPeer.shared

    @Test
    fun `(i) a tampered callback state is SignInFailed and the real one still completes, once`() = runBlocking<Unit> {
        val manager = peer.client()
        val callback = OidcPeer.driveLogin(manager.beginLogin(ALIAS, "/rooms/42"))
        val state = OidcPeer.query(URI(callback))["state"]!!
        val tampered = callback.replace("state=$state", "state=${state}x")
        assertNotEquals(callback, tampered)
        assertThrows<AuthException.SignInFailed> { manager.completeLogin(tampered) }
        assertEquals(SessionState.NoSession, manager.state(ALIAS), "a failed sign-in changes nothing")
        assertEquals("/rooms/42", manager.completeLogin(callback).returnTo)
        assertThrows<AuthException.SignInFailed>("single use: a replay fails") { manager.completeLogin(callback) }
        assertTrue(manager.session(ALIAS).isAuthenticated())
    }

    @Test
    fun `(i) signed out, freshAccessToken is SignInRequired`() = runBlocking<Unit> {
        val manager = peer.client()
        val session = manager.session(ALIAS)
        assertThrows<AuthException.SignInRequired> { session.freshAccessToken() }
        manager.signIn()
        manager.signOut(ALIAS)
        assertThrows<AuthException.SignInRequired> { session.freshAccessToken() }
    }

    @Test
    fun `(i) a removed server's session is UnknownServer`() = runBlocking<Unit> {
        val clock = clockAtNow()
        val manager = peer.client(clock)
        manager.signIn()
        val session = manager.session(ALIAS)
        manager.removeServer(ALIAS)
        clock.advanceSecs(3600u)
        assertThrows<AuthException.UnknownServer> { session.freshAccessToken() }
    }

    @Test
    fun `(i) an unreachable provider is TryLater`() = runBlocking<Unit> {
        val port = ServerSocket(0).use { it.localPort } // closed: connections are refused
        val manager = ServerManager.inMemory()
        val url = "https://127.0.0.1:$port"
        manager.addOidcServer(url, url, "app", OidcPeer.REDIRECT_URI, "down")
        assertThrows<AuthException.TryLater> { manager.beginLogin("down") }
        assertEquals(SessionState.NoSession, manager.state("down"))
    }

    @Test
    fun `(i) a wrong issuer is Configuration`() = runBlocking<Unit> {
        val manager = manager(clockAtNow())
        manager.addOidcServer(peer.issuer, "${peer.issuer}/nope", OidcPeer.CLIENT_ID, OidcPeer.REDIRECT_URI, "x")
        assertThrows<AuthException.Configuration> { manager.beginLogin("x") }
    }

    @Test
    fun `(i) a CancelToken cancels freshAccessToken, and the detached refresh still lands`() = runBlocking<Unit> {
        val (clock, manager, session, old) = peer.signedInThenExpired()
        val cancel = CancelToken()
        peer.resetCounts()
        peer.pause() // the refresh cannot finish until resume()
        try {
            // runCatching: a failed child would cancel the test's own scope.
            val call = async(Dispatchers.Default, CoroutineStart.UNDISPATCHED) { runCatching { session.freshAccessTokenCancellable(cancel) } }
            assertFalse(cancel.isCancelled())
            cancel.cancel()
            cancel.cancel() // harmless twice
            assertTrue(cancel.isCancelled())
            assertThrows<AuthException.Cancelled> { withTimeout(30_000) { call.await() }.getOrThrow() }
            assertTrue(session.isAuthenticated(), "cancelling never changes state")
        } finally {
            peer.resume()
        }
        val fresh = session.freshAccessToken() // the exchange ran detached: this takes its result
        assertNotEquals(old, fresh)
        assertEquals(1L, peer.tokenRequests(), "the cancelled caller's refresh was the only one")
        assertEquals(fresh, session.freshAccessTokenCancellable(cancel), "a valid token needs no work to cancel")
        clock.advanceSecs(61u)
        assertThrows<AuthException.Cancelled>("cancelled before the call") { session.freshAccessTokenCancellable(cancel) }
    }

    @Test
    fun `(i) cancelling the calling coroutine leaves the shared refresh running`() = runBlocking<Unit> {
        val (clock, manager, session, old) = peer.signedInThenExpired()
        peer.resetCounts()
        peer.pause()
        try {
            val call = async(Dispatchers.Default, CoroutineStart.UNDISPATCHED) { session.freshAccessToken() }
            call.cancel() // a screen closed: Kotlin cancellation, no CancelToken
            assertThrows<kotlinx.coroutines.CancellationException> { call.await() }
            assertTrue(session.isAuthenticated())
        } finally {
            peer.resume()
        }
        val fresh = withTimeout(30_000) { session.freshAccessToken() }
        assertNotEquals(old, fresh)
        assertEquals(1L, peer.tokenRequests(), "one refresh, started by the cancelled caller, shared")
    }
}
