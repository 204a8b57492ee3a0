// Scenario k without a provider: Swift classes implementing the generated
// SecretStore, KeyValueStore and LogSink protocols. The host's stores hold
// the server list; a failing store is AuthError.Storage and loses nothing;
// a LogSink filters by level and clearLogSink() stops it. (Python and Kotlin
// twins: test_host_stores.py, HostStoresTest.kt.)

import AuthStateKit
import Foundation
import XCTest

/// A host bug: an error that is not a StoreError.
private struct HostBug: Error {}

/// A SecretStore over a dictionary; throws `failure` while it is set.
final class DictSecrets: SecretStore, @unchecked Sendable {
    private let lock = NSLock()
    private var data: [String: String] = [:]
    private var failing: (any Error)?

    var values: [String: String] { lock.withLock { data } }
    var failure: (any Error)? {
        get { lock.withLock { failing } }
        set { lock.withLock { failing = newValue } }
    }

    func get(key: String) throws -> String? { try locked { data[key] } }
    func set(key: String, value: String) throws { try locked { data[key] = value } }
    func delete(key: String) throws { try locked { data[key] = nil } }
    func keys(prefix: String) throws -> [String] { try locked { data.keys.filter { $0.hasPrefix(prefix) }.sorted() } }

    private func locked<T>(_ body: () -> T) throws -> T {
        try lock.withLock {
            if let failing { throw failing }
            return body()
        }
    }
}

/// A KeyValueStore over a dictionary; throws `failure` while it is set.
final class DictValues: KeyValueStore, @unchecked Sendable {
    private let store = DictSecrets()

    var values: [String: String] { store.values }
    var failure: (any Error)? {
        get { store.failure }
        set { store.failure = newValue }
    }

    func get(key: String) throws -> String? { try store.get(key: key) }
    func set(key: String, value: String) throws { try store.set(key: key, value: value) }
    func delete(key: String) throws { try store.delete(key: key) }
    func keys(prefix: String) throws -> [String] { try store.keys(prefix: prefix) }
}

/// A LogSink that keeps every record.
final class ListSink: LogSink, @unchecked Sendable {
    private let lock = NSLock()
    private var kept: [LogRecord] = []

    var records: [LogRecord] { lock.withLock { kept } }

    func log(record: LogRecord) {
        lock.withLock { kept.append(record) }
    }

    func mentions(_ text: String) -> [LogRecord] {
        records.filter { $0.message.contains(text) || $0.target.contains(text) }
    }
}

// Sendable, for SwiftPM's generated test list in Swift 6 mode (Support.swift).
final class HostStoreTests: XCTestCase, @unchecked Sendable {
    override func tearDown() {
        clearLogSink()
        super.tearDown()
    }

    func testHostStoresHoldTheServerListAndNoSecretForASignedOutServer() throws {
        let (secrets, values) = (DictSecrets(), DictValues())
        let manager = try ServerManager(options: ManagerOptions(), secrets: secrets, values: values)
        try addServer(manager)
        XCTAssertTrue(secrets.values.isEmpty, "a signed-out server has no secrets")
        XCTAssertTrue(values.values.contains { $0.key.contains("notes") || $0.value.contains("notes") }, "\(values.values)")

        let again = try ServerManager(options: ManagerOptions(), secrets: secrets, values: values)
        XCTAssertEqual(again.servers().map(\.alias), ["notes"], "another manager over the same stores sees the server")
        XCTAssertEqual(try again.state(alias: "notes"), .noSession)
        try again.removeServer(alias: "notes")
        XCTAssertTrue(try ServerManager(options: ManagerOptions(), secrets: secrets, values: values).servers().isEmpty)
    }

    func testAFailingValueStoreIsStorageAndLosesNothing() throws {
        for failure: any Error in [StoreError.Unavailable(detail: "locked"), HostBug()] {
            let values = DictValues()
            let manager = try ServerManager(options: ManagerOptions(), values: values)
            try addServer(manager, alias: "a", url: "https://a.example")
            let revision = manager.connectionRevision()
            values.failure = failure
            assertAuthError(try addServer(manager, alias: "b", url: "https://b.example"), \.isStorage, "\(failure)")
            assertAuthError(try manager.drafts().save(serverAlias: "a", room: "room", text: "text"), \.isStorage, "\(failure)")
            assertAuthError(try ServerManager(options: ManagerOptions(), values: values), \.isStorage, "\(failure)")
            XCTAssertEqual(manager.servers().map(\.alias), ["a"])
            XCTAssertEqual(manager.connectionRevision(), revision, "a refused change publishes nothing")
            values.failure = nil
            try addServer(manager, alias: "b", url: "https://b.example")
            XCTAssertEqual(manager.servers().map(\.alias), ["a", "b"])
        }
    }

    func testTheLogSinkFiltersByLevelAndClearLogSinkStopsIt() throws {
        let sink = ListSink()
        let manager = try ServerManager.inMemory()
        try setLogSink(sink: sink, maxLevel: .warn)
        try addServer(manager, alias: "quiet-add", url: "https://a.example")
        XCTAssertTrue(sink.mentions("quiet-add").isEmpty, "an info record is below warn")
        let drafts = manager.drafts()
        let tooBig = String(repeating: "x", count: Int(drafts.maxBytes()) + 1)
        assertAuthError(try drafts.save(serverAlias: "quiet-add", room: "room", text: tooBig), \.isInvalidInput)
        let warned = sink.mentions("size cap")
        XCTAssertFalse(warned.isEmpty, "\(sink.records)")
        XCTAssertTrue(warned.allSatisfy { $0.level == .warn })
        XCTAssertTrue(sink.records.allSatisfy { $0.level == .warn || $0.level == .error }, "\(sink.records)")

        try setLogSink(sink: sink, maxLevel: .info)
        try addServer(manager, alias: "before-clear", url: "https://b.example")
        XCTAssertFalse(sink.mentions("before-clear").isEmpty, "records arrive synchronously on the calling thread")
        clearLogSink()
        try addServer(manager, alias: "after-clear", url: "https://c.example")
        XCTAssertTrue(sink.mentions("after-clear").isEmpty)
    }

    func testTheLogSinkGetsTheCoresRecordsAndNoneHoldsADraftOrAPassword() async throws {
        let sink = ListSink()
        try setLogSink(sink: sink, maxLevel: .trace)
        let manager = try managerWithNotes()
        try manager.drafts().save(serverAlias: "notes", room: "room", text: "draft-text-7c1f")
        do {
            _ = try await manager.signInWithPassword(alias: "notes", username: "alice", password: "password-9d2e")
            XCTFail("an OIDC server has no password sign-in")
        } catch let error as AuthError {
            XCTAssertTrue(error.isInvalidInput, "\(error)")
        }
        XCTAssertFalse(sink.mentions("server added").isEmpty, "\(sink.records)")
        XCTAssertTrue(sink.records.contains { $0.level == .info && $0.target.hasPrefix("authstate") })
        for secret in ["draft-text-7c1f", "password-9d2e"] {
            XCTAssertTrue(sink.mentions(secret).isEmpty, "\(secret) leaked into the log")
        }
    }
}
