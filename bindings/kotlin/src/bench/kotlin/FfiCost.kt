// The FFI's own cost, measured from Kotlin (run by hand; see ../../README.md):
// how much more than an empty call of the same shape do the everyday calls
// cost? The target (<= 2) is against a no-op method on the same object
// (`session.noop()`, `session.noopAsync()`): every method call pays the
// generated code's handle clone, a native call of its own. The free
// functions `noop()` / `noopAsync()` are printed for reference. A signed-in
// session comes from the real test provider, so the token paths are real.

package dev.authstate.bench

import dev.authstate.ALIAS
import dev.authstate.OidcPeer
import dev.authstate.addPeer
import dev.authstate.clockAtNow
import dev.authstate.manager
import dev.authstate.noop
import dev.authstate.noopAsync
import dev.authstate.signIn
import kotlinx.coroutines.runBlocking

/** Rounds measured after one warm-up round; each round runs every case once, so load drift hits all alike. */
private const val ROUNDS = 7

/** One measured call, the same-shape empty call it is judged against and the free one it is shown against (null for a baseline). */
private class Case(
    val name: String,
    val baseline: String?,
    val free: String?,
    val calls: Int,
    val call: suspend () -> Unit,
) {
    val nsPerCall = mutableListOf<Double>()

    suspend fun round(): Double {
        val start = System.nanoTime()
        repeat(calls) { call() }
        return (System.nanoTime() - start).toDouble() / calls
    }
}

private fun List<Double>.median(): Double = sorted()[size / 2]

fun main(args: Array<String>) = runBlocking<Unit> {
    val calls = args.firstOrNull()?.toInt() ?: 100_000
    OidcPeer.start(accessTokenTtlSecs = 3600).use { peer ->
        val manager = manager(clockAtNow())
        manager.addPeer(peer)
        manager.signIn()
        val session = manager.session(ALIAS)
        check(session.validAccessToken() != null) { "the session has no valid token" }

        val cases = listOf(
            Case("noop()", null, null, calls) { noop() },
            Case("session.noop()", null, null, calls) { session.noop() },
            Case("session.state()", "session.noop()", "noop()", calls) { session.state() },
            Case("session.validAccessToken()", "session.noop()", "noop()", calls) { session.validAccessToken() },
            Case("noopAsync()", null, null, calls / 4) { noopAsync() },
            Case("session.noopAsync()", null, null, calls / 4) { session.noopAsync() },
            Case("session.freshAccessToken()", "session.noopAsync()", "noopAsync()", calls / 4) {
                session.freshAccessToken()
            },
        )
        cases.forEach { it.round() } // warm-up: JIT, class loading
        repeat(ROUNDS) { cases.forEach { case -> case.nsPerCall += case.round() } }

        val byName = cases.associateBy { it.name }
        println("median of $ROUNDS rounds; ratio = median over rounds of (call / its baseline in the same round)")
        fun ratio(case: Case, to: String): Double {
            val base = byName.getValue(to)
            return case.nsPerCall.indices.map { case.nsPerCall[it] / base.nsPerCall[it] }.median()
        }
        for (case in cases) {
            val verdict = case.baseline?.let { baseline ->
                val same = ratio(case, baseline)
                val free = ratio(case, case.free!!)
                String.format("  %.2fx %s (target <= 2: %s), %.2fx %s", same, baseline, if (same <= 2) "met" else "missed", free, case.free)
            } ?: ""
            println(String.format("%-32s %9.0f ns/call%s", case.name, case.nsPerCall.median(), verdict))
        }
    }
}
