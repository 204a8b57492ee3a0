// Scenario (k): Kotlin classes implementing the generated callback
// interfaces. Map-backed SecretStore and KeyValueStore are the manager's
// storage (tokens in the secret store only); a failing store is
// AuthException.Storage, never data loss; a LogSink receives records from
// every thread and none holds a secret. The letters match the Python twin.

package dev.authstate

import kotlinx.coroutines.runBlocking
import org.junit.jupiter.api.AfterEach
import org.junit.jupiter.api.Assertions.assertEquals
import org.junit.jupiter.api.Assertions.assertFalse
import org.junit.jupiter.api.Assertions.assertNotEquals
import org.junit.jupiter.api.Assertions.assertTrue
import org.junit.jupiter.api.Test

class HostStoresTest {
    private val peer: OidcPeer get() = OidcPeer.shared

    /** String values of secret fields (tokens, PKCE verifier, CSRF state, nonce) in the stores' JSON. */
    private val secretField = Regex("\"(access|refresh|id_token|pkce_verifier|csrf_state|nonce)\"\\s*:\\s*\"([^\"]+)\"")

    private fun secretsIn(values: Collection<String>): Set<String> =
        values.flatMap { value -> secretField.findAll(value).map { it.groupValues[2] } }.toSet()

    @AfterEach
    fun noSink() = clearLogSink()

    @Test
    fun `(k) host stores hold the server list, the pre-auth and the tokens`() = runBlocking<Unit> {
        val secrets = MapSecretStore()
        val values = MapValueStore()
        val clock = clockAtNow()
        val manager = peer.client(clock, secrets, values)
        assertTrue(secrets.map.isEmpty(), "a signed-out server has no secrets")
        assertTrue(values.map.keys.any { ALIAS in it } || values.map.values.any { ALIAS in it }, "server list: ${values.map}")

        val url = manager.beginLogin(ALIAS, "/rooms/1")
        assertTrue(secrets.map.isNotEmpty(), "the pre-auth (PKCE verifier) is saved before the browser opens")
        assertTrue(values.map.values.none { "verifier" in it }, "and not in the value store")
        assertTrue(manager.completeLogin(OidcPeer.driveLogin(url)).persisted)

        val token = manager.session(ALIAS).validAccessToken()!!
        assertTrue(secrets.map.values.any { token in it }, "the access token is in the host's secret store")
        val held = secretsIn(secrets.map.values)
        assertTrue(token in held && held.size >= 3, "access, refresh and ID tokens are in the secret store")
        assertTrue(values.map.values.none { value -> held.any { it in value } }, "and no secret in the value store")

        val again = manager(clock, secrets, values)
        assertEquals(SessionState.Active(ProviderKind.OIDC), again.state(ALIAS), "another manager restores the session")
        assertEquals(60L, again.session(ALIAS).tokenInfo()?.expiresInSecs, "as it was")
        assertEquals(token, again.session(ALIAS).validAccessToken())

        assertEquals(RevocationOutcome.Revoked, manager.signOut(ALIAS))
        assertTrue(secrets.map.values.none { token in it }, "sign-out deletes the tokens")
        assertEquals(SessionState.NoSession, manager(clockAtNow(), secrets, values).state(ALIAS))
    }

    @Test
    fun `(k) a failing value store is Storage and loses nothing`() {
        for (failure in listOf(StoreException.Unavailable("locked"), IllegalStateException("host bug"))) {
            val values = MapValueStore()
            val manager = ServerManager(ManagerOptions(), values = values)
            manager.addOidcServer("https://a.example", "https://id.example.com", "app", OidcPeer.REDIRECT_URI, "a")
            val revision = manager.connectionRevision()
            values.failure = failure
            assertThrows<AuthException.Storage>("$failure") {
                manager.addOidcServer("https://b.example", "https://id.example.com", "app", OidcPeer.REDIRECT_URI, "b")
            }
            assertThrows<AuthException.Storage>("$failure") { manager.drafts().save("a", "room", "text") }
            assertThrows<AuthException.Storage>("$failure") { ServerManager(ManagerOptions(), values = values) }
            assertEquals(listOf("a"), manager.servers().map { it.alias })
            assertEquals(revision, manager.connectionRevision())
            values.failure = null
            manager.addOidcServer("https://b.example", "https://id.example.com", "app", OidcPeer.REDIRECT_URI, "b")
        }
    }

    @Test
    fun `(k) a locked secret store fails sign-in with Storage and never signs the user out`() = runBlocking<Unit> {
        val secrets = MapSecretStore()
        val clock = clockAtNow()
        val manager = peer.client(clock, secrets, MapValueStore())
        secrets.failure = StoreException.Unavailable("keystore locked")
        assertThrows<AuthException.Storage> { manager.beginLogin(ALIAS) }
        secrets.failure = null
        manager.signIn()
        val session = manager.session(ALIAS)
        val token = session.validAccessToken()
        secrets.failure = StoreException.Unavailable("keystore locked")
        clock.advanceSecs(61u)
        val fresh = session.freshAccessToken()
        assertNotEquals(token, fresh)
        assertTrue(session.isAuthenticated(), "a locked store never signs the user out")
    }

    @Test
    fun `(k) the LogSink gets records from every thread and none holds a secret`() = runBlocking<Unit> {
        val sink = RecordingSink()
        setLogSink(sink, LogLevel.TRACE)
        val secrets = MapSecretStore()
        val manager = peer.client(secrets = secrets, values = MapValueStore())
        val callback = OidcPeer.driveLogin(manager.beginLogin(ALIAS, "/rooms/1"))
        manager.completeLogin(callback)
        val session = manager.session(ALIAS)
        val first = session.validAccessToken()!!
        session.refresh()
        session.onResponse(401u, "Bearer error=\"invalid_token\"", session.validAccessToken()!!)
        session.onResponse(403u, null, session.validAccessToken()!!)
        val last = session.validAccessToken()!!
        manager.signOut(ALIAS)

        assertTrue(sink.mentions("signed in").isNotEmpty() && sink.mentions("server added").isNotEmpty(), "${sink.records}")
        assertTrue(sink.records.any { it.level == LogLevel.INFO && it.target.startsWith("authstate") })
        assertTrue(sink.threads.size >= 2, "records come from the caller's thread and the core's runtime")
        val code = OidcPeer.query(java.net.URI(callback))["code"]!!
        val seen = secretsIn(secrets.history) + code
        assertTrue(first in seen && last in seen)
        assertTrue(seen.size >= 10, "3 access, 3 refresh, ID token(s), verifier, state, nonce, code: ${seen.size}")
        val leaked = sink.records.filter { record -> seen.any { it in record.message || it in record.target } }
        assertTrue(leaked.isEmpty(), "a secret leaked into ${leaked.map { "${it.target} ${it.level}" }}")
    }

    @Test
    fun `(k) the LogSink filters by level and clearLogSink stops it`() {
        val sink = RecordingSink()
        val manager = ServerManager.inMemory()
        setLogSink(sink, LogLevel.WARN)
        manager.addOidcServer("https://a.example", "https://id.example.com", "app", OidcPeer.REDIRECT_URI, "quiet-add")
        assertTrue(sink.mentions("quiet-add").isEmpty(), "an info record is below WARN")
        val drafts = manager.drafts()
        assertThrows<AuthException.InvalidInput> { drafts.save("quiet-add", "room", "x".repeat(drafts.maxBytes().toInt() + 1)) }
        val warned = sink.mentions("size cap")
        assertTrue(warned.isNotEmpty() && warned.all { it.level == LogLevel.WARN }, "${sink.records}")
        assertTrue(sink.records.all { it.level <= LogLevel.WARN }, "${sink.records}")

        setLogSink(sink, LogLevel.INFO)
        manager.addOidcServer("https://b.example", "https://id.example.com", "app", OidcPeer.REDIRECT_URI, "before-clear")
        assertTrue(sink.mentions("before-clear").isNotEmpty(), "records arrive synchronously on the calling thread")
        clearLogSink()
        manager.addOidcServer("https://c.example", "https://id.example.com", "app", OidcPeer.REDIRECT_URI, "after-clear")
        assertTrue(sink.mentions("after-clear").isEmpty())
    }
}
