// Observation without callbacks: `changed(afterRevision:)`, the AsyncStreams
// over the core's watches (whose rules they must pass on unchanged), their
// release of native waits, AuthModel, and many concurrent async calls.

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

    func testRevisionsYieldTheCurrentRevisionThenEachChange() async throws {
        let manager = try ServerManager.inMemory()
        let start = manager.connectionRevision()
        var revisions = manager.revisions().makeAsyncIterator()
        let current = await revisions.next()
        XCTAssertEqual(current, start, "the current revision first")
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
        let released = await manager.released()
        XCTAssertTrue(released, "a cancelled stream left \(manager.pendingWaits()) native waits")
    }

    func testStatesStartWithTheCurrentState() async throws {
        let manager = try managerWithNotes()
        try addServer(manager, alias: "other", url: "https://other.example")
        var states = try manager.states(alias: "notes").makeAsyncIterator()
        let first = await states.next()
        XCTAssertEqual(first, try manager.state(alias: "notes"), "the current state first")
        XCTAssertEqual(first, .noSession)
    }

    func testAnotherServersChangesAreSilentOnAStateStream() async throws {
        let manager = try managerWithNotes()
        let seen = Recorder<SessionState>()
        let stream = try manager.states(alias: "notes")
        let consumer = Task {
            for await state in stream { seen.append(state) }
        }
        // The first emission is in, and the stream's native wait is pending:
        // the changes below reach a waiting watch.
        let waiting = await eventually { seen.values == [.noSession] && manager.pendingWaits() == 1 }
        XCTAssertTrue(waiting, "first \(seen.values), pending waits \(manager.pendingWaits())")
        let before = manager.connectionRevision()
        try addServer(manager, alias: "b", url: "https://b.example")
        try manager.drafts().save(serverAlias: "b", room: "1", text: "not a state")
        try manager.removeServer(alias: "b")
        XCTAssertGreaterThan(manager.connectionRevision(), before, "server b changed the revision")
        try await Task.sleep(nanoseconds: 300_000_000) // time for a (wrong) emission to arrive
        XCTAssertEqual(seen.values, [.noSession], "server b's changes yield nothing on notes' stream")
        try manager.removeServer(alias: "notes")
        await consumer.value
        XCTAssertEqual(seen.values, [.noSession], "nothing but the first state, whatever the timing")
    }

    func testRemovingTheServerFinishesItsStreamAfterNoSession() async throws {
        let manager = try managerWithNotes()
        let stream = try manager.states(alias: "notes")
        let consumer = Task {
            var all: [SessionState] = []
            for await state in stream { all.append(state) }
            return all
        }
        let waiting = await eventually { manager.pendingWaits() == 1 }
        XCTAssertTrue(waiting, "the stream waits for a change after its first state")
        try manager.removeServer(alias: "notes")
        let all = await consumer.value
        XCTAssertEqual(all, [.noSession], "one noSession (already the last state), then the end")
        let released = await eventually { manager.pendingWaits() == 0 }
        XCTAssertTrue(released, "pending waits: \(manager.pendingWaits())")
        assertAuthError(try manager.states(alias: "notes"), \.isUnknownServer, "the server is gone")
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
        XCTAssertNil(model.state(of: "ghost"), "an unknown alias has no state")
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

    func testRevisionsStartWithTheCurrentRevision() async throws {
        let manager = try ServerManager.inMemory()
        let start = manager.connectionRevision()
        try addServer(manager)
        let current = manager.connectionRevision()
        XCTAssertGreaterThan(current, start)
        var revisions = manager.revisions().makeAsyncIterator()
        let first = await revisions.next()
        XCTAssertEqual(first, current, "the current revision at once, not the next change")
    }

    func testRevisionsCoalesceABurstIntoTheLatest() async throws {
        let manager = try ServerManager.inMemory()
        var revisions = manager.revisions().makeAsyncIterator()
        let current = await revisions.next()
        let start = try XCTUnwrap(current)
        XCTAssertEqual(start, manager.connectionRevision())
        for name in ["a", "b", "c", "d", "e"] {
            try addServer(manager, alias: name, url: "https://\(name).example")
        }
        let latest = manager.connectionRevision()
        var seen: [UInt64] = []
        while seen.last != latest, let revision = await revisions.next() {
            XCTAssertGreaterThan(revision, seen.last ?? start, "strictly increasing")
            seen.append(revision)
        }
        XCTAssertEqual(seen.last, latest)
        XCTAssertLessThanOrEqual(seen.count, 5, "at most one per change, the newest kept")
    }

    func testStatesOfAnUnknownServerThrowUnknownServerAtSubscription() async throws {
        let manager = try managerWithNotes()
        assertAuthError(try manager.states(alias: "ghost"), \.isUnknownServer)
        assertAuthError(try manager.states(alias: ""), \.isUnknownServer)
        XCTAssertEqual(manager.pendingWaits(), 0, "no watch was left behind")
    }

    func testCancellingAThousandStreamsOfEachKindLeavesNoPendingNativeWait() async throws {
        let manager = try managerWithNotes()
        let count = 1000
        var consumers: [Task<Int, Never>] = []
        for _ in 0..<count {
            let states = try manager.states(alias: "notes")
            let revisions = manager.revisions()
            consumers.append(Task {
                var received = 0
                for await _ in states { received += 1 }
                return received
            })
            consumers.append(Task {
                var received = 0
                for await _ in revisions { received += 1 }
                return received
            })
        }
        // Started: every stream yielded its first value and waits natively
        // for a change.
        let started = await eventually(within: 20) { manager.pendingWaits() == UInt64(2 * count) }
        XCTAssertTrue(started, "pending native waits before cancelling: \(manager.pendingWaits())")
        for consumer in consumers { consumer.cancel() }
        for consumer in consumers {
            let received = await consumer.value
            XCTAssertLessThanOrEqual(received, 1, "no change happened: at most the first value")
        }
        let released = await eventually { manager.pendingWaits() == 0 }
        print("swift: \(count) cancelled streams, pending native waits: \(manager.pendingWaits())")
        XCTAssertTrue(released, "cancelled streams left \(manager.pendingWaits()) native waits")
        XCTAssertEqual(manager.pendingWaits(), 0)
    }

    func testBreakingOutOfAStreamLoopReleasesItsNativeWait() async throws {
        let manager = try managerWithNotes()
        for await state in try manager.states(alias: "notes") {
            XCTAssertEqual(state, .noSession)
            break
        }
        for await revision in manager.revisions() {
            XCTAssertEqual(revision, manager.connectionRevision())
            break
        }
        let released = await eventually { manager.pendingWaits() == 0 }
        XCTAssertTrue(released, "released streams left \(manager.pendingWaits()) native waits")
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
        XCTAssertNil(model.state(of: "notes"), "a removed server has no state")
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

    @MainActor
    func testRunReloadsAtOnceThenFollowsUntilCancelled() async throws {
        let manager = try ServerManager.inMemory()
        let model = AuthModel(manager: manager)
        try addServer(manager) // after the model's first read
        XCTAssertEqual(model.servers, [], "not yet reloaded")
        let running = Task { await model.run() }
        await until(model) { !$0.servers.isEmpty } // the first revision reloads
        XCTAssertEqual(model.revision, manager.connectionRevision())
        try manager.removeServer(alias: "notes")
        await until(model) { $0.servers.isEmpty }
        XCTAssertNil(model.state(of: "notes"))
        running.cancel()
        await running.value
        let released = await manager.released()
        XCTAssertTrue(released, "a cancelled run() left \(manager.pendingWaits()) native waits")
    }
}

extension ServerManager {
    /// Whether every native observation wait is released within 5 s.
    func released() async -> Bool {
        await eventually { self.pendingWaits() == 0 }
    }
}

/// Whether `condition` holds within `seconds`, checked every millisecond:
/// a bounded wait for what the core does asynchronously.
func eventually(within seconds: Int = 5, _ condition: () -> Bool) async -> Bool {
    let deadline = ContinuousClock.now + .seconds(seconds)
    while !condition() {
        guard ContinuousClock.now < deadline else { return false }
        try? await Task.sleep(nanoseconds: 1_000_000)
    }
    return true
}

/// The values a stream's consumer received so far, readable from any task.
final class Recorder<Value: Sendable>: @unchecked Sendable {
    private let lock = NSLock()
    private var kept: [Value] = []

    var values: [Value] { lock.withLock { kept } }

    func append(_ value: Value) {
        lock.withLock { kept.append(value) }
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
