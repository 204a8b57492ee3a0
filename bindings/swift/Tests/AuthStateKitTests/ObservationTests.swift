// Observation without callbacks: `changed(afterRevision:)`, the AsyncStreams
// over it, AuthModel, and many concurrent async calls.

import AuthStateKit
import Foundation
import Observation
import XCTest

// Sendable, for SwiftPM's generated test list in Swift 6 mode (Support.swift).
final class ObservationTests: XCTestCase, @unchecked Sendable {
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
        await until(model) { !$0.servers.isEmpty }
        XCTAssertEqual(model.servers.map(\.alias), ["notes"])
        XCTAssertEqual(model.state(of: "notes"), .noSession)
        XCTAssertEqual(model.revision, manager.connectionRevision())
        XCTAssertFalse(model.anyAuthenticated)
    }

    func testChangedAfterAPassedRevisionResolvesAtOnce() async throws {
        let manager = try ServerManager.inMemory()
        let start = manager.connectionRevision()
        try addServer(manager)
        let current = manager.connectionRevision()
        let resolved = await manager.changed(afterRevision: start)
        XCTAssertEqual(resolved, current)
        let fromZero = await manager.changed(afterRevision: 0)
        XCTAssertEqual(fromZero, current)
    }

    func testRevisionsAfterAnOlderRevisionYieldAtOnce() async throws {
        let manager = try ServerManager.inMemory()
        let start = manager.connectionRevision()
        try addServer(manager)
        var revisions = manager.revisions(after: start).makeAsyncIterator()
        let first = await revisions.next()
        XCTAssertEqual(first, manager.connectionRevision())
    }

    func testRevisionsCoalesceABurstIntoTheLatest() async throws {
        let manager = try ServerManager.inMemory()
        var revisions = manager.revisions().makeAsyncIterator()
        for name in ["a", "b", "c", "d", "e"] {
            try addServer(manager, alias: name, url: "https://\(name).example")
        }
        let latest = manager.connectionRevision()
        var seen: [UInt64] = []
        while seen.last != latest, let revision = await revisions.next() {
            XCTAssertGreaterThan(revision, seen.last ?? 0, "strictly increasing")
            seen.append(revision)
        }
        XCTAssertEqual(seen.last, latest)
        XCTAssertLessThanOrEqual(seen.count, 5, "at most one per change, the newest kept")
    }

    func testStatesOfAnUnknownServerEndAtOnce() async throws {
        let manager = try managerWithNotes()
        var states = manager.states(alias: "ghost").makeAsyncIterator()
        let first = await states.next()
        XCTAssertNil(first)
    }

    @MainActor
    func testTheModelFollowsARemovalAndStopsWhenAsked() async throws {
        let manager = try managerWithNotes()
        let model = AuthModel(manager: manager)
        XCTAssertEqual(model.servers.map(\.alias), ["notes"], "read once at creation")
        model.start()
        try manager.removeServer(alias: "notes")
        await until(model) { $0.servers.isEmpty }
        XCTAssertNil(model.states["notes"])
        XCTAssertEqual(model.state(of: "notes"), .noSession, "an unknown alias reads as noSession")
        model.stop()
        XCTAssertFalse(model.isRunning)
        try addServer(manager)
        model.reload()
        XCTAssertEqual(model.servers.map(\.alias), ["notes"])
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

/// Returns once `condition` holds for `model`, waiting for the model's own
/// changes (observation, not polling): the condition is read and the next
/// change watched in one main-actor turn, so no change is missed.
@MainActor
func until(_ model: AuthModel, _ condition: (AuthModel) -> Bool) async {
    while !condition(model) {
        await withCheckedContinuation { (changed: CheckedContinuation<Void, Never>) in
            withObservationTracking {
                _ = model.revision
                _ = model.servers
                _ = model.states
                _ = model.anyAuthenticated
            } onChange: {
                changed.resume()
            }
        }
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
