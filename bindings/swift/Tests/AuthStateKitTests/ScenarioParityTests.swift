// The scenario suite's Swift runner (tests/scenarios/README.md, issue #15).
//
// Runs every step of the flattened steps file `$AUTHSTATE_SCENARIO_STEPS`
// (one tab-separated, percent-encoded line per step: scenario name, stores,
// operation, arguments `k=v&…`, expected outcome) through the public Swift
// API against the scripted server at `$AUTHSTATE_SCENARIO_SERVER`, writes the
// canonical transcript to `$AUTHSTATE_TRANSCRIPT_DIR/swift.txt` and fails when
// an outcome differs from the expected one. Without `$AUTHSTATE_SCENARIO_STEPS`
// (a plain `swift test`) the test is skipped; `cargo xtask test` sets all three.
//
// The outcome vocabulary, and so the transcript, must be byte-identical to
// the reference runner's (bindings/python/parity.py): keep the two in step.

import AuthStateKit
import Foundation
import XCTest

// Sendable, for SwiftPM's generated test list in Swift 6 mode (Support.swift).
final class ScenarioParityTests: XCTestCase, @unchecked Sendable {
    func testEveryScenarioGivesTheExpectedOutcome() async throws {
        let environment = ProcessInfo.processInfo.environment
        guard let steps = environment["AUTHSTATE_SCENARIO_STEPS"], !steps.isEmpty else {
            throw XCTSkip("AUTHSTATE_SCENARIO_STEPS is not set (cargo xtask test sets it)")
        }
        let base = try XCTUnwrap(environment["AUTHSTATE_SCENARIO_SERVER"], "AUTHSTATE_SCENARIO_SERVER is not set")
        let directory = try XCTUnwrap(environment["AUTHSTATE_TRANSCRIPT_DIR"], "AUTHSTATE_TRANSCRIPT_DIR is not set")
        let text = try String(contentsOfFile: steps, encoding: .utf8)

        let runner = ScenarioRunner(base: base)
        try await runner.run(steps: text)

        let transcript = URL(fileURLWithPath: directory).appendingPathComponent("swift.txt")
        try Data((runner.lines.joined(separator: "\n") + "\n").utf8).write(to: transcript)
        print("swift: \(runner.scenarios) scenarios, \(runner.mismatches.count) mismatches")
        for mismatch in runner.mismatches {
            print(mismatch)
        }
        if !runner.mismatches.isEmpty {
            XCTFail("\(runner.mismatches.count) mismatches:\n" + runner.mismatches.joined(separator: "\n"))
        }
    }

    func testChangingOneExpectedOutcomeFailsTheRun() async throws {
        let environment = ProcessInfo.processInfo.environment
        guard let steps = environment["AUTHSTATE_SCENARIO_STEPS"], !steps.isEmpty else {
            throw XCTSkip("AUTHSTATE_SCENARIO_STEPS is not set (cargo xtask test sets it)")
        }
        let base = try XCTUnwrap(environment["AUTHSTATE_SCENARIO_SERVER"], "AUTHSTATE_SCENARIO_SERVER is not set")
        // The first scenario alone, its first expected outcome changed.
        let all = try String(contentsOfFile: steps, encoding: .utf8).split(separator: "\n").map(String.init)
        let name = all[0].split(separator: "\t", omittingEmptySubsequences: false)[0]
        var first = all.prefix { $0.split(separator: "\t", omittingEmptySubsequences: false)[0] == name }
        first[first.startIndex] += "-changed"
        let runner = ScenarioRunner(base: base)
        try await runner.run(steps: first.joined(separator: "\n") + "\n")
        XCTAssertEqual(runner.mismatches.count, 1, runner.mismatches.joined(separator: "\n"))
    }

    func testArgumentsAreDecodedAsPythonDecodesThem() {
        XCTAssertEqual(unquote("%2Fcaf%C3%A9%2Fmen%C3%BC"), "/café/menü")
        XCTAssertEqual(unquote("a+b%zz%4"), "a+b%zz%4", "no '+' decoding; a bad escape stays")
        XCTAssertEqual(unquote("%2F%00x"), "/\u{0}x")
        XCTAssertEqual(unquote("%FFok"), "\u{FFFD}ok")
        XCTAssertEqual(parseArgs("a=1&&b=x%3Dy&c"), ["a": "1", "b": "x=y", "c": ""])
        XCTAssertEqual(quote("a b/~_.-é"), "a%20b/~_.-%C3%A9")
        XCTAssertEqual(queryValue("https://x/auth?state=a%2Bb+c&x=1#f", "state"), "a+b c")
        XCTAssertEqual(short("A1.u7.x"), "A1")
    }
}

// MARK: - The runner

/// 2026-01-01T00:00:00Z: every scenario's ManualClock starts here.
private let epoch: Int64 = 1_767_225_600
private let redirectURI = "com.example.app:/callback"
/// Before the `|` of a sign-in's username: keeps runners apart on the server.
private let lang = "swift"

/// A step that cannot run (a missing argument, an unknown operation): in
/// Python, an exception that ends the run; here, a mismatch.
private struct StepError: Error, CustomStringConvertible {
    let description: String
}

/// One scenario: its clock, its manager (and store directory), its watches.
private final class World {
    let base: String
    let clock: ManualClock
    /// A fresh temporary directory for `stores=files`, else nil (memory).
    let directory: String?
    var manager: ServerManager
    var watches: [String: StateWatch] = [:]
    var revisions: RevisionWatch?
    var pendingState: String?
    /// Full tokens by short form ("A1" -> the whole token this scenario
    /// received), for `token=A1` arguments.
    var fullTokens: [String: String] = [:]

    init(base: String, stores: String) throws {
        self.base = base
        clock = try ManualClock(unixSecs: epoch)
        if stores == "files" {
            let path = FileManager.default.temporaryDirectory
                .appendingPathComponent("authstate-parity-\(UUID().uuidString)").path
            try FileManager.default.createDirectory(atPath: path, withIntermediateDirectories: true)
            directory = path
        } else {
            directory = nil
        }
        manager = try World.open(directory: directory, clock: clock)
    }

    /// A manager on this world's stores and clock (`restart` opens another).
    static func open(directory: String?, clock: ManualClock) throws -> ServerManager {
        try ServerManager(options: ManagerOptions(directory: directory), clock: clock)
    }

    func url(_ alias: String) -> String {
        "\(base)/\(alias)/"
    }

    /// Removes the temporary store directory, if any.
    func discard() {
        if let directory {
            try? FileManager.default.removeItem(atPath: directory)
        }
    }
}

/// Runs a steps file and keeps the transcript and the mismatches.
private final class ScenarioRunner {
    let base: String
    private(set) var lines: [String] = []
    private(set) var mismatches: [String] = []
    private(set) var scenarios = 0
    init(base: String) {
        self.base = base
    }

    func run(steps text: String) async throws {
        var current: String?
        var world: World?
        defer { world?.discard() }
        for raw in text.split(separator: "\n", omittingEmptySubsequences: false) {
            if raw.allSatisfy(\.isWhitespace) {
                continue
            }
            let fields = raw.split(separator: "\t", omittingEmptySubsequences: false).map(String.init)
            guard fields.count == 5 else {
                throw StepError(description: "a steps line without 5 fields: \(String(reflecting: String(raw)))")
            }
            let name = unquote(fields[0]), stores = unquote(fields[1]), op = unquote(fields[2])
            let argsField = fields[3], expect = unquote(fields[4])
            if name != current {
                world?.discard()
                current = name
                world = try World(base: base, stores: stores)
                scenarios += 1
                lines.append("## \(name)")
            }
            guard let world else { continue }
            let args = parseArgs(argsField)
            let outcome: String
            do {
                outcome = try await step(world, op, args)
            } catch let error as AuthError {
                outcome = outcomeOfError(error, detail: args["detail"] == "true")
            } catch {
                outcome = "crash \(error)"
            }
            lines.append("\(op) \(argsField) => \(outcome)")
            if outcome != expect {
                mismatches.append(
                    "MISMATCH \(name): \(op) \(argsField): expected \(String(reflecting: expect)), got \(String(reflecting: outcome))"
                )
            }
        }
    }

    /// The token a `response` step presents: the current one, or a
    /// remembered one by its short form (else the argument as it is).
    private func tokenOf(_ world: World, _ alias: String, _ which: String) throws -> String {
        let session = try world.manager.session(alias: alias)
        if which == "current" {
            return session.validAccessToken() ?? ""
        }
        return world.fullTokens[which] ?? which
    }

    private func outcomeOfError(_ error: AuthError, detail: Bool) -> String {
        var text = "error \(errorName(error))"
        if detail {
            text += ": \(errorDetail(error))".replacingOccurrences(of: base, with: "{base}")
        }
        return text
    }

    // One step; the outcome as every runner prints it.
    private func step(_ world: World, _ op: String, _ a: [String: String]) async throws -> String {
        let m = world.manager
        let alias = a["alias"] ?? ""
        func remember(_ token: String) -> String {
            world.fullTokens[short(token)] = token
            return token
        }
        func arg(_ key: String) throws -> String {
            guard let value = a[key] else { throw StepError(description: "\(op): no argument \(key)") }
            return value
        }
        func integer<T: FixedWidthInteger>(_ key: String, _: T.Type) throws -> T {
            let text = try arg(key)
            guard let value = T(text) else { throw StepError(description: "\(op): \(key)=\(text) is not a \(T.self)") }
            return value
        }
        switch op {
        case "add":
            switch try arg("kind") {
            case "token_pair":
                _ = try m.addTokenPairServer(url: world.url(alias), settings: simplejwtSettings(prefix: "tp/api/token/"), alias: alias)
            case "opaque":
                _ = try m.addOpaqueTokenServer(url: world.url(alias), settings: deviceTokenSettings(prefix: "op/"), alias: alias)
            default:
                _ = try m.addOidcServer(
                    url: world.url(alias), issuer: "\(world.base)/oidc", clientId: "app", redirectUri: redirectURI, alias: alias
                )
            }
            return "ok"
        case "sign_in":
            _ = try await m.signInWithPassword(
                alias: alias, username: "\(lang)|\(a["script"] ?? "")", password: a["password"] ?? "pw"
            )
            _ = remember(try m.session(alias: alias).validAccessToken() ?? "")
            return "ok"
        case "state":
            return view(try m.state(alias: alias))
        case "valid_token":
            guard let token = try m.session(alias: alias).validAccessToken(), !token.isEmpty else { return "none" }
            return "token \(short(remember(token)))"
        case "token":
            let token = try await m.session(alias: alias).freshAccessToken()
            return "token \(short(remember(token)))"
        case "refresh":
            try await m.session(alias: alias).refresh()
            return "ok"
        case "advance":
            world.clock.advanceSecs(secs: try integer("secs", UInt32.self))
            return "ok"
        case "response":
            let session = try m.session(alias: alias)
            let status = try integer("status", UInt16.self)
            let used = try tokenOf(world, alias, arg("token"))
            switch await session.onResponse(status: status, wwwAuthenticate: nil, tokenUsed: used) {
            case .retry: return "retry \(short(remember(session.validAccessToken() ?? "")))"
            case .sessionExpired, .signedOut: return "sign_in_required"
            case .pass: return "pass"
            case .permissionDenied: return "permission_denied"
            case .tryLater: return "try_later"
            case .failed(let detail): return "failed \(detail)"
            }
        case "probe":
            switch try await m.session(alias: alias).probe() {
            case .valid: return "valid"
            case .stale: return "stale"
            case .unreachable: return "unreachable"
            }
        case "sign_out":
            switch try await m.signOut(alias: alias) {
            case .revoked: return "revoked"
            case .nothingToRevoke: return "nothing_to_revoke"
            case .notSupported: return "not_supported"
            case .failed(let detail): return "failed \(detail)"
            }
        case "sign_out_locally":
            try m.session(alias: alias).signOutLocally()
            return "ok"
        case "mark_expired":
            try m.session(alias: alias).markExpired()
            return "ok"
        case "remove":
            try m.removeServer(alias: alias)
            return "ok"
        case "servers":
            return m.servers().map(\.alias).joined(separator: " ")
        case "any_authenticated":
            return m.anyAuthenticated() ? "true" : "false"
        case "guard":
            let decision = m.guard(location: try arg("location"), serverAlias: a["alias"], isPublic: a["public"] == "true")
            switch decision {
            case .allow: return "allow"
            case .redirect(let to):
                return "redirect " + unquote(to.replacingOccurrences(of: "+", with: " "))
                    .replacingOccurrences(of: world.base, with: "{base}")
            }
        case "return_to":
            let path = try validateReturnTo(path: arg("path"))
            return "ok \(path)"
        case "draft_save":
            let text = try a["repeat"] != nil ? String(repeating: "x", count: integer("repeat", Int.self)) : arg("text")
            try m.drafts().save(serverAlias: alias, room: arg("room"), text: text)
            return "ok"
        case "draft_peek", "draft_take":
            let drafts = m.drafts()
            let room = try arg("room")
            let text = try (op == "draft_peek" ? drafts.peek : drafts.take)(alias, room)
            return text.map { "draft \($0)" } ?? "none"
        case "begin_login":
            let url = try await m.beginLogin(alias: alias, returnTo: a["return_to"])
            guard let state = queryValue(url, "state") else {
                throw StepError(description: "no state in \(url)")
            }
            world.pendingState = state
            return "ok"
        case "complete_login":
            let state = try arg("callback") == "denied" ? world.pendingState ?? "" : "not-a-pending-state"
            _ = try await m.completeLogin(callbackUrl: "\(redirectURI)?state=\(quote(state))&error=access_denied")
            return "ok"
        case "on_resume":
            try await m.onResume()
            return "ok"
        case "restart":
            world.manager = try World.open(directory: world.directory, clock: world.clock)
            return "ok"
        case "restore_report":
            let report = m.restoreReport()
            return report.isClean ? "clean" : "report \(report)"
        case "watch":
            world.watches[alias] = try m.watchState(alias: alias)
            return "ok"
        case "watch_next":
            guard let watch = world.watches[alias] else { throw StepError(description: "no watch of \(alias)") }
            guard let observed = await watch.next() else { return "end" }
            return view(observed.state)
        case "watch_cancel":
            guard let watch = world.watches[alias] else { throw StepError(description: "no watch of \(alias)") }
            watch.cancel()
            return "ok"
        case "revisions":
            world.revisions = m.watchRevisions()
            return "ok"
        case "revisions_next":
            guard let revisions = world.revisions else { throw StepError(description: "no revision watch") }
            guard let revision = await revisions.next() else { return "end" }
            return "revision \(revision)"
        case "pending_waits":
            return "\(m.pendingWaits())"
        default:
            throw StepError(description: "unknown op \(op)")
        }
    }
}

// MARK: - The outcome vocabulary

/// The name of an error's case, as Python prints the Rust variant's name.
private func errorName(_ error: AuthError) -> String {
    switch error {
    case .InvalidInput: "InvalidInput"
    case .AlreadyExists: "AlreadyExists"
    case .UnknownServer: "UnknownServer"
    case .SignInRequired: "SignInRequired"
    case .SignInFailed: "SignInFailed"
    case .PermissionDenied: "PermissionDenied"
    case .NotFound: "NotFound"
    case .TryLater: "TryLater"
    case .Storage: "Storage"
    case .Configuration: "Configuration"
    case .Cancelled: "Cancelled"
    case .Internal: "Internal"
    }
}

private func errorDetail(_ error: AuthError) -> String {
    switch error {
    case .InvalidInput(let detail), .AlreadyExists(let detail), .UnknownServer(let detail),
         .SignInRequired(let detail), .SignInFailed(let detail), .PermissionDenied(let detail),
         .NotFound(let detail), .TryLater(let detail), .Storage(let detail), .Configuration(let detail),
         .Cancelled(let detail), .Internal(let detail):
        detail
    }
}

private func kindName(_ kind: ProviderKind) -> String {
    switch kind {
    case .oidc: "oidc"
    case .tokenPair: "token_pair"
    case .opaqueToken: "opaque_token"
    }
}

private func reasonName(_ reason: ExpiryReason) -> String {
    switch reason {
    case .refreshRejected: "refresh_rejected"
    case .noRefreshToken: "no_refresh_token"
    case .unauthorized: "unauthorized"
    case .staleToken: "stale_token"
    case .marked: "marked"
    case .misconfigured: "misconfigured"
    case .refreshInterrupted: "refresh_interrupted"
    }
}

/// The canonical text of a state view (kind, provider, reason).
private func view(_ state: SessionState) -> String {
    switch state {
    case .noSession: "no_session"
    case .active(let provider): "active \(kindName(provider))"
    case .expired(let provider, let reason): "expired \(kindName(provider)) \(reasonName(reason))"
    }
}

/// A token as transcripts print it: up to its first '.'.
private func short(_ token: String) -> String {
    String(token.prefix { $0 != "." })
}

// MARK: - Percent-encoding, as Python's urllib.parse does it

private func hexValue(_ byte: UInt8) -> UInt8? {
    switch byte {
    case UInt8(ascii: "0")...UInt8(ascii: "9"): byte - UInt8(ascii: "0")
    case UInt8(ascii: "a")...UInt8(ascii: "f"): byte - UInt8(ascii: "a") + 10
    case UInt8(ascii: "A")...UInt8(ascii: "F"): byte - UInt8(ascii: "A") + 10
    default: nil
    }
}

/// `urllib.parse.unquote`: each `%XX` becomes that byte (any other `%`
/// stays), `+` stays, and the bytes are read as UTF-8 with U+FFFD for what
/// is not.
private func unquote<S: StringProtocol>(_ text: S) -> String {
    let bytes = Array(text.utf8)
    var out: [UInt8] = []
    out.reserveCapacity(bytes.count)
    var i = 0
    while i < bytes.count {
        if bytes[i] == UInt8(ascii: "%"), i + 2 < bytes.count,
           let high = hexValue(bytes[i + 1]), let low = hexValue(bytes[i + 2]) {
            out.append(high << 4 | low)
            i += 3
        } else {
            out.append(bytes[i])
            i += 1
        }
    }
    return String(decoding: out, as: UTF8.self)
}

/// `urllib.parse.quote` with its default `safe="/"`.
private func quote(_ text: String) -> String {
    let digits = Array("0123456789ABCDEF".utf8)
    var out: [UInt8] = []
    for byte in text.utf8 {
        switch byte {
        case UInt8(ascii: "A")...UInt8(ascii: "Z"), UInt8(ascii: "a")...UInt8(ascii: "z"),
             UInt8(ascii: "0")...UInt8(ascii: "9"), UInt8(ascii: "_"), UInt8(ascii: "."), UInt8(ascii: "-"),
             UInt8(ascii: "~"), UInt8(ascii: "/"):
            out.append(byte)
        default:
            out += [UInt8(ascii: "%"), digits[Int(byte >> 4)], digits[Int(byte & 0xF)]]
        }
    }
    return String(decoding: out, as: UTF8.self)
}

/// A step's arguments: `k=v&…`, each side percent-decoded; empty pairs skipped.
private func parseArgs(_ field: String) -> [String: String] {
    var args: [String: String] = [:]
    for pair in field.split(separator: "&") {
        let (key, value) = pair.firstIndex(of: "=").map { (pair[..<$0], pair[pair.index(after: $0)...]) } ?? (pair, "")
        args[unquote(key)] = unquote(value)
    }
    return args
}

/// `parse_qs(urlparse(url).query)[name][0]`: the first non-empty value of
/// `name` in the URL's query, `+` read as a space.
private func queryValue(_ url: String, _ name: String) -> String? {
    let beforeFragment = url.prefix { $0 != "#" }
    guard let mark = beforeFragment.firstIndex(of: "?") else { return nil }
    let query = beforeFragment[beforeFragment.index(after: mark)...]
    let plus = { (text: Substring) in unquote(text.replacingOccurrences(of: "+", with: " ")) }
    for pair in query.split(separator: "&") {
        guard let equals = pair.firstIndex(of: "=") else { continue }
        let value = plus(pair[pair.index(after: equals)...])
        if plus(pair[..<equals]) == name, !value.isEmpty {
            return value
        }
    }
    return nil
}
