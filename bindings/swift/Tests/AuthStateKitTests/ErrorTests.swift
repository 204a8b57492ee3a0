// Bad input is a typed AuthError, never a crash: garbage, empty and 1 MB
// inputs, unknown aliases, and tokens asked of a signed-out session.

import AuthStateKit
import XCTest

// Sendable, for SwiftPM's generated test list in Swift 6 mode (Support.swift).
final class ErrorTests: XCTestCase, @unchecked Sendable {
    let megabyte = String(repeating: "x", count: 1_000_000)

    func testGarbageEmptyAndHugeInputsAreInvalidInput() throws {
        let manager = try ServerManager.inMemory()
        for url in ["", "not a url", "\u{0}\u{FFFF} garbage", "ftp://x.example", "http://public.example", megabyte] {
            assertAuthError(try addServer(manager, alias: "a", url: url), \.isInvalidInput, String(url.prefix(20)))
        }
        for alias in ["", "bad alias!", megabyte] {
            assertAuthError(try addServer(manager, alias: alias), \.isInvalidInput, String(alias.prefix(20)))
        }
        for path in ["", megabyte, "/" + megabyte] {
            assertAuthError(try validateReturnTo(path: path), \.isInvalidInput)
        }
        assertAuthError(try ServerManager.withFiles(directory: "   "), \.isInvalidInput)
        assertAuthError(try ManualClock(unixSecs: Int64.max), \.isInvalidInput)
        XCTAssertTrue(manager.servers().isEmpty, "nothing was added")
    }

    func testAnUnknownAliasIsUnknownServer() throws {
        let manager = try managerWithNotes()
        assertAuthError(try manager.state(alias: "nope"), \.isUnknownServer)
        assertAuthError(try manager.session(alias: "nope"), \.isUnknownServer)
        assertAuthError(try manager.removeServer(alias: "nope"), \.isUnknownServer)
        assertAuthError(try manager.drafts().save(serverAlias: "nope", room: "1", text: "x"), \.isUnknownServer)
    }

    func testASignedOutSessionGivesNoTokenButSignInRequired() async throws {
        let session = try managerWithNotes().session(alias: "notes")
        XCTAssertNil(session.validAccessToken())
        XCTAssertNil(session.tokenInfo())
        do {
            _ = try await session.freshAccessToken()
            XCTFail("a signed-out session must not give a token")
        } catch let error as AuthError {
            XCTAssertTrue(error.isSignInRequired, "\(error)")
        }
    }

    func testABadReturnPathIsInvalidInputAtEveryEntryPoint() async throws {
        let manager = try managerWithNotes()
        for path in ["", "rooms", "/" + megabyte, "/a\nb", "/a\u{0}b", "https://evil.example"] {
            let shown = String(path.prefix(20))
            assertAuthError(try validateReturnTo(path: path), \.isInvalidInput, shown)
            assertAuthError(try PreAuthState(serverUrl: "https://x.example", provider: .oidc, returnTo: path), \.isInvalidInput, shown)
            await assertAuthError({ try await manager.beginLogin(alias: "notes", returnTo: path) }, \.isInvalidInput, shown)
        }
    }

    func testOtherInvalidInputsAndAPemWithoutACertificate() throws {
        let drafts = try managerWithNotes().drafts()
        assertAuthError(try drafts.save(serverAlias: "notes", room: megabyte, text: "text"), \.isInvalidInput)
        assertAuthError(try drafts.save(serverAlias: "notes", room: "room", text: megabyte), \.isInvalidInput)
        assertAuthError(try ManualClock(unixSecs: 1 << 62), \.isInvalidInput)
        assertAuthError(try ManualClock(unixSecs: 0).setUnixSecs(unixSecs: -(1 << 62)), \.isInvalidInput)
        assertAuthError(try ServerManager(options: ManagerOptions(directory: "")), \.isInvalidInput)
        for pem in ["", "garbage", megabyte] {
            assertAuthError(try ServerManager(options: ManagerOptions(trustedRootsPem: [pem])), \.isConfiguration)
        }
    }

    func testAnUnknownAliasIsUnknownServerAtTheAsyncEntryPointsToo() async throws {
        let manager = try managerWithNotes()
        for alias in ["ghost", "", megabyte] {
            await assertAuthError({ try await manager.beginLogin(alias: alias) }, \.isUnknownServer)
            await assertAuthError({ try await manager.signOut(alias: alias) }, \.isUnknownServer)
            XCTAssertEqual(manager.guard(location: "/s/x", serverAlias: alias), .redirect(to: "/"))
        }
        let other = try managerWithNotes()
        await assertAuthError({ try await other.deviceSessions(alias: "ghost") }, \.isUnknownServer)
    }

    func testAGarbageCallbackIsSignInFailedAndChangesNothing() async throws {
        let manager = try managerWithNotes()
        let redirect = "com.example.app:/callback"
        for callback in ["", "garbage", megabyte, redirect, "\(redirect)?code=x&state=unknown", "\(redirect)?state=\(megabyte)"] {
            await assertAuthError({ try await manager.completeLogin(callbackUrl: callback) }, \.isSignInFailed, String(callback.prefix(40)))
        }
        XCTAssertEqual(try manager.state(alias: "notes"), .noSession)
    }

    func testALate401OrMarkExpiredWhenSignedOutChangesNothing() async throws {
        let manager = try managerWithNotes()
        let session = try manager.session(alias: "notes")
        let revision = manager.connectionRevision()
        try session.markExpired() // a late 401 after sign-out: no error, no transition
        try session.signOutLocally() // signing out when signed out is fine
        await assertAuthError({ try await session.refresh() }, \.isSignInRequired)
        XCTAssertEqual(session.state(), .noSession)
        XCTAssertEqual(manager.connectionRevision(), revision)
    }

    func testHugeAndOddInputsAtEntryPointsThatDoNotFailNeverCrash() async throws {
        let manager = try managerWithNotes()
        let session = try manager.session(alias: "notes")
        for location in ["", megabyte, "\u{0}", "/\u{202E}"] {
            guard case .redirect = manager.guard(location: location, serverAlias: "notes") else {
                return XCTFail("a signed-out server redirects")
            }
            XCTAssertEqual(manager.guard(location: location, serverAlias: megabyte), .redirect(to: "/"))
        }
        let expected: [(UInt16, ResponseVerdict)] = [
            (0, .pass), (200, .pass), (401, .signedOut), (403, .permissionDenied), (UInt16.max, .pass),
        ]
        for (status, verdict) in expected {
            let got = await session.onResponse(status: status, wwwAuthenticate: megabyte, tokenUsed: megabyte)
            XCTAssertEqual(got, verdict, "\(status)")
        }
        XCTAssertEqual(session.state(), .noSession)
    }
}
