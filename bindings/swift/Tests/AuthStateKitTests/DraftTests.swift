// Scenario h: the DraftStore keeps unsent text per (server, room) for 24
// hours by the manager's clock (a ManualClock here); over the cap is refused,
// never truncated. (Python twin: test_drafts.py.)

import AuthStateKit
import XCTest

private let day: UInt32 = 24 * 60 * 60

/// A draft store over two signed-out servers, `notes` and `chat`, and its clock.
private func draftsWithClock() throws -> (DraftStore, ManualClock) {
    let clock = try ManualClock(unixSecs: 1_700_000_000)
    let manager = try ServerManager(options: ManagerOptions(), clock: clock)
    try addServer(manager, alias: "notes", url: "https://notes.example.com")
    try addServer(manager, alias: "chat", url: "https://chat.example.com")
    return (manager.drafts(), clock)
}

// Sendable, its tests async, for SwiftPM's generated test list in Swift 6 mode (Support.swift).
final class DraftTests: XCTestCase, @unchecked Sendable {
    func testSavePeekTakeRoundTripPerServerAndRoom() async throws {
        let (drafts, _) = try draftsWithClock()
        XCTAssertNil(try drafts.peek(serverAlias: "notes", room: "room-1"))
        try drafts.save(serverAlias: "notes", room: "room-1", text: "hello ✓")
        XCTAssertEqual(try drafts.peek(serverAlias: "notes", room: "room-1"), "hello ✓")
        XCTAssertEqual(try drafts.peek(serverAlias: "notes", room: "room-1"), "hello ✓", "peek leaves it in place")
        XCTAssertNil(try drafts.peek(serverAlias: "chat", room: "room-1"), "per server")
        XCTAssertNil(try drafts.peek(serverAlias: "notes", room: "room-2"), "per room")
        XCTAssertEqual(try drafts.take(serverAlias: "notes", room: "room-1"), "hello ✓")
        XCTAssertNil(try drafts.take(serverAlias: "notes", room: "room-1"), "take removes it")
    }

    func testSavingAgainReplacesAndEmptyTextDeletes() async throws {
        let (drafts, _) = try draftsWithClock()
        try drafts.save(serverAlias: "notes", room: "r", text: "one")
        try drafts.save(serverAlias: "notes", room: "r", text: "two")
        XCTAssertEqual(try drafts.peek(serverAlias: "notes", room: "r"), "two")
        try drafts.save(serverAlias: "notes", room: "r", text: "")
        XCTAssertNil(try drafts.peek(serverAlias: "notes", room: "r"))
    }

    func testSavingRestartsTheTimeToLive() async throws {
        let (drafts, clock) = try draftsWithClock()
        try drafts.save(serverAlias: "notes", room: "r", text: "first")
        clock.advanceSecs(secs: day - 10)
        try drafts.save(serverAlias: "notes", room: "r", text: "second")
        clock.advanceSecs(secs: day - 1)
        XCTAssertEqual(try drafts.peek(serverAlias: "notes", room: "r"), "second")
        clock.advanceSecs(secs: 1)
        XCTAssertNil(try drafts.peek(serverAlias: "notes", room: "r"))
    }

    func testPurgeExpiredDeletesOnlyExpiredDrafts() async throws {
        let (drafts, clock) = try draftsWithClock()
        try drafts.save(serverAlias: "notes", room: "old-1", text: "a")
        try drafts.save(serverAlias: "chat", room: "old-2", text: "b")
        clock.advanceSecs(secs: day / 2)
        try drafts.save(serverAlias: "notes", room: "young", text: "c")
        XCTAssertEqual(try drafts.purgeExpired(), 0)
        clock.advanceSecs(secs: day / 2)
        XCTAssertEqual(try drafts.purgeExpired(), 2)
        XCTAssertEqual(try drafts.purgeExpired(), 0)
        XCTAssertEqual(try drafts.peek(serverAlias: "notes", room: "young"), "c")
    }

    func testTheCapCountsUTF8BytesAndARefusedSaveKeepsTheDraft() async throws {
        let (drafts, _) = try draftsWithClock()
        let cap = Int(drafts.maxBytes())
        XCTAssertEqual(cap, 64 * 1024)
        try drafts.save(serverAlias: "notes", room: "r", text: "kept")
        assertAuthError(try drafts.save(serverAlias: "notes", room: "r", text: String(repeating: "x", count: cap + 1)), \.isInvalidInput)
        assertAuthError(try drafts.save(serverAlias: "notes", room: "r", text: String(repeating: "é", count: cap / 2 + 1)), \.isInvalidInput)
        XCTAssertEqual(try drafts.peek(serverAlias: "notes", room: "r"), "kept")
        let full = String(repeating: "x", count: cap)
        try drafts.save(serverAlias: "notes", room: "r", text: full)
        XCTAssertEqual(try drafts.take(serverAlias: "notes", room: "r"), full, "exactly the cap is kept whole")
    }

    func testABadRoomOrServerIsATypedError() async throws {
        let (drafts, _) = try draftsWithClock()
        for room in ["", String(repeating: "r", count: 257)] {
            assertAuthError(try drafts.save(serverAlias: "notes", room: room, text: "text"), \.isInvalidInput)
        }
        assertAuthError(try drafts.peek(serverAlias: "ghost", room: "r"), \.isUnknownServer)
        assertAuthError(try drafts.take(serverAlias: "", room: "r"), \.isUnknownServer)
    }
}
