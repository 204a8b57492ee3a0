// Issues #13 and #14 from Swift: a corrupt secrets file is reported in
// restoreReport(), a removed server's session answers UnknownServer, and
// managers sharing a directory (an app and its extensions in one App Group
// container) follow each other without a callback. (Python and Kotlin
// twins: test_issue_13.py, test_processes.py, FaultsAndSharingTest.kt.)

import AuthStateKit
import Foundation
import XCTest

// Sendable, for SwiftPM's generated test list in Swift 6 mode (Support.swift).
final class SharedStoreTests: XCTestCase, @unchecked Sendable {
    private func temporaryDirectory() throws -> String {
        let url = FileManager.default.temporaryDirectory.appendingPathComponent("authstate-swift-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: url, withIntermediateDirectories: true)
        addTeardownBlock { try? FileManager.default.removeItem(at: url) }
        return url.path
    }

    func testACorruptSecretsFileIsMovedAsideAndReportedToTheHost() async throws {
        let dir = try temporaryDirectory()
        try addServer(try ServerManager.withFiles(directory: dir))
        XCTAssertTrue(try ServerManager.withFiles(directory: dir).restoreReport().isClean)
        try Data("{\"format\":1,\"entries\":".utf8).write(to: URL(fileURLWithPath: dir + "/secrets.json"))

        let report = try ServerManager.withFiles(directory: dir).restoreReport()
        XCTAssertFalse(report.isClean)
        XCTAssertEqual(report.restored, 1)
        guard case let .movedAside(file, movedTo, detail) = report.notices.first, report.notices.count == 1 else {
            return XCTFail("expected one file moved aside: \(report.notices)")
        }
        XCTAssertTrue(file.hasSuffix("secrets.json") && !detail.isEmpty)
        XCTAssertTrue(FileManager.default.fileExists(atPath: movedTo), "its content is kept at \(movedTo)")
    }

    func testARemovedServersSessionAnswersUnknownServerAndHoldsNothing() async throws {
        let manager = try managerWithNotes()
        let session = try manager.session(alias: "notes")
        try manager.removeServer(alias: "notes")
        XCTAssertTrue(session.isRemoved())
        XCTAssertEqual(session.state(), .noSession)
        XCTAssertNil(session.validAccessToken())
        XCTAssertFalse(session.persistencePending())
        await assertAuthError({ try await session.freshAccessToken() }, \.isUnknownServer)
        await assertAuthError({ try await session.refresh() }, \.isUnknownServer)
        assertAuthError(try session.signOutLocally(), \.isUnknownServer)
    }

    func testManagersSharingADirectoryFollowEachOtherWithoutACallback() async throws {
        let dir = try temporaryDirectory()
        let app = try ServerManager.withFiles(directory: dir)
        let widget = try ServerManager(options: ManagerOptions(directory: dir, lockDirectory: dir))
        let seen = widget.connectionRevision()
        try addServer(app)
        // Only reads of the revision, which never re-read the stores: the
        // widget's manager follows the change counter on its own.
        for _ in 0..<50 where widget.connectionRevision() == seen {
            try await Task.sleep(nanoseconds: 100_000_000)
        }
        XCTAssertGreaterThan(widget.connectionRevision(), seen, "followed within 5 s")
        XCTAssertEqual(widget.servers().map(\.alias), ["notes"])
    }
}
