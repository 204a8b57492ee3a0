// Issue #13 and #14 from Kotlin, the cheap twins of the Python suite
// (bindings/python/tests/test_issue_13.py, test_host_faults.py): a LogSink
// that throws changes no outcome; rotated tokens a locked store refuses stay
// in use, pending, and are saved at onResume; a corrupt secrets file is in
// restoreReport; a removed server's session answers UnknownServer; managers
// sharing a directory follow each other without a callback.

package dev.authstate

import java.nio.file.Files
import kotlinx.coroutines.flow.first
import kotlinx.coroutines.runBlocking
import kotlinx.coroutines.withTimeout
import org.junit.jupiter.api.AfterEach
import org.junit.jupiter.api.Assertions.assertEquals
import org.junit.jupiter.api.Assertions.assertFalse
import org.junit.jupiter.api.Assertions.assertNotEquals
import org.junit.jupiter.api.Assertions.assertNull
import org.junit.jupiter.api.Assertions.assertTrue
import org.junit.jupiter.api.Test

class FaultsAndSharingTest {
    private val peer: OidcPeer get() = OidcPeer.shared

    /** A `LogSink` that throws on every record, as a host logger with a bug would. */
    private class ThrowingSink : LogSink {
        @Volatile
        var calls = 0

        override fun log(record: LogRecord) {
            calls++
            throw IllegalStateException("the host's log sink threw")
        }
    }

    @AfterEach
    fun noSink() = clearLogSink()

    private fun ServerManager.addOffline(alias: String): ServerInfo =
        addOidcServer("https://$alias.example", "https://id.example.com", "app", OidcPeer.REDIRECT_URI, alias, listOf())

    @Test
    fun `a LogSink that throws changes no outcome and is removed after three failures`() = runBlocking<Unit> {
        val sink = ThrowingSink()
        setLogSink(sink, LogLevel.TRACE)
        val manager = ServerManager.inMemory()
        for (alias in listOf("a", "b", "c", "d")) manager.addOffline(alias)
        manager.onResume()
        assertEquals(4, manager.servers().size)
        assertEquals(3uL, logSinkFailures())
        assertEquals(3, sink.calls, "removed after three failures in a row")
    }

    @Test
    fun `a LogSink that throws during sign-in and a due refresh changes nothing`() = runBlocking<Unit> {
        val sink = ThrowingSink()
        setLogSink(sink, LogLevel.TRACE)
        val signedIn = peer.signedInThenExpired()
        setLogSink(sink, LogLevel.TRACE)
        val fresh = signedIn.session.freshAccessToken()
        assertNotEquals(signedIn.old, fresh)
        clearLogSink()
        signedIn.clock.advanceSecs(61u)
        assertNotEquals(fresh, signedIn.session.freshAccessToken(), "every later refresh works")
        assertTrue(sink.calls >= 2)
    }

    @Test
    fun `rotated tokens a locked store refuses stay in use, pending, and are saved at onResume`() = runBlocking<Unit> {
        val secrets = MapSecretStore()
        val values = MapValueStore()
        val clock = clockAtNow()
        val manager = peer.client(clock, secrets, values)
        manager.signIn()
        val session = manager.session(ALIAS)
        val stored = secrets.map.toMap()
        clock.advanceSecs(61u)

        secrets.failure = StoreException.Unavailable("keystore locked")
        val fresh = session.freshAccessToken()
        assertTrue(session.persistencePending() && session.tokenInfo()!!.persistencePending)
        assertEquals(stored, secrets.map.toMap(), "the store refused the rotated tokens")

        secrets.failure = null
        manager.onResume()
        assertFalse(session.persistencePending())
        assertTrue(secrets.map.values.any { fresh in it }, "saved once the store unlocked")
        val restarted = manager(clock, secrets, values)
        restarted.session(ALIAS).refresh() // the stored refresh token is the provider's current one
        assertTrue(restarted.state(ALIAS) is SessionState.Active)
    }

    @Test
    fun `a corrupt secrets file is moved aside and reported in restoreReport`() {
        val dir = Files.createTempDirectory("authstate-kt-")
        val options = ManagerOptions(directory = dir.toString())
        ServerManager(options).addOffline("chat")
        assertTrue(ServerManager(options).restoreReport().isClean)
        Files.writeString(dir.resolve("secrets.json"), "{\"format\":1,\"entries\":")

        val report = ServerManager(options).restoreReport()
        assertFalse(report.isClean)
        val notice = report.notices.single() as StoreNotice.MovedAside
        assertTrue(notice.file.endsWith("secrets.json") && Files.exists(java.nio.file.Path.of(notice.movedTo)), "$notice")
        assertEquals(1u, report.restored)
    }

    @Test
    fun `a removed server's session answers UnknownServer and holds nothing`() = runBlocking<Unit> {
        val manager = ServerManager.inMemory()
        manager.addOffline("chat")
        val session = manager.session("chat")
        manager.removeServer("chat")
        assertTrue(session.isRemoved())
        assertEquals(SessionState.NoSession, session.state())
        assertNull(session.validAccessToken())
        assertThrows<AuthException.UnknownServer> { session.freshAccessToken() }
        assertThrows<AuthException.UnknownServer> { session.refresh() }
        assertThrows<AuthException.UnknownServer> { session.signOutLocally() }
    }

    @Test
    fun `managers sharing a directory follow each other without a callback`() = runBlocking<Unit> {
        val dir = Files.createTempDirectory("authstate-kt-shared-").toString()
        val a = ServerManager.withFiles(dir)
        val b = ServerManager(ManagerOptions(directory = dir, lockDirectory = dir))
        val seen = b.connectionRevision()
        a.addOffline("chat")
        withTimeout(5_000) { b.revisions().first { it > seen } }
        assertEquals(listOf("chat"), b.servers().map { it.alias })
    }
}
