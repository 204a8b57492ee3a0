// Servers, route guards, return paths and drafts through the generated
// bindings, against the real Rust library (no provider needed).

import AuthStateKit
import Foundation
import XCTest

// Sendable, its tests async, for SwiftPM's generated test list in Swift 6 mode (Support.swift).
final class ManagerTests: XCTestCase, @unchecked Sendable {
    func testANewServerIsSignedOut() async throws {
        let manager = try ServerManager.inMemory()
        let info = try addServer(manager)
        XCTAssertEqual(info.alias, "notes")
        XCTAssertEqual(info.url, "https://notes.example.com/")
        XCTAssertEqual(info.provider, .oidc)
        XCTAssertEqual(try manager.state(alias: "notes"), .noSession)
        XCTAssertFalse(manager.anyAuthenticated())
        XCTAssertEqual(manager.servers().map(\.alias), ["notes"])
        XCTAssertFalse(try manager.session(alias: "notes").isAuthenticated())
    }

    func testADuplicateAliasOrServerIsAlreadyExists() async throws {
        let manager = try managerWithNotes()
        assertAuthError(try addServer(manager, alias: "notes", url: "https://other.example"), \.isAlreadyExists)
        assertAuthError(try addServer(manager, alias: "other", url: notesURL), \.isAlreadyExists)
        XCTAssertEqual(manager.servers().count, 1)
    }

    func testTheGuardRedirectsASignedOutServerWithReturnTo() async throws {
        let manager = try managerWithNotes()
        XCTAssertEqual(manager.guard(location: "/about", isPublic: true), .allow)
        guard case let .redirect(to) = manager.guard(location: "/s/notes/inbox", serverAlias: "notes") else {
            return XCTFail("a signed-out server must redirect")
        }
        XCTAssertTrue(to.contains("returnTo=%2Fs%2Fnotes%2Finbox"), to)
        XCTAssertEqual(manager.guard(location: "/home"), .redirect(to: "/"), "no server active: home")
    }

    func testPreAuthStateRefusesAbsoluteReturnPaths() async throws {
        let hostile = ["https://evil.example", "//evil.example", "/\\evil", "javascript:alert(1)", "/%2F%2Fevil"]
        for path in hostile {
            assertAuthError(try PreAuthState(serverUrl: notesURL, provider: .oidc, returnTo: path), \.isInvalidInput, path)
            assertAuthError(try validateReturnTo(path: path), \.isInvalidInput, path)
        }
        let attempt = try PreAuthState(serverUrl: notesURL, provider: .oidc, returnTo: "/rooms/42")
        XCTAssertEqual(attempt.returnTo(), "/rooms/42")
        XCTAssertEqual(attempt.serverUrl(), "https://notes.example.com/")
        XCTAssertEqual(attempt.pkceChallengeMethod(), "S256")
        XCTAssertFalse(attempt.pkceChallenge().isEmpty)
        XCTAssertEqual(try validateReturnTo(path: "/rooms/42?tab=1"), "/rooms/42?tab=1")
    }

    func testDraftsExpireAfter24Hours() async throws {
        let clock = try ManualClock(unixSecs: 1_700_000_000)
        let manager = try ServerManager(options: ManagerOptions(), clock: clock)
        try addServer(manager)
        let drafts = manager.drafts()
        try drafts.save(serverAlias: "notes", room: "42", text: "half a thought")
        clock.advanceSecs(secs: 24 * 3600 - 1)
        XCTAssertEqual(try drafts.peek(serverAlias: "notes", room: "42"), "half a thought")
        clock.advanceSecs(secs: 1)
        XCTAssertNil(try drafts.peek(serverAlias: "notes", room: "42"), "gone after 24 hours")
        XCTAssertNil(try drafts.take(serverAlias: "notes", room: "42"))
    }

    func testTakeRemovesADraftAndAnOversizedDraftIsRefused() async throws {
        let manager = try managerWithNotes()
        let drafts = manager.drafts()
        try drafts.save(serverAlias: "notes", room: "42", text: "kept")
        let tooBig = String(repeating: "x", count: Int(drafts.maxBytes()) + 1)
        assertAuthError(try drafts.save(serverAlias: "notes", room: "42", text: tooBig), \.isInvalidInput)
        XCTAssertEqual(try drafts.take(serverAlias: "notes", room: "42"), "kept", "a refused save keeps the draft")
        XCTAssertNil(try drafts.take(serverAlias: "notes", room: "42"))
    }

    func testStateSurvivesReopeningAFileStore() async throws {
        let dir = FileManager.default.temporaryDirectory.appendingPathComponent(UUID().uuidString)
        try FileManager.default.createDirectory(at: dir, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: dir) }
        let first = try ServerManager.withFiles(directory: dir.path)
        try addServer(first)
        let again = try ServerManager.withFiles(directory: dir.path)
        XCTAssertEqual(again.servers().map(\.alias), ["notes"])
        XCTAssertEqual(try again.state(alias: "notes"), .noSession)
    }

    func testTheAliasDefaultsToOneDerivedFromTheURL() async throws {
        let manager = try ServerManager.inMemory()
        let info = try manager.addOidcServer(
            url: "https://Chat.Example.com:443/", issuer: "https://id.example.com", clientId: "app",
            redirectUri: "com.example.app:/callback")
        XCTAssertEqual(info.url, "https://chat.example.com/")
        XCTAssertFalse(info.alias.isEmpty)
        XCTAssertEqual(try manager.state(alias: info.alias), .noSession)
        XCTAssertEqual(try manager.session(alias: info.alias).info(), info)
    }

    func testRemovingAServerForgetsItAndBumpsTheRevision() async throws {
        let manager = try managerWithNotes()
        let before = manager.connectionRevision()
        try manager.removeServer(alias: "notes")
        XCTAssertTrue(manager.servers().isEmpty)
        XCTAssertGreaterThan(manager.connectionRevision(), before)
        assertAuthError(try manager.state(alias: "notes"), \.isUnknownServer)
    }

    func testPublicRoutesPassAndAHostileLocationIsNeverEchoed() async throws {
        let manager = try managerWithNotes()
        XCTAssertEqual(manager.guard(location: "/s/notes/inbox", serverAlias: "notes", isPublic: true), .allow)
        XCTAssertEqual(manager.guard(location: "/s/ghost/inbox", serverAlias: "ghost", isPublic: true), .allow)
        XCTAssertEqual(
            manager.guard(location: "/s/notes/room/1?x=1", serverAlias: "notes"),
            .redirect(to: "/?server=https%3A%2F%2Fnotes.example.com%2F&returnTo=%2Fs%2Fnotes%2Froom%2F1%3Fx%3D1"))
        for hostile in ["https://evil.example", "//evil.example", "/\\evil", "javascript:alert(1)", "/%2F%2Fevil"] {
            guard case let .redirect(to) = manager.guard(location: hostile, serverAlias: "notes") else {
                return XCTFail("a signed-out server must redirect: \(hostile)")
            }
            XCTAssertTrue(to.hasSuffix("&returnTo=%2F") && !to.contains("evil"), to)
        }
    }

    func testEachPreAuthStateHoldsItsOwnS256Challenge() async throws {
        let first = try PreAuthState(serverUrl: "https://Notes.example.com", provider: .oidc, returnTo: nil)
        let second = try PreAuthState(serverUrl: notesURL, provider: .tokenPair, returnTo: nil)
        let alphabet = Set("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_")
        XCTAssertEqual(first.pkceChallenge().count, 43)
        XCTAssertTrue(Set(first.pkceChallenge()).isSubset(of: alphabet), first.pkceChallenge())
        XCTAssertNotEqual(first.pkceChallenge(), second.pkceChallenge())
        XCTAssertNil(first.returnTo())
        XCTAssertEqual(first.serverUrl(), "https://notes.example.com/")
        XCTAssertTrue((0..<60).contains(first.ageSecs()))
        for url in ["", "not a url", "ftp://x.example", "http://public.example"] {
            assertAuthError(try PreAuthState(serverUrl: url, provider: .oidc, returnTo: "/rooms/42"), \.isInvalidInput, url)
        }
    }

    func testAManualClockIsSetAndAdvancedByHand() async throws {
        let clock = try ManualClock(unixSecs: 1_700_000_000)
        XCTAssertEqual(clock.nowUnixSecs(), 1_700_000_000)
        clock.advanceSecs(secs: 61)
        XCTAssertEqual(clock.nowUnixSecs(), 1_700_000_061)
        try clock.setUnixSecs(unixSecs: 42)
        XCTAssertEqual(clock.nowUnixSecs(), 42, "a clock may be set back")
        let token = CancelToken()
        XCTAssertFalse(token.isCancelled())
        token.cancel()
        token.cancel()
        XCTAssertTrue(token.isCancelled(), "cancelling twice is fine")
    }
}
