// Scenarios that need no server: adding servers, guards, return paths,
// drafts, and the error mapping at entry points that fail before any I/O.
// The scenario letters match the Python twin (bindings/python/tests).

package dev.authstate

import kotlinx.coroutines.runBlocking
import org.junit.jupiter.api.Assertions.assertEquals
import org.junit.jupiter.api.Assertions.assertFalse
import org.junit.jupiter.api.Assertions.assertNull
import org.junit.jupiter.api.Assertions.assertTrue
import org.junit.jupiter.api.Test

class OfflineScenariosTest {
    private val notes = "https://notes.example.com"
    private val idp = "https://id.example.com"
    private val megabyte = "a".repeat(1 shl 20)

    private fun ServerManager.addNotes(alias: String? = "notes", url: String = notes): ServerInfo =
        addOidcServer(url, idp, "app", OidcPeer.REDIRECT_URI, alias, listOf())

    @Test
    fun `(a) add a server - signed out and listed, duplicates are AlreadyExists, unknown aliases UnknownServer`() {
        val manager = ServerManager.inMemory()
        val before = manager.connectionRevision()
        val info = manager.addNotes()
        assertEquals(ServerInfo("https://notes.example.com/", "notes", ProviderKind.OIDC), info)
        assertEquals(listOf(info), manager.servers())
        assertEquals(SessionState.NoSession, manager.state("notes"))
        assertFalse(manager.anyAuthenticated())
        assertTrue(manager.connectionRevision() > before, "adding a server bumps the revision")

        assertThrows<AuthException.AlreadyExists> { manager.addNotes(url = "https://other.example.com") }
        assertThrows<AuthException.AlreadyExists> { manager.addNotes(alias = "notes2") }
        assertEquals(listOf(info), manager.servers(), "a refused add changes nothing")

        assertThrows<AuthException.UnknownServer> { manager.state("nope") }
        assertThrows<AuthException.UnknownServer> { manager.session("nope") }
        assertThrows<AuthException.UnknownServer> { manager.removeServer("nope") }
        assertThrows<AuthException.UnknownServer> { runBlocking { manager.beginLogin("nope") } }

        manager.removeServer("notes")
        assertTrue(manager.servers().isEmpty())
        assertThrows<AuthException.UnknownServer> { manager.state("notes") }
    }

    @Test
    fun `(f) guard decisions - public passes, a signed-out server redirects with a safe returnTo, no server goes home`() {
        val manager = ServerManager.inMemory()
        assertEquals(GuardDecision.Redirect("/"), manager.guard("/inbox"), "no server active: home")
        manager.addNotes()
        assertEquals(GuardDecision.Allow, manager.guard("/about", null, true))
        assertEquals(GuardDecision.Allow, manager.guard("/rooms/1", "notes", true))
        assertEquals(
            GuardDecision.Redirect("/?server=https%3A%2F%2Fnotes.example.com%2F&returnTo=%2Frooms%2F1%3Fx%3D1"),
            manager.guard("/rooms/1?x=1", "notes"),
        )
        val hostile = manager.guard("//evil.example/x", "notes")
        assertTrue(hostile is GuardDecision.Redirect && "evil" !in hostile.to && hostile.to.endsWith("returnTo=%2F"), "$hostile")
        assertEquals(GuardDecision.Redirect("/"), manager.guard("/rooms/1", "unknown"), "unknown server: home")
        assertEquals(GuardDecision.Redirect("/"), manager.guard("/inbox"), "no server active: home")
    }

    @Test
    fun `(g) PreAuthState rejects absolute return paths and accepts relative ones`() {
        val hostile = listOf(
            "https://evil.example", "//evil.example", "/\\evil", "javascript:alert(1)",
            "/%2F%2Fevil.example", "/\t/evil.example", "", "rooms/42",
        )
        for (path in hostile) {
            assertThrows<AuthException.InvalidInput>("PreAuthState accepted $path") { PreAuthState(notes, ProviderKind.OIDC, path) }
            assertThrows<AuthException.InvalidInput>("validateReturnTo accepted $path") { validateReturnTo(path) }
        }
        val state = PreAuthState(notes, ProviderKind.OIDC, "/rooms/42")
        assertEquals("/rooms/42", state.returnTo())
        assertEquals("https://notes.example.com/", state.serverUrl())
        assertEquals("S256", state.pkceChallengeMethod())
        assertTrue(state.pkceChallenge().length >= 43, "a S256 challenge is 43 base64url characters")
        assertTrue(state.ageSecs() in 0..60)
        assertNull(PreAuthState(notes, ProviderKind.OIDC, null).returnTo())
        assertEquals("/rooms/42?tab=1", validateReturnTo("/rooms/42?tab=1"))
    }

    @Test
    fun `(h) DraftStore keeps drafts for 24 hours by the manager's clock`() {
        val clock = ManualClock(1_700_000_000)
        val manager = ServerManager(ManagerOptions(), clock = clock)
        manager.addNotes()
        val drafts = manager.drafts()

        drafts.save("notes", "room-1", "hello")
        assertEquals("hello", drafts.peek("notes", "room-1"))
        assertEquals("hello", drafts.peek("notes", "room-1"), "peek leaves the draft")
        assertEquals("hello", drafts.take("notes", "room-1"))
        assertNull(drafts.take("notes", "room-1"), "take removes the draft")

        drafts.save("notes", "room-1", "kept")
        clock.advanceSecs(24u * 3600u - 1u)
        assertEquals("kept", drafts.peek("notes", "room-1"), "alive one second before 24 h")
        clock.advanceSecs(1u)
        assertNull(drafts.peek("notes", "room-1"), "gone at 24 h")
        assertNull(drafts.take("notes", "room-1"))

        drafts.save("notes", "a", "old a")
        drafts.save("notes", "b", "old b")
        clock.advanceSecs(12u * 3600u)
        drafts.save("notes", "c", "young c")
        clock.advanceSecs(13u * 3600u)
        assertEquals(2u, drafts.purgeExpired())
        assertEquals("young c", drafts.peek("notes", "c"))
        assertEquals(0u, drafts.purgeExpired())

        drafts.save("notes", "c", "")
        assertNull(drafts.peek("notes", "c"), "empty text deletes")
        drafts.save("notes", "c", "small")
        assertThrows<AuthException.InvalidInput> { drafts.save("notes", "c", "x".repeat(drafts.maxBytes().toInt() + 1)) }
        assertEquals("small", drafts.peek("notes", "c"), "a refused save keeps the previous draft")
        assertThrows<AuthException.UnknownServer> { drafts.save("nope", "c", "text") }
    }

    @Test
    fun `(i) error mapping - garbage, empty and 1 MB inputs are typed errors, never crashes`() = runBlocking<Unit> {
        val manager = ServerManager.inMemory()
        for (url in listOf("not a url", "", "ftp://files.example.com", "https://$megabyte.example", megabyte)) {
            assertThrows<AuthException.InvalidInput>("addOidcServer(${url.take(40)})") { manager.addNotes(url = url) }
        }
        for (alias in listOf("", "has space", megabyte, "a/b")) {
            assertThrows<AuthException.InvalidInput>("alias ${alias.take(40)}") { manager.addNotes(alias = alias) }
        }
        assertTrue(manager.servers().isEmpty(), "nothing was added")
        assertThrows<AuthException.InvalidInput> { validateReturnTo(megabyte) }
        assertThrows<AuthException.InvalidInput> { validateReturnTo("/$megabyte") }
        assertThrows<AuthException.InvalidInput> { PreAuthState(megabyte, ProviderKind.OIDC, null) }
        assertThrows<AuthException.InvalidInput> { PreAuthState("", ProviderKind.OIDC, null) }
        assertThrows<AuthException.InvalidInput> { ManualClock(Long.MAX_VALUE) }
        assertThrows<AuthException.InvalidInput> { ServerManager(ManagerOptions(directory = "")) }
        assertThrows<AuthException.InvalidInput> { ServerManager.withFiles("  ") }
        assertThrows<AuthException.UnknownServer> { manager.state(megabyte) }
        assertEquals(GuardDecision.Redirect("/"), manager.guard("/$megabyte", megabyte))

        manager.addNotes()
        val drafts = manager.drafts()
        assertThrows<AuthException.InvalidInput> { drafts.save("notes", "room", megabyte) }
        assertThrows<AuthException.InvalidInput> { drafts.save("notes", megabyte, "text") }
        assertThrows<AuthException.InvalidInput> { drafts.save("notes", "", "text") }
        assertThrows<AuthException.InvalidInput> { manager.beginLogin("notes", "https://evil.example") }
        assertThrows<AuthException.InvalidInput> { manager.beginLogin("notes", megabyte) }
        val callbacks = listOf(
            "", "garbage", megabyte, OidcPeer.REDIRECT_URI, "${OidcPeer.REDIRECT_URI}?code=x&state=unknown",
            "${OidcPeer.REDIRECT_URI}?state=$megabyte",
        )
        for (callback in callbacks) {
            assertThrows<AuthException.SignInFailed>("completeLogin(${callback.take(40)})") { manager.completeLogin(callback) }
        }
        assertEquals(SessionState.NoSession, manager.state("notes"))

        assertThrows<AuthException.UnknownServer> { manager.signOut(megabyte) }
        assertThrows<AuthException.UnknownServer> { drafts.peek("", "room") }
        assertThrows<AuthException.InvalidInput> { ManualClock(0).setUnixSecs(-(1L shl 62)) }
        for (pem in listOf("", "garbage", megabyte)) {
            assertThrows<AuthException.Configuration>("a PEM without a certificate") {
                ServerManager(ManagerOptions(trustedRootsPem = listOf(pem)))
            }
        }

        val session = manager.session("notes")
        assertThrows<AuthException.SignInRequired> { session.freshAccessToken() }
        assertThrows<AuthException.SignInRequired> { session.refresh() }
        val revision = manager.connectionRevision()
        session.markExpired() // a late 401 after sign-out: no error, no transition
        session.signOutLocally() // signing out when signed out is fine
        assertEquals(revision, manager.connectionRevision(), "and changes nothing")
        assertNull(session.validAccessToken())
        assertNull(session.tokenInfo())
        assertEquals(SessionState.NoSession, session.state())
    }

    @Test
    fun `(i) huge and odd inputs at entry points that do not fail never crash`() = runBlocking<Unit> {
        val manager = ServerManager.inMemory()
        manager.addNotes()
        val session = manager.session("notes")
        for (location in listOf("", megabyte, "\u0000", "/\u202e")) {
            assertTrue(manager.guard(location, "notes") is GuardDecision.Redirect, location.take(40))
            assertEquals(GuardDecision.Redirect("/"), manager.guard(location, megabyte))
        }
        for (status in listOf<UShort>(0u, 200u, 401u, 403u, UShort.MAX_VALUE)) {
            val verdict = session.onResponse(status, megabyte, megabyte)
            val expected = setOf(ResponseVerdict.Pass, ResponseVerdict.SignedOut, ResponseVerdict.PermissionDenied)
            assertTrue(verdict in expected, "$status: $verdict")
        }
        assertEquals(SessionState.NoSession, session.state())
    }
}
