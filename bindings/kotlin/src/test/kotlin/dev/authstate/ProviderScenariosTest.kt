// Scenarios (b) sign-in, (d) expiry and (e) refresh and response verdicts
// against the real OpenID provider (tests/peers/oidc). Each test builds its
// own manager, timed by a ManualClock at the real current time, so moving past
// a token's lifetime is a clock step, never a sleep. The letters match the
// Python twin (bindings/python/tests).

package dev.authstate

import java.net.URI
import kotlinx.coroutines.runBlocking
import org.junit.jupiter.api.Assertions.assertEquals
import org.junit.jupiter.api.Assertions.assertFalse
import org.junit.jupiter.api.Assertions.assertNotEquals
import org.junit.jupiter.api.Assertions.assertNull
import org.junit.jupiter.api.Assertions.assertTrue
import org.junit.jupiter.api.Assertions.fail
import org.junit.jupiter.api.BeforeAll
import org.junit.jupiter.api.Test
import org.junit.jupiter.api.TestInstance

@TestInstance(TestInstance.Lifecycle.PER_CLASS)
class ProviderScenariosTest {
    private lateinit var peer: OidcPeer

    @BeforeAll
    fun provider() {
        peer = OidcPeer.shared
    }

    private fun ServerManager.token(): String = session(ALIAS).validAccessToken() ?: fail("no valid token")

    @Test
    fun `(b) sign-in through the real provider activates the session and round-trips returnTo`() = runBlocking<Unit> {
        val manager = peer.client()
        val authUrl = manager.beginLogin(ALIAS, "/rooms/42?draft=1")
        val query = OidcPeer.query(URI(authUrl))
        assertTrue(authUrl.startsWith("${peer.issuer}/"), authUrl)
        assertEquals(OidcPeer.CLIENT_ID, query["client_id"])
        assertEquals(OidcPeer.REDIRECT_URI, query["redirect_uri"])
        assertEquals("S256", query["code_challenge_method"])
        assertTrue(query["scope"]!!.split(' ').containsAll(listOf("openid", "offline_access")), "$query")
        assertTrue(!query["state"].isNullOrEmpty() && !query["nonce"].isNullOrEmpty(), "$query")
        assertEquals(SessionState.NoSession, manager.state(ALIAS), "beginLogin changes no state")

        val result = manager.completeLogin(OidcPeer.driveLogin(authUrl))
        assertEquals(LoginResult(manager.servers().single(), "/rooms/42?draft=1", true), result)
        val session = manager.session(ALIAS)
        assertEquals(SessionState.Active(ProviderKind.OIDC), session.state())
        assertTrue(session.isAuthenticated() && manager.anyAuthenticated())
        assertEquals(TokenInfo(60, hasRefreshToken = true, hasIdToken = true), session.tokenInfo())
        assertEquals(200, peer.userinfoStatus(manager.token()))
        assertEquals(GuardDecision.Allow, manager.guard("/s/idp/inbox", ALIAS), "an Active server's routes pass")
        assertEquals(GuardDecision.Allow, manager.guard("/inbox"), "a server-less route passes once a server is Active")
    }

    @Test
    fun `(b) sign-in without returnTo gives null`() = runBlocking<Unit> {
        val manager = peer.client()
        assertNull(manager.signIn().returnTo)
        assertTrue(manager.session(ALIAS).isAuthenticated())
    }

    @Test
    fun `(b) two sign-ins in flight complete independently`() = runBlocking<Unit> {
        val first = peer.client()
        val second = peer.client()
        val urlA = first.beginLogin(ALIAS, "/a")
        val urlB = second.beginLogin(ALIAS, "/b")
        val callbackB = OidcPeer.driveLogin(urlB, "bob")
        val callbackA = OidcPeer.driveLogin(urlA)
        assertEquals("/b", second.completeLogin(callbackB).returnTo)
        assertEquals("/a", first.completeLogin(callbackA).returnTo)
        assertNotEquals(first.token(), second.token())
    }

    @Test
    fun `(b) a user who declines gets Cancelled and stays signed out`() = runBlocking<Unit> {
        val manager = peer.client()
        val callback = OidcPeer.driveLogin(manager.beginLogin(ALIAS), deny = true)
        assertTrue("error=access_denied" in callback, callback)
        assertThrows<AuthException.Cancelled> { manager.completeLogin(callback) }
        assertEquals(SessionState.NoSession, manager.state(ALIAS))
    }

    @Test
    fun `(b) sign-out revokes at the provider and forgets the tokens`() = runBlocking<Unit> {
        val manager = peer.client()
        manager.signIn()
        val token = manager.token()
        assertEquals(RevocationOutcome.Revoked, manager.signOut(ALIAS))
        val session = manager.session(ALIAS)
        assertEquals(SessionState.NoSession, session.state())
        assertTrue(session.validAccessToken() == null && session.tokenInfo() == null)
        assertEquals(401, peer.userinfoStatus(token), "revoked at the provider")
        assertEquals(RevocationOutcome.NothingToRevoke, manager.signOut(ALIAS))
    }

    @Test
    fun `(d) past the lifetime the expiry is visible and freshAccessToken refreshes`() = runBlocking<Unit> {
        val (clock, manager, session, old) = peer.signedInThenExpired()
        assertEquals(SessionState.Active(ProviderKind.OIDC), manager.state(ALIAS), "the state does not carry the token's life")
        assertEquals(-1L, session.tokenInfo()?.expiresInSecs)
        assertNull(session.validAccessToken(), "an expired token is never handed out")
        assertTrue(session.isAuthenticated(), "expiry alone is not a transition: a refresh can continue")

        peer.resetCounts()
        val fresh = session.freshAccessToken()
        assertNotEquals(old, fresh)
        assertEquals(1L, peer.tokenRequests())
        assertEquals(fresh, session.validAccessToken())
        assertEquals(SessionState.Active(ProviderKind.OIDC), manager.state(ALIAS))
        assertEquals(60L, session.tokenInfo()?.expiresInSecs)
        assertEquals(200, peer.userinfoStatus(fresh))
    }

    @Test
    fun `(d) within the refresh threshold the token is due and refreshed`() = runBlocking<Unit> {
        val clock = clockAtNow()
        val manager = peer.client(clock, refreshThresholdSecs = 5u)
        manager.signIn()
        val session = manager.session(ALIAS)
        val old = manager.token()
        clock.advanceSecs(54u)
        assertEquals(old, session.validAccessToken(), "6 s left, threshold 5 s")
        clock.advanceSecs(2u)
        assertNull(session.validAccessToken(), "4 s left: due for refresh")
        peer.resetCounts()
        assertNotEquals(old, session.freshAccessToken())
        assertEquals(1L, peer.tokenRequests())
    }

    @Test
    fun `(d) onResume refreshes a token that expired in the background`() = runBlocking<Unit> {
        val clock = clockAtNow()
        val manager = peer.client(clock)
        manager.signIn()
        val old = manager.token()
        clock.advanceSecs(3600u)
        peer.resetCounts()
        manager.onResume()
        assertEquals(1L, peer.tokenRequests())
        assertNotEquals(old, manager.token())
        manager.onResume()
        assertEquals(1L, peer.tokenRequests(), "nothing due: no second refresh")
    }

    @Test
    fun `(d) a session marked expired keeps its tokens and is revived by a refresh`() = runBlocking<Unit> {
        val manager = peer.client()
        manager.signIn()
        val session = manager.session(ALIAS)
        session.markExpired()
        assertEquals(SessionState.Expired(ProviderKind.OIDC, ExpiryReason.MARKED), manager.state(ALIAS))
        assertTrue(session.tokenInfo()?.hasRefreshToken == true, "tokens are kept")
        assertFalse(session.isAuthenticated())
        assertNull(session.validAccessToken())
        assertNotEquals(GuardDecision.Allow, manager.guard("/s/idp/inbox", ALIAS))
        peer.resetCounts()
        val token = session.freshAccessToken()
        assertEquals(1L, peer.tokenRequests())
        assertTrue(session.isAuthenticated())
        assertEquals(token, session.validAccessToken())
    }

    @Test
    fun `(e) refresh gives a new token and freshAccessToken then reuses it`() = runBlocking<Unit> {
        val manager = peer.client()
        manager.signIn()
        val session = manager.session(ALIAS)
        val old = manager.token()
        peer.resetCounts()
        session.refresh()
        val new = manager.token()
        assertNotEquals(old, new)
        assertEquals(new, session.freshAccessToken())
        assertEquals(1L, peer.tokenRequests(), "freshAccessToken with a valid token does no I/O")
        assertEquals(200, peer.userinfoStatus(new))
    }

    @Test
    fun `(e) a 401 with the current token refreshes once and says Retry, a late 401 does not refresh again`() =
        runBlocking<Unit> {
            val manager = peer.client()
            manager.signIn()
            val session = manager.session(ALIAS)
            val old = manager.token()
            peer.resetCounts()
            assertEquals(ResponseVerdict.Retry, session.onResponse(401u, "Bearer error=\"invalid_token\"", old))
            val new = manager.token()
            assertNotEquals(old, new)
            assertEquals(1L, peer.tokenRequests())
            assertEquals(ResponseVerdict.Retry, session.onResponse(401u, null, old), "retry with the current token")
            assertEquals(1L, peer.tokenRequests(), "no second refresh for an older token")
            assertEquals(new, session.validAccessToken())
        }

    @Test
    fun `(e) a 403 is PermissionDenied and leaves the session untouched`() = runBlocking<Unit> {
        val manager = peer.client()
        manager.signIn()
        val session = manager.session(ALIAS)
        val token = manager.token()
        val (state, revision) = manager.state(ALIAS) to manager.connectionRevision()
        peer.resetCounts()
        assertEquals(ResponseVerdict.PermissionDenied, session.onResponse(403u, null, token))
        val scope = "Bearer error=\"insufficient_scope\""
        assertEquals(ResponseVerdict.PermissionDenied, session.onResponse(401u, scope, token), "insufficient_scope")
        assertEquals(ResponseVerdict.Pass, session.onResponse(500u, null, token))
        assertEquals(ResponseVerdict.Pass, session.onResponse(200u, null, token))
        assertEquals(state, manager.state(ALIAS))
        assertEquals(revision, manager.connectionRevision())
        assertEquals(token, session.validAccessToken())
        assertEquals(0L, peer.tokenRequests())
    }

    @Test
    fun `(e) a 401 when signed out says SignedOut`() = runBlocking<Unit> {
        val session = peer.client().session(ALIAS)
        assertEquals(ResponseVerdict.SignedOut, session.onResponse(401u, null, "stale"))
    }
}
