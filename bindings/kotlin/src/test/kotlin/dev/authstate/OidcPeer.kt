// A real OpenID provider for the Kotlin tests: oidc-provider (Node) from
// tests/peers/oidc, started exactly as the Rust harness does
// (crates/authstate/tests/common/oidc_peer/mod.rs), and the browser half of a
// login played over plain HTTP with a cookie jar (browser.rs there).

package dev.authstate

import java.io.ByteArrayInputStream
import java.io.IOException
import java.net.CookieManager
import java.net.CookiePolicy
import java.net.ServerSocket
import java.net.URI
import java.net.URLDecoder
import java.net.URLEncoder
import java.net.http.HttpClient
import java.net.http.HttpRequest
import java.net.http.HttpResponse
import java.nio.file.Files
import java.nio.file.Path
import java.nio.file.Paths
import java.security.KeyStore
import java.security.cert.CertificateFactory
import java.time.Duration
import java.util.concurrent.CompletableFuture
import java.util.concurrent.TimeUnit
import java.util.concurrent.TimeoutException
import javax.net.ssl.SSLContext
import javax.net.ssl.TrustManagerFactory
import org.junit.jupiter.api.Assertions.fail
import org.junit.jupiter.api.Assumptions.assumeTrue

/** The workspace root: `-Dauthstate.root`, else the first parent of the working directory holding the peer. */
val workspaceRoot: Path by lazy {
    System.getProperty("authstate.root")?.let { return@lazy Paths.get(it).toAbsolutePath() }
    var dir: Path? = Paths.get("").toAbsolutePath()
    while (dir != null && !Files.isRegularFile(dir.resolve("tests/peers/oidc/server.mjs"))) dir = dir.parent
    dir ?: error("cannot find the workspace root (set -Dauthstate.root)")
}

/** A running oidc-provider on a free port of 127.0.0.1, serving HTTPS with the test certificate. */
class OidcPeer private constructor(
    val port: Int,
    private val process: Process,
    private val stateDir: Path,
    private val log: StringBuffer,
) : AutoCloseable {
    /** `https://127.0.0.1:<port>`: the issuer and the server's base URL. */
    val issuer: String get() = "https://127.0.0.1:$port"

    /** Requests to the token endpoint since start or [resetCounts] (failed ones included). */
    fun tokenRequests(): Long {
        val body = send(HttpRequest.newBuilder(URI("$issuer/__test/counts")).GET(), 200)
        val match = Regex("\"token\"\\s*:\\s*(\\d+)").find(body) ?: fail("counts lack token: $body")
        return match.groupValues[1].toLong()
    }

    /** Zeroes the request counts. */
    fun resetCounts() {
        send(HttpRequest.newBuilder(URI("$issuer/__test/reset")).POST(HttpRequest.BodyPublishers.noBody()), 204)
    }

    /** The status of `GET /me` (userinfo) with [accessToken] as the bearer: 200 while the token is valid. */
    fun userinfoStatus(accessToken: String): Int {
        val request = HttpRequest.newBuilder(URI("$issuer/me")).header("Authorization", "Bearer $accessToken").build()
        return http(cookies = false).send(request, HttpResponse.BodyHandlers.discarding()).statusCode()
    }

    /** Freezes the provider (SIGSTOP): connections are accepted, requests hang until [resume]. */
    fun pause() = signal("STOP")

    /** Lets a paused provider run again (SIGCONT). */
    fun resume() = signal("CONT")

    private fun signal(name: String) {
        val status = ProcessBuilder("kill", "-$name", process.pid().toString()).start().waitFor()
        check(status == 0) { "kill -$name ${process.pid()} exited with $status" }
    }

    /** The provider's stderr so far. */
    fun log(): String = log.toString()

    private fun send(request: HttpRequest.Builder, expected: Int): String {
        val response = http(cookies = false).send(request.build(), HttpResponse.BodyHandlers.ofString())
        check(response.statusCode() == expected) { "${response.uri()}: HTTP ${response.statusCode()} ${response.body()}" }
        return response.body()
    }

    /**
     * Kills the provider and deletes its state. It also runs from a shutdown
     * hook, after the JUnit launcher closed its class loader: so JDK calls
     * only, and no lambda that would need a class loaded now.
     */
    override fun close() {
        process.destroyForcibly().waitFor(10, TimeUnit.SECONDS)
        deleteTree(stateDir.toFile())
    }

    private fun deleteTree(file: java.io.File) {
        file.listFiles()?.let { for (child in it) deleteTree(child) }
        file.delete()
    }

    companion object {
        /** The one client the provider knows: native, public, PKCE S256 required. */
        const val CLIENT_ID = "authstate-test"

        /** The registered redirect URI. */
        const val REDIRECT_URI = "http://127.0.0.1/callback"

        /** With this set to `1`, a missing node or node_modules fails the tests instead of skipping them. */
        const val REQUIRE_PEERS = "AUTHSTATE_REQUIRE_PEERS"

        private const val MAX_BROWSER_HOPS = 16
        private val peerDir: Path get() = workspaceRoot.resolve("tests/peers/oidc")

        /**
         * One provider for the whole test run (60 s access tokens), started on
         * first use (skipping or failing the caller as [start] does) and
         * killed when the JVM exits.
         */
        val shared: OidcPeer by lazy {
            start(accessTokenTtlSecs = 60).also { peer -> Runtime.getRuntime().addShutdownHook(Thread(peer::close)) }
        }

        /** The provider's self-signed certificate, which clients under test trust. */
        val certPem: String by lazy { Files.readString(peerDir.resolve("tls/cert.pem")) }

        /**
         * Starts the provider and waits for its `READY <port>` line. Skips the
         * calling tests (JUnit assumption) when node or the peer's node_modules
         * is missing, unless [REQUIRE_PEERS] is `1`: then that is a failure.
         */
        fun start(accessTokenTtlSecs: Int = 60): OidcPeer {
            val missing = when {
                !nodeWorks() -> "node not found on PATH"
                !Files.isRegularFile(peerDir.resolve("node_modules/oidc-provider/package.json")) ->
                    "tests/peers/oidc/node_modules missing (run `npm ci` there)"
                else -> null
            }
            if (missing != null) {
                if (System.getenv(REQUIRE_PEERS) == "1") fail<Unit>("the oidc peer is required ($REQUIRE_PEERS=1) but $missing")
                assumeTrue(false, "SKIP: $missing")
            }
            val port = ServerSocket(0).use { it.localPort }
            val stateDir = Files.createTempDirectory("authstate-oidc-")
            val builder = ProcessBuilder("node", "server.mjs").directory(peerDir.toFile())
            builder.environment().putAll(
                mapOf(
                    "PORT" to port.toString(),
                    "TLS_CERT" to peerDir.resolve("tls/cert.pem").toString(),
                    "TLS_KEY" to peerDir.resolve("tls/key.pem").toString(),
                    "STATE_DIR" to stateDir.toString(),
                    "ACCESS_TOKEN_TTL" to accessTokenTtlSecs.toString(),
                    "REDIRECT_URIS" to "",
                ),
            )
            val process = builder.redirectInput(ProcessBuilder.Redirect.from(java.io.File("/dev/null"))).start()
            val log = StringBuffer()
            Thread { process.errorStream.bufferedReader().forEachLine { log.append(it).append('\n') } }
                .apply { isDaemon = true }.start()
            val ready = CompletableFuture<Unit>()
            Thread {
                process.inputStream.bufferedReader().forEachLine { if (it.trim() == "READY $port") ready.complete(Unit) }
                ready.completeExceptionally(IOException("it exited before printing READY"))
            }.apply { isDaemon = true }.start()
            try {
                ready.get(60, TimeUnit.SECONDS)
            } catch (e: Exception) {
                process.destroyForcibly().waitFor(10, TimeUnit.SECONDS)
                val why = if (e is TimeoutException) "no READY line within 60 s" else (e.cause ?: e).message
                fail<Unit>("oidc peer on port $port failed to start: $why\n---- provider stderr ----\n$log")
            }
            return OidcPeer(port, process, stateDir, log)
        }

        private fun nodeWorks(): Boolean = try {
            ProcessBuilder("node", "--version").redirectErrorStream(true).start().waitFor() == 0
        } catch (_: IOException) {
            false
        }

        /** A client trusting the provider's certificate that follows no redirects; with [cookies], a cookie jar. */
        fun http(cookies: Boolean): HttpClient {
            val cert = CertificateFactory.getInstance("X.509").generateCertificate(ByteArrayInputStream(certPem.toByteArray()))
            val trust = KeyStore.getInstance(KeyStore.getDefaultType()).apply {
                load(null, null)
                setCertificateEntry("oidc-peer", cert)
            }
            val factory = TrustManagerFactory.getInstance(TrustManagerFactory.getDefaultAlgorithm()).apply { init(trust) }
            val tls = SSLContext.getInstance("TLS").apply { init(null, factory.trustManagers, null) }
            return HttpClient.newBuilder()
                .sslContext(tls)
                .version(HttpClient.Version.HTTP_1_1)
                .followRedirects(HttpClient.Redirect.NEVER)
                .connectTimeout(Duration.ofSeconds(15))
                .apply { if (cookies) cookieHandler(CookieManager(null, CookiePolicy.ACCEPT_ALL)) }
                .build()
        }

        /**
         * Plays the browser: follows the provider's redirects from [authUrl],
         * signs in as [login] and consents in whatever order the provider asks
         * (or, with [deny], cancels at the first interaction), and returns the
         * callback URL it was sent to (not requested).
         */
        fun driveLogin(authUrl: String, login: String = "alice", deny: Boolean = false): String {
            val redirectUri = query(URI(authUrl))["redirect_uri"] ?: fail("auth URL has no redirect_uri: $authUrl")
            val callback = URI(redirectUri)
            val browser = http(cookies = true)
            var url = URI(authUrl)
            var form: Map<String, String>? = null
            repeat(MAX_BROWSER_HOPS) {
                val request = HttpRequest.newBuilder(url).timeout(Duration.ofSeconds(15))
                form?.let {
                    val body = it.entries.joinToString("&") { (k, v) -> "${enc(k)}=${enc(v)}" }
                    request.header("Content-Type", "application/x-www-form-urlencoded")
                        .POST(HttpRequest.BodyPublishers.ofString(body))
                }
                form = null
                val response = browser.send(request.build(), HttpResponse.BodyHandlers.ofString())
                val location = response.headers().firstValue("location").orElse(null)
                    ?: fail("login stopped at $url: HTTP ${response.statusCode()}\n${response.body()}")
                val target = url.resolve(location)
                if (sameEndpoint(target, callback)) return target.toString()
                if (!target.path.startsWith("/interaction/")) {
                    url = target
                    return@repeat
                }
                if (deny) {
                    url = target.resolve("${target.path}/abort")
                    return@repeat
                }
                val page = browser.send(HttpRequest.newBuilder(target).build(), HttpResponse.BodyHandlers.ofString()).body()
                form = when {
                    "name=\"prompt\" value=\"login\"" in page -> mapOf("prompt" to "login", "login" to login, "password" to "x")
                    "name=\"prompt\" value=\"consent\"" in page -> mapOf("prompt" to "consent")
                    else -> fail("unknown interaction at $target:\n$page")
                }
                url = target
            }
            throw AssertionError("no redirect to $redirectUri after $MAX_BROWSER_HOPS hops (last: $url)")
        }

        /** The decoded query parameters of [uri] (last one wins). */
        fun query(uri: URI): Map<String, String> = (uri.rawQuery ?: "").split('&').filter { it.isNotEmpty() }.associate {
            val (k, v) = (it.split('=', limit = 2) + "").take(2)
            URLDecoder.decode(k, Charsets.UTF_8) to URLDecoder.decode(v, Charsets.UTF_8)
        }

        private fun enc(s: String) = URLEncoder.encode(s, Charsets.UTF_8)

        private fun sameEndpoint(a: URI, b: URI): Boolean {
            fun port(u: URI) = if (u.port != -1) u.port else if (u.scheme == "https") 443 else 80
            return a.scheme == b.scheme && a.host == b.host && port(a) == port(b) && a.path == b.path
        }
    }
}
