// The FFI's own cost, measured from Kotlin (run by hand; see ../../README.md):
// how much more than an empty call do the everyday calls cost? A signed-in
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

/** One measured call, and the empty call it is compared with (null for a baseline). */
private class Case(val name: String, val baseline: String?, val calls: Int, val call: suspend () -> Unit) {
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
            Case("noop()", null, calls) { noop() },
            Case("session.state()", "noop()", calls) { session.state() },
            Case("session.validAccessToken()", "noop()", calls) { session.validAccessToken() },
            Case("noopAsync()", null, calls / 4) { noopAsync() },
            Case("session.freshAccessToken()", "noopAsync()", calls / 4) { session.freshAccessToken() },
        )
        cases.forEach { it.round() } // warm-up: JIT, class loading
        repeat(ROUNDS) { cases.forEach { case -> case.nsPerCall += case.round() } }

        val byName = cases.associateBy { it.name }
        println("median of $ROUNDS rounds; ratio = median over rounds of (call / its baseline in the same round)")
        for (case in cases) {
            val base = case.baseline?.let { byName.getValue(it) }
            val ratio = base?.let { b -> case.nsPerCall.indices.map { case.nsPerCall[it] / b.nsPerCall[it] }.median() }
            val verdict = ratio?.let { String.format("  %.2fx %s (target <= 2: %s)", it, base.name, if (it <= 2) "met" else "missed") } ?: ""
            println(String.format("%-32s %9.0f ns/call%s", case.name, case.nsPerCall.median(), verdict))
        }
    }
}
