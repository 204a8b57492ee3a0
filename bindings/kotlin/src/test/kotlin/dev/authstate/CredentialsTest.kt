// TokenPair and OpaqueToken servers from Kotlin, against the real Django
// REST framework server: the twin of bindings/python/tests/test_credentials.py.

package dev.authstate

import kotlinx.coroutines.async
import kotlinx.coroutines.awaitAll
import kotlinx.coroutines.runBlocking
import org.junit.jupiter.api.Assertions.assertEquals
import org.junit.jupiter.api.Assertions.assertFalse
import org.junit.jupiter.api.Assertions.assertNull
import org.junit.jupiter.api.Assertions.assertTrue
import org.junit.jupiter.api.Test

private const val API = "api"

class CredentialsTest {
    private val server: DjangoPeer get() = DjangoPeer.shared

    /** A fresh device (its own memory stores and ManualClock) with the server as `api`. */
    private fun device(kind: ProviderKind, shape: RefreshShape? = null): Pair<ServerManager, ManualClock> {
        val clock = clockAtNow()
        val manager = ServerManager(ManagerOptions(refreshThresholdSecs = 5u), clock = clock)
        if (kind == ProviderKind.TOKEN_PAIR) {
            val settings = simplejwtSettings("api/token/").copy(refreshShape = shape)
            manager.addTokenPairServer(server.baseUrl, settings, API)
        } else {
            manager.addOpaqueTokenServer(server.baseUrl, deviceTokenSettings("api/v1/auth/"), API)
        }
        return manager to clock
    }

    private suspend fun ServerManager.signIn(user: String = "alice", label: String = "junit") =
        signInWithPassword(API, user, DjangoPeer.PASSWORD, label)

    @Test
    fun `token pair - sign in, a refresh storm makes one request, sign out`() = runBlocking<Unit> {
        val (manager, clock) = device(ProviderKind.TOKEN_PAIR)
        val refused = assertThrows<AuthException.SignInFailed> { manager.signInWithPassword(API, "alice", "hunter2-not-it") }
        assertFalse("hunter2" in refused.message.orEmpty())
        assertEquals(SessionState.NoSession, manager.state(API))

        val result = manager.signIn()
        assertEquals(ProviderKind.TOKEN_PAIR, result.server.provider)
        assertNull(result.device)
        val session = manager.session(API)
        val first = session.validAccessToken()
        clock.advanceSecs(301u)
        val before = server.count("jwt_refresh")
        val tokens = (1..100).map { async { session.freshAccessToken() } }.awaitAll()
        assertEquals(1, tokens.toSet().size)
        assertTrue(tokens[0] != first)
        assertEquals(1, server.count("jwt_refresh") - before, "100 concurrent callers, one refresh")

        assertEquals(RevocationOutcome.Revoked, manager.signOut(API))
        assertEquals(SessionState.NoSession, manager.state(API))
    }

    @Test
    fun `token pair - a misconfigured refresh shape is a Configuration error`() = runBlocking<Unit> {
        val (manager, clock) = device(ProviderKind.TOKEN_PAIR, RefreshShape.BearerHeader)
        manager.signIn()
        clock.advanceSecs(301u)
        val error = assertThrows<AuthException.Configuration> { manager.session(API).freshAccessToken() }
        assertTrue("api/token/refresh/" in error.message.orEmpty() && "400" in error.message.orEmpty(), error.message)
        assertEquals(SessionState.Expired(ProviderKind.TOKEN_PAIR, ExpiryReason.MISCONFIGURED), manager.state(API))
    }

    @Test
    fun `opaque token - devices, probe, password change, sign out everywhere`() = runBlocking<Unit> {
        val (phone, _) = device(ProviderKind.OPAQUE_TOKEN)
        val (laptop, _) = device(ProviderKind.OPAQUE_TOKEN)
        val first = phone.signIn(label = "phone").device!!
        assertEquals(0u, first.otherSessions)
        assertEquals("phone", first.deviceLabel)
        val second = laptop.signIn(label = "laptop").device!!
        assertEquals(1u, second.otherSessions)
        assertTrue(second.multiDevice)
        assertEquals(second, laptop.session(API).deviceSummary())

        assertEquals(ProbeResult.VALID, phone.session(API).probe())
        val listed = phone.deviceSessions(API)
        assertEquals(2, listed.size)
        assertEquals(1, listed.count { it.isCurrent })

        assertThrows<AuthException.InvalidInput> { phone.changePassword(API, "not-the-password", "new-pass-1") }
        val changed = phone.changePassword(API, DjangoPeer.PASSWORD, "new-pass-1")
        assertTrue(changed.persisted)
        assertTrue(phone.session(API).isAuthenticated())
        assertEquals(ProbeResult.STALE, laptop.session(API).probe())
        assertEquals(SessionState.Expired(ProviderKind.OPAQUE_TOKEN, ExpiryReason.STALE_TOKEN), laptop.state(API))
        server.createUser("alice") // the password back, for the other tests

        phone.signOutEverywhere(API)
        assertEquals(SessionState.NoSession, phone.state(API))
    }

    @Test
    fun `account errors arrive typed`() = runBlocking<Unit> {
        val (alice, _) = device(ProviderKind.OPAQUE_TOKEN)
        val (bob, _) = device(ProviderKind.OPAQUE_TOKEN)
        alice.signIn()
        val bobsId = bob.signIn(user = "bob").device!!.sessionId!!
        assertThrows<AuthException.NotFound> { alice.revokeDeviceSession(API, bobsId) }
        val (jwt, _) = device(ProviderKind.TOKEN_PAIR)
        assertThrows<AuthException.InvalidInput> { jwt.deviceSessions(API) }
        val absolute = TokenPairSettings(loginPath = "/absolute/", refreshPath = "r/", logoutPath = null)
        assertThrows<AuthException.InvalidInput> { jwt.addTokenPairServer("https://other.example", absolute, null) }
        assertThrows<AuthException.UnknownServer> { alice.signInWithPassword("nope", "alice", "x") }
        val (signedOut, _) = device(ProviderKind.OPAQUE_TOKEN)
        assertThrows<AuthException.SignInRequired> { signedOut.deviceSessions(API) }
    }
}
