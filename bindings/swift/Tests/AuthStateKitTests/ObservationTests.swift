// Observation without callbacks: `changed(afterRevision:)`, the AsyncStreams
// over it, AuthModel, and many concurrent async calls.

import AuthStateKit
import Foundation
import Observation
import XCTest

final class ObservationTests: XCTestCase {
    func testChangedResolvesOnceTheRevisionPasses() async throws {
        let manager = try ServerManager.inMemory()
        let start = manager.connectionRevision()
        let waiting = Task { await manager.changed(afterRevision: start) }
        try addServer(manager)
        let revision = await waiting.value
        XCTAssertGreaterThan(revision, start)
        XCTAssertEqual(revision, manager.connectionRevision())
    }

    func testRevisionsYieldEachChange() async throws {
        let manager = try ServerManager.inMemory()
        let start = manager.connectionRevision()
        var revisions = manager.revisions().makeAsyncIterator()
        try addServer(manager, alias: "a", url: "https://a.example")
        let first = await revisions.next()
        try addServer(manager, alias: "b", url: "https://b.example")
        let second = await revisions.next()
        XCTAssertGreaterThan(try XCTUnwrap(first), start)
        XCTAssertGreaterThan(try XCTUnwrap(second), try XCTUnwrap(first))
    }

    func testARevisionStreamEndsWhenItsConsumerIsCancelled() async throws {
        let manager = try ServerManager.inMemory()
        let consumer = Task {
            for await _ in manager.revisions() {}
            return true
        }
        consumer.cancel()
        let ended = await consumer.value
        XCTAssertTrue(ended)
    }

    func testStatesStartWithTheCurrentStateAndEndWhenTheServerGoes() async throws {
        let manager = try managerWithNotes()
        var states = manager.states(alias: "notes").makeAsyncIterator()
        let first = await states.next()
        XCTAssertEqual(first, .noSession)
        try addServer(manager, alias: "other", url: "https://other.example") // not a change of `notes`
        try manager.removeServer(alias: "notes")
        let after = await states.next()
        XCTAssertNil(after, "the stream ends when the server is removed")
    }

    func testAHundredConcurrentAsyncCalls() async throws {
        let manager = try managerWithNotes()
        let session = try manager.session(alias: "notes")
        let start = manager.connectionRevision()
        let revisions = await withTaskGroup(of: UInt64.self) { group in
            for _ in 0..<100 {
                group.addTask { await manager.changed(afterRevision: start) }
            }
            _ = try? addServer(manager, alias: "b", url: "https://b.example")
            var all: [UInt64] = []
            for await revision in group { all.append(revision) }
            return all
        }
        XCTAssertEqual(revisions.count, 100)
        XCTAssertTrue(revisions.allSatisfy { $0 > start })
        let refusals = await withTaskGroup(of: Bool.self) { group in
            for _ in 0..<100 {
                group.addTask {
                    do {
                        _ = try await session.freshAccessToken()
                        return false
                    } catch let error as AuthError {
                        return error.isSignInRequired
                    } catch {
                        return false
                    }
                }
            }
            var all: [Bool] = []
            for await refused in group { all.append(refused) }
            return all
        }
        XCTAssertEqual(refusals, Array(repeating: true, count: 100))
    }

    @MainActor
    func testTheModelFollowsTheManager() async throws {
        let manager = try ServerManager.inMemory()
        let model = AuthModel(manager: manager)
        XCTAssertEqual(model.servers, [])
        XCTAssertFalse(model.anyAuthenticated)
        model.start()
        defer { model.stop() }
        XCTAssertTrue(model.isRunning)
        try addServer(manager)
        let deadline = Date().addingTimeInterval(10)
        while model.servers.isEmpty, Date() < deadline {
            try await Task.sleep(nanoseconds: 10_000_000)
        }
        XCTAssertEqual(model.servers.map(\.alias), ["notes"])
        XCTAssertEqual(model.state(of: "notes"), .noSession)
        XCTAssertEqual(model.revision, manager.connectionRevision())
        XCTAssertFalse(model.anyAuthenticated)
    }

    @MainActor
    func testTheModelIsObservable() async throws {
        let manager = try ServerManager.inMemory()
        let model = AuthModel(manager: manager)
        let changed = Flag()
        withObservationTracking {
            _ = model.servers
        } onChange: {
            changed.set()
        }
        try addServer(manager)
        model.reload()
        XCTAssertTrue(changed.value, "reading servers registers an observation")
    }

    @MainActor
    func testRunEndsWhenItsTaskIsCancelled() async throws {
        let manager = try ServerManager.inMemory()
        let model = AuthModel(manager: manager)
        let running = Task { await model.run() }
        running.cancel()
        await running.value
    }
}

/// A flag an observation callback may set from any thread.
final class Flag: @unchecked Sendable {
    private let lock = NSLock()
    private var raised = false

    var value: Bool {
        lock.lock()
        defer { lock.unlock() }
        return raised
    }

    func set() {
        lock.lock()
        raised = true
        lock.unlock()
    }
}
