// The Django REST framework test server for the Kotlin tests:
// tests/peers/django/serve.py (simplejwt pairs, knox per-device tokens),
// started as the Rust harness does (crates/authstate/tests/common/django_peer/),
// with users `alice` and `bob` (password PASSWORD).

package dev.authstate

import java.io.IOException
import java.net.URI
import java.net.http.HttpClient
import java.net.http.HttpRequest
import java.net.http.HttpResponse
import java.nio.file.Files
import java.time.Duration
import java.util.concurrent.CompletableFuture
import java.util.concurrent.TimeUnit
import org.junit.jupiter.api.Assertions.fail
import org.junit.jupiter.api.Assumptions.assumeTrue

/** A running Django peer on a free port of 127.0.0.1. */
class DjangoPeer private constructor(val port: Int, private val process: Process) : AutoCloseable {
    /** `http://127.0.0.1:<port>`; endpoint paths are relative to it. */
    val baseUrl: String get() = "http://127.0.0.1:$port"

    /** The server's request count for [name] (see `__test/counts`). */
    fun count(name: String): Long {
        val body = send(HttpRequest.newBuilder(URI("$baseUrl/__test/counts")).GET())
        val match = Regex("\"$name\"\\s*:\\s*(\\d+)").find(body) ?: fail("counts lack $name: $body")
        return match.groupValues[1].toLong()
    }

    /** Creates the user, or resets its password. */
    fun createUser(name: String, password: String = PASSWORD) {
        val json = "{\"username\": \"$name\", \"password\": \"$password\"}"
        send(
            HttpRequest.newBuilder(URI("$baseUrl/__test/users/")).header("Content-Type", "application/json")
                .POST(HttpRequest.BodyPublishers.ofString(json)),
        )
    }

    private fun send(request: HttpRequest.Builder): String =
        HttpClient.newBuilder().connectTimeout(Duration.ofSeconds(10)).build()
            .send(request.timeout(Duration.ofSeconds(15)).build(), HttpResponse.BodyHandlers.ofString()).body()

    override fun close() {
        process.destroyForcibly().waitFor(10, TimeUnit.SECONDS)
    }

    companion object {
        const val PASSWORD = "correct horse"

        /** One server for the whole run, killed when the JVM exits. */
        val shared: DjangoPeer by lazy { start().also { Runtime.getRuntime().addShutdownHook(Thread(it::close)) } }

        /**
         * Starts the server and waits for its `READY <port>` line. Skips the
         * calling tests when python3 or the peer's packages are missing, unless
         * AUTHSTATE_REQUIRE_PEERS is `1`: then that is a failure.
         */
        fun start(): DjangoPeer {
            if (!packagesImport()) {
                val missing = "the Django peer's packages are missing (pip install -r tests/peers/django/requirements.txt)"
                if (System.getenv(OidcPeer.REQUIRE_PEERS) == "1") fail<Unit>("the Django peer is required but $missing")
                assumeTrue(false, "SKIP: $missing")
            }
            val stateDir = Files.createTempDirectory("authstate-django-kt-")
            val builder = ProcessBuilder("python3", workspaceRoot.resolve("tests/peers/django/serve.py").toString(), "--port", "0")
            builder.environment()["AUTHSTATE_DJANGO_STATE_DIR"] = stateDir.toString()
            val process = builder.redirectError(ProcessBuilder.Redirect.DISCARD).start()
            val port = CompletableFuture<Int>()
            Thread {
                process.inputStream.bufferedReader().forEachLine { line ->
                    if (line.startsWith("READY ")) port.complete(line.removePrefix("READY ").trim().toInt())
                }
                port.completeExceptionally(IOException("it exited before printing READY"))
            }.apply { isDaemon = true }.start()
            val peer = try {
                DjangoPeer(port.get(60, TimeUnit.SECONDS), process)
            } catch (e: Exception) {
                process.destroyForcibly()
                fail("the Django peer failed to start: ${(e.cause ?: e).message}")
            }
            peer.createUser("alice")
            peer.createUser("bob")
            return peer
        }

        private fun packagesImport(): Boolean = try {
            ProcessBuilder("python3", "-c", "import django, rest_framework, rest_framework_simplejwt, knox")
                .redirectErrorStream(true).start().waitFor() == 0
        } catch (_: IOException) {
            false
        }
    }
}
