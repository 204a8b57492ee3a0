// Shared test fixtures: host stores written in Kotlin, a recording log sink,
// and a manager wired to the test provider.

package dev.authstate

import java.time.Instant
import java.util.concurrent.ConcurrentHashMap
import java.util.concurrent.CopyOnWriteArrayList
import kotlinx.coroutines.channels.ReceiveChannel
import kotlinx.coroutines.withTimeout
import org.junit.jupiter.api.Assertions.fail

/**
 * A host `SecretStore` backed by a map, as an app would back it with the
 * Android Keystore. [history] keeps every value ever set; while [failure] is
 * set, every call throws it.
 */
open class MapSecretStore : SecretStore {
    val map = ConcurrentHashMap<String, String>()
    val history = CopyOnWriteArrayList<String>()

    @Volatile
    var failure: Exception? = null

    /** Throws [failure], if set. */
    protected fun failIfAsked() {
        failure?.let { throw it }
    }

    override fun get(key: String): String? {
        failIfAsked()
        return map[key]
    }

    override fun set(key: String, value: String) {
        failIfAsked()
        map[key] = value
        history.add(value)
    }

    override fun delete(key: String) {
        failIfAsked()
        map.remove(key)
    }
}

/** A host `KeyValueStore` backed by a map, as an app would back it with SharedPreferences. */
class MapValueStore : MapSecretStore(), KeyValueStore {
    override fun keys(prefix: String): List<String> {
        failIfAsked()
        return map.keys.filter { it.startsWith(prefix) }
    }
}

/** A `LogSink` keeping every record it receives and the threads it came on. */
class RecordingSink : LogSink {
    val records = CopyOnWriteArrayList<LogRecord>()
    val threads: MutableSet<Long> = ConcurrentHashMap.newKeySet()

    override fun log(record: LogRecord) {
        records.add(record)
        threads.add(Thread.currentThread().id)
    }

    /** The records whose message or target contains [text]. */
    fun mentions(text: String): List<LogRecord> = records.filter { text in it.message || text in it.target }
}

/** The alias the tests give the provider's server. */
const val ALIAS = "idp"

/** A clock at the real current time, so the real provider and the client agree until a test moves it. */
fun clockAtNow(): ManualClock = ManualClock(Instant.now().epochSecond)

/** A manager over memory (or the given host) stores, timed by [clock], trusting the test provider's certificate. */
fun manager(
    clock: ManualClock,
    secrets: SecretStore? = null,
    values: KeyValueStore? = null,
    refreshThresholdSecs: UInt = 10u,
): ServerManager = ServerManager(
    ManagerOptions(
        directory = null,
        trustedRootsPem = listOf(OidcPeer.certPem),
        refreshThresholdSecs = refreshThresholdSecs,
        requestTimeoutSecs = null,
    ),
    secrets = secrets,
    values = values,
    clock = clock,
)

/** A signed-out manager (memory or the given host stores) holding this provider as [ALIAS]. */
fun OidcPeer.client(
    clock: ManualClock = clockAtNow(),
    secrets: SecretStore? = null,
    values: KeyValueStore? = null,
    refreshThresholdSecs: UInt = 10u,
): ServerManager = manager(clock, secrets, values, refreshThresholdSecs).also { it.addPeer(this) }

/** Adds [peer] as server [ALIAS]. */
fun ServerManager.addPeer(peer: OidcPeer): ServerInfo =
    addOidcServer(peer.issuer, peer.issuer, OidcPeer.CLIENT_ID, OidcPeer.REDIRECT_URI, ALIAS, listOf("profile"))

/** A full sign-in to [ALIAS] through the provider as `alice`. */
suspend fun ServerManager.signIn(returnTo: String? = null): LoginResult {
    val url = beginLogin(ALIAS, returnTo)
    return completeLogin(OidcPeer.driveLogin(url))
}

/** A session signed in through the provider, with its clock, manager and the token it had when signed in. */
data class SignedIn(val clock: ManualClock, val manager: ServerManager, val session: ServerSession, val old: String?)

/**
 * Signs in to [ALIAS] on a fresh client, then moves its clock past the
 * provider's 60 s access-token life: the token is expired, the refresh token
 * still valid.
 */
suspend fun OidcPeer.signedInThenExpired(): SignedIn {
    val clock = clockAtNow()
    val manager = client(clock)
    manager.signIn()
    val session = manager.session(ALIAS)
    val signedIn = SignedIn(clock, manager, session, session.validAccessToken())
    clock.advanceSecs(61u)
    return signedIn
}

/** Receives until a value satisfies [predicate] (failing after 30 s instead of hanging): the first such value. */
suspend fun <T> ReceiveChannel<T>.receiveUntil(predicate: (T) -> Boolean): T = withTimeout(30_000) {
    var value = receive()
    while (!predicate(value)) value = receive()
    value
}

/**
 * The [T] that [block] throws; fails when it returns or throws something else.
 * Inline, so [block] may call suspend functions (JUnit's own `assertThrows`
 * takes no suspend lambda, and Debian's JUnit lacks its Kotlin extensions).
 */
inline fun <reified T : Throwable> assertThrows(message: String = "", block: () -> Unit): T {
    val thrown = try {
        block()
        null
    } catch (e: Throwable) {
        e
    }
    if (thrown is T) return thrown
    throw AssertionError("expected ${T::class.simpleName}, got ${thrown ?: "no exception"}. $message", thrown)
}
