// Servers, route guards, return paths and drafts through the generated
// bindings, against the real Rust library (no provider needed).

import AuthStateKit
import Foundation
import XCTest

final class ManagerTests: XCTestCase {
    func testANewServerIsSignedOut() throws {
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

    func testADuplicateAliasOrServerIsAlreadyExists() throws {
        let manager = try managerWithNotes()
        assertAuthError(try addServer(manager, alias: "notes", url: "https://other.example"), \.isAlreadyExists)
        assertAuthError(try addServer(manager, alias: "other", url: notesURL), \.isAlreadyExists)
        XCTAssertEqual(manager.servers().count, 1)
    }

    func testTheGuardRedirectsASignedOutServerWithReturnTo() throws {
        let manager = try managerWithNotes()
        XCTAssertEqual(manager.guard(location: "/about", isPublic: true), .allow)
        guard case let .redirect(to) = manager.guard(location: "/s/notes/inbox", serverAlias: "notes") else {
            return XCTFail("a signed-out server must redirect")
        }
        XCTAssertTrue(to.contains("returnTo=%2Fs%2Fnotes%2Finbox"), to)
        XCTAssertEqual(manager.guard(location: "/home"), .redirect(to: "/"), "no server active: home")
    }

    func testPreAuthStateRefusesAbsoluteReturnPaths() throws {
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

    func testDraftsExpireAfter24Hours() throws {
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

    func testTakeRemovesADraftAndAnOversizedDraftIsRefused() throws {
        let manager = try managerWithNotes()
        let drafts = manager.drafts()
        try drafts.save(serverAlias: "notes", room: "42", text: "kept")
        let tooBig = String(repeating: "x", count: Int(drafts.maxBytes()) + 1)
        assertAuthError(try drafts.save(serverAlias: "notes", room: "42", text: tooBig), \.isInvalidInput)
        XCTAssertEqual(try drafts.take(serverAlias: "notes", room: "42"), "kept", "a refused save keeps the draft")
        XCTAssertNil(try drafts.take(serverAlias: "notes", room: "42"))
    }

    func testStateSurvivesReopeningAFileStore() throws {
        let dir = FileManager.default.temporaryDirectory.appendingPathComponent(UUID().uuidString)
        try FileManager.default.createDirectory(at: dir, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: dir) }
        let first = try ServerManager.withFiles(directory: dir.path)
        try addServer(first)
        let again = try ServerManager.withFiles(directory: dir.path)
        XCTAssertEqual(again.servers().map(\.alias), ["notes"])
        XCTAssertEqual(try again.state(alias: "notes"), .noSession)
    }
}
