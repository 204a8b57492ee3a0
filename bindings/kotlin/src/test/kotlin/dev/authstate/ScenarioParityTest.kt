// The scenario suite's Kotlin runner (tests/scenarios/README.md, issue #15).
//
// Runs every step of the flattened steps file `$AUTHSTATE_SCENARIO_STEPS`
// through the public Kotlin API against the scripted server at
// `$AUTHSTATE_SCENARIO_SERVER`, writes the canonical transcript to
// `$AUTHSTATE_TRANSCRIPT_DIR/kotlin.txt` and fails when an outcome differs from
// the expected one. The outcome vocabulary is the reference runner's
// (bindings/python/parity.py), byte for byte: keep the two in step.
// Skipped when `$AUTHSTATE_SCENARIO_STEPS` is unset.

package dev.authstate

import java.io.ByteArrayOutputStream
import java.io.File
import java.nio.file.Files
import kotlinx.coroutines.runBlocking
import kotlinx.coroutines.withTimeout
import org.junit.jupiter.api.Assertions.assertEquals
import org.junit.jupiter.api.Assumptions.assumeTrue
import org.junit.jupiter.api.Test

class ScenarioParityTest {
    @Test
    fun `every scenario of the steps file gives its expected outcome`() {
        val steps = System.getenv("AUTHSTATE_SCENARIO_STEPS")
        assumeTrue(!steps.isNullOrEmpty(), "SKIP: AUTHSTATE_SCENARIO_STEPS is not set (see tests/scenarios/README.md)")
        val base = System.getenv("AUTHSTATE_SCENARIO_SERVER")
            ?: throw AssertionError("AUTHSTATE_SCENARIO_STEPS is set but AUTHSTATE_SCENARIO_SERVER is not")
        val dir = System.getenv("AUTHSTATE_TRANSCRIPT_DIR")
            ?: throw AssertionError("AUTHSTATE_SCENARIO_STEPS is set but AUTHSTATE_TRANSCRIPT_DIR is not")
        val (scenarios, mismatches) = ScenarioRunner(base).runAll(File(steps!!), File(dir, "kotlin.txt"))
        println("kotlin: $scenarios scenarios, ${mismatches.size} mismatches")
        mismatches.forEach { println(it) }
        assertEquals(0, mismatches.size, "mismatched outcomes:\n" + mismatches.joinToString("\n"))
    }

    @Test
    fun `changing one expected outcome fails the run`() {
        val steps = System.getenv("AUTHSTATE_SCENARIO_STEPS")
        assumeTrue(!steps.isNullOrEmpty(), "SKIP: AUTHSTATE_SCENARIO_STEPS is not set (see tests/scenarios/README.md)")
        val base = System.getenv("AUTHSTATE_SCENARIO_SERVER") ?: throw AssertionError("AUTHSTATE_SCENARIO_SERVER is not set")
        // The first scenario alone, its first expected outcome changed.
        val all = File(steps!!).readLines(Charsets.UTF_8).filter { it.isNotBlank() }
        val first = all.takeWhile { it.substringBefore('\t') == all[0].substringBefore('\t') }.toMutableList()
        first[0] = first[0] + "-changed"
        val changed = Files.createTempFile("authstate-steps-", ".tsv").toFile()
        val transcript = Files.createTempFile("authstate-transcript-", ".txt").toFile()
        try {
            changed.writeText(first.joinToString("\n") + "\n", Charsets.UTF_8)
            val (_, mismatches) = ScenarioRunner(base).runAll(changed, transcript)
            assertEquals(1, mismatches.size, mismatches.joinToString("\n"))
        } finally {
            changed.delete()
            transcript.delete()
        }
    }
}

/** Runs the flattened steps through the bindings, as parity.py does. */
private class ScenarioRunner(private val base: String) {
    companion object {
        const val EPOCH = 1767225600L // 2026-01-01T00:00:00Z
        const val REDIRECT = "com.example.app:/callback"
        const val LANG = "kt"

        /** How long one step may take before the run fails rather than hangs. */
        const val STEP_TIMEOUT_MS = 60_000L
    }

    /** One scenario's manager, clock, stores and what its steps remembered. */
    inner class World(stores: String) {
        val clock = ManualClock(EPOCH)
        val dir: File? = if (stores == "files") Files.createTempDirectory("authstate-parity-").toFile() else null
        val watches = mutableMapOf<String, StateWatch>()
        var revisions: RevisionWatch? = null
        var pendingState: String? = null

        /** "A1" -> the whole token this scenario received. */
        val fullTokens = mutableMapOf<String, String>()
        var manager: ServerManager = open()

        fun open(): ServerManager = ServerManager(ManagerOptions(directory = dir?.path), clock = clock)

        /** A new manager on the same stores and clock; the old one is dropped, as in Python. */
        fun restart() {
            val old = manager
            manager = open()
            old.close()
        }

        fun url(alias: String) = "$base/$alias/"

        fun tokenOf(alias: String, which: String): String {
            manager.session(alias).use { session ->
                if (which == "current") return session.validAccessToken() ?: ""
            }
            return fullTokens[which] ?: which
        }

        fun remember(token: String): String {
            fullTokens[short(token)] = token
            return token
        }

        /** Drops the native objects (as Python drops the world) and the temporary directory. */
        fun close() {
            watches.values.forEach { it.close() }
            revisions?.close()
            manager.close()
            clock.close()
            dir?.deleteRecursively()
        }
    }

    /** Runs the steps file and writes the transcript: (scenarios, mismatch lines). */
    fun runAll(steps: File, transcript: File): Pair<Int, List<String>> = runBlocking {
        val lines = mutableListOf<String>()
        val mismatches = mutableListOf<String>()
        var scenarios = 0
        var current: String? = null
        var world: World? = null
        try {
            for (raw in steps.readLines(Charsets.UTF_8)) {
                if (raw.isBlank()) continue
                val fields = raw.split("\t")
                require(fields.size == 5) { "a steps line has 5 tab-separated fields: $raw" }
                val (name, stores, op) = fields.take(3).map(::unquote)
                val argsField = fields[3]
                val expect = unquote(fields[4])
                if (name != current) {
                    world?.close()
                    current = name
                    world = World(stores)
                    scenarios += 1
                    lines.add("## $name")
                }
                val args = parseArgs(argsField)
                val outcome = try {
                    withTimeout(STEP_TIMEOUT_MS) { step(world!!, op, args) }
                } catch (error: AuthException) {
                    outcomeOfError(error, args["detail"] == "true")
                }
                lines.add("$op $argsField => $outcome")
                if (outcome != expect) {
                    mismatches.add("MISMATCH $name: $op $argsField: expected ${repr(expect)}, got ${repr(outcome)}")
                }
            }
        } finally {
            world?.close()
        }
        transcript.writeText(lines.joinToString("\n") + "\n", Charsets.UTF_8)
        scenarios to mismatches
    }

    private fun outcomeOfError(error: AuthException, detail: Boolean): String {
        var text = "error ${error::class.simpleName}"
        if (detail) text += ": ${detailOf(error)}".replace(base, "{base}")
        return text
    }

    private suspend fun step(world: World, op: String, a: Map<String, String>): String {
        val m = world.manager
        val alias = a["alias"] ?: ""
        when (op) {
            "add" -> {
                when (a.getValue("kind")) {
                    "token_pair" -> m.addTokenPairServer(world.url(alias), simplejwtSettings("tp/api/token/"), alias)
                    "opaque" -> m.addOpaqueTokenServer(world.url(alias), deviceTokenSettings("op/"), alias)
                    else -> m.addOidcServer(world.url(alias), "$base/oidc", "app", REDIRECT, alias)
                }
                return "ok"
            }
            "sign_in" -> {
                m.signInWithPassword(alias, "$LANG|${a["script"] ?: ""}", a["password"] ?: "pw")
                m.session(alias).use { world.remember(it.validAccessToken() ?: "") }
                return "ok"
            }
            "state" -> return view(m.state(alias))
            "valid_token" -> {
                val token = m.session(alias).use { it.validAccessToken() }
                return if (token.isNullOrEmpty()) "none" else "token ${short(world.remember(token))}"
            }
            "token" -> {
                val token = m.session(alias).use { it.freshAccessToken() }
                return "token ${short(world.remember(token))}"
            }
            "refresh" -> {
                m.session(alias).use { it.refresh() }
                return "ok"
            }
            "advance" -> {
                world.clock.advanceSecs(a.getValue("secs").toUInt())
                return "ok"
            }
            "response" -> m.session(alias).use { session ->
                val token = world.tokenOf(alias, a.getValue("token"))
                return when (val verdict = session.onResponse(a.getValue("status").toUShort(), null, token)) {
                    is ResponseVerdict.Retry -> "retry ${short(world.remember(session.validAccessToken() ?: ""))}"
                    is ResponseVerdict.SessionExpired, is ResponseVerdict.SignedOut -> "sign_in_required"
                    is ResponseVerdict.Pass -> "pass"
                    is ResponseVerdict.PermissionDenied -> "permission_denied"
                    is ResponseVerdict.TryLater -> "try_later"
                    is ResponseVerdict.Failed -> "failed ${verdict.detail}"
                }
            }
            "probe" -> return m.session(alias).use { it.probe() }.name.lowercase()
            "sign_out" -> return when (val outcome = m.signOut(alias)) {
                is RevocationOutcome.Revoked -> "revoked"
                is RevocationOutcome.NothingToRevoke -> "nothing_to_revoke"
                is RevocationOutcome.NotSupported -> "not_supported"
                is RevocationOutcome.Failed -> "failed ${outcome.detail}"
            }
            "sign_out_locally" -> {
                m.session(alias).use { it.signOutLocally() }
                return "ok"
            }
            "mark_expired" -> {
                m.session(alias).use { it.markExpired() }
                return "ok"
            }
            "remove" -> {
                m.removeServer(alias)
                return "ok"
            }
            "servers" -> return m.servers().joinToString(" ") { it.alias }
            "any_authenticated" -> return if (m.anyAuthenticated()) "true" else "false"
            "guard" -> return when (val decision = m.guard(a.getValue("location"), a["alias"], a["public"] == "true")) {
                is GuardDecision.Allow -> "allow"
                is GuardDecision.Redirect -> "redirect " + unquote(decision.to.replace("+", " ")).replace(base, "{base}")
            }
            "return_to" -> return "ok " + validateReturnTo(a.getValue("path"))
            "draft_save" -> {
                val text = a["repeat"]?.let { "x".repeat(it.toInt()) } ?: a.getValue("text")
                m.drafts().use { it.save(alias, a.getValue("room"), text) }
                return "ok"
            }
            "draft_peek", "draft_take" -> {
                val text = m.drafts().use {
                    if (op == "draft_peek") it.peek(alias, a.getValue("room")) else it.take(alias, a.getValue("room"))
                }
                return if (text == null) "none" else "draft $text"
            }
            "begin_login" -> {
                val url = m.beginLogin(alias, a["return_to"])
                world.pendingState = queryValue(url, "state")
                    ?: throw AssertionError("begin_login gave a URL without a state: $url")
                return "ok"
            }
            "complete_login" -> {
                val state = if (a.getValue("callback") == "denied") {
                    world.pendingState ?: throw AssertionError("complete_login before begin_login")
                } else {
                    "not-a-pending-state"
                }
                m.completeLogin("$REDIRECT?state=${quote(state)}&error=access_denied")
                return "ok"
            }
            "on_resume" -> {
                m.onResume()
                return "ok"
            }
            "restart" -> {
                world.restart()
                return "ok"
            }
            "restore_report" -> {
                val report = m.restoreReport()
                return if (report.isClean) "clean" else "report $report"
            }
            "watch" -> {
                val watch = m.watchState(alias)
                world.watches.put(alias, watch)?.close() // replaced: dropped, as in Python
                return "ok"
            }
            "watch_next" -> {
                val observed = world.watches.getValue(alias).next()
                return if (observed == null) "end" else view(observed.state)
            }
            "watch_cancel" -> {
                world.watches.getValue(alias).cancel()
                return "ok"
            }
            "revisions" -> {
                val watch = m.watchRevisions()
                world.revisions?.close() // replaced: dropped, as in Python
                world.revisions = watch
                return "ok"
            }
            "revisions_next" -> {
                val revision = world.revisions!!.next()
                return if (revision == null) "end" else "revision $revision"
            }
            "pending_waits" -> return m.pendingWaits().toString()
            else -> throw IllegalArgumentException("unknown op $op")
        }
    }
}

/** A token as transcripts print it: up to its first '.'. */
private fun short(token: String): String = token.substringBefore('.')

private fun kindName(kind: ProviderKind): String = when (kind) {
    ProviderKind.OIDC -> "oidc"
    ProviderKind.TOKEN_PAIR -> "token_pair"
    ProviderKind.OPAQUE_TOKEN -> "opaque_token"
}

/** The canonical text of a state view (kind, provider, reason). */
private fun view(state: SessionState): String = when (state) {
    is SessionState.NoSession -> "no_session"
    is SessionState.Active -> "active ${kindName(state.provider)}"
    is SessionState.Expired -> "expired ${kindName(state.provider)} ${state.reason.name.lowercase()}"
}

/** The `detail` every [AuthException] carries (Python's `error.detail`). */
private fun detailOf(error: AuthException): String = when (error) {
    is AuthException.InvalidInput -> error.detail
    is AuthException.AlreadyExists -> error.detail
    is AuthException.UnknownServer -> error.detail
    is AuthException.SignInRequired -> error.detail
    is AuthException.SignInFailed -> error.detail
    is AuthException.PermissionDenied -> error.detail
    is AuthException.NotFound -> error.detail
    is AuthException.TryLater -> error.detail
    is AuthException.Storage -> error.detail
    is AuthException.Configuration -> error.detail
    is AuthException.Cancelled -> error.detail
    is AuthException.Internal -> error.detail
}

/** The arguments field `k=v&…`, each side percent-decoded. */
private fun parseArgs(field: String): Map<String, String> {
    val args = LinkedHashMap<String, String>()
    for (pair in field.split("&")) {
        if (pair.isEmpty()) continue
        args[unquote(pair.substringBefore('='))] = unquote(pair.substringAfter('=', ""))
    }
    return args
}

private fun isHex(c: Char) = c in '0'..'9' || c in 'a'..'f' || c in 'A'..'F'

/**
 * Python's `urllib.parse.unquote`: `%XX` escapes are bytes decoded as UTF-8
 * (malformed sequences become U+FFFD), a '%' without two hex digits stays as
 * is, and '+' stays '+' (unlike `java.net.URLDecoder`).
 */
private fun unquote(text: String): String {
    if ('%' !in text) return text
    val out = StringBuilder()
    val bytes = ByteArrayOutputStream()
    fun flush() {
        if (bytes.size() > 0) {
            out.append(String(bytes.toByteArray(), Charsets.UTF_8))
            bytes.reset()
        }
    }
    var i = 0
    while (i < text.length) {
        val c = text[i]
        when {
            c.code >= 0x80 -> {
                flush()
                out.append(c)
                i += 1
            }
            c == '%' && i + 2 < text.length && isHex(text[i + 1]) && isHex(text[i + 2]) -> {
                bytes.write(text.substring(i + 1, i + 3).toInt(16))
                i += 3
            }
            else -> {
                bytes.write(c.code)
                i += 1
            }
        }
    }
    flush()
    return out.toString()
}

/** Python's `urllib.parse.quote` with its default `safe="/"`. */
private fun quote(text: String): String {
    val out = StringBuilder()
    for (byte in text.toByteArray(Charsets.UTF_8)) {
        val b = byte.toInt() and 0xff
        val c = b.toChar()
        if (c in 'A'..'Z' || c in 'a'..'z' || c in '0'..'9' || c in "_.-~/") out.append(c) else out.append("%%%02X".format(b))
    }
    return out.toString()
}

/** The first non-empty value of [name] in [url]'s query, as Python's `parse_qs` reads it. */
private fun queryValue(url: String, name: String): String? {
    val query = url.substringAfter('?', "").substringBefore('#')
    for (pair in query.split("&")) {
        if ('=' !in pair) continue
        val key = unquote(pair.substringBefore('=').replace("+", " "))
        val value = unquote(pair.substringAfter('=').replace("+", " "))
        if (key == name && value.isNotEmpty()) return value
    }
    return null
}

/** A Python-like `repr` of a string, for mismatch reports. */
private fun repr(text: String): String = "'" + text.replace("\\", "\\\\").replace("'", "\\'") + "'"
