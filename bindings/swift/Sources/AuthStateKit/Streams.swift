// Observation without callbacks: each stream is a thin loop over one of the
// core's watches (`watchRevisions()`, `watchState(alias:)`), so its rules —
// what comes first, what counts as a change, what a removal does — are the
// core's, the same in Swift, Kotlin, Dart and Python. This file adds no rule
// of its own: it forwards every `next()` and cancels the watch when the
// stream ends.
//
// Why `cancel()` and not only `task.cancel()`: the generated async call
// ignores Swift task cancellation, so the watch's `cancel()` is what makes a
// pending native `next()` return `nil` at once and release its wait.

@_exported import AuthState

extension ServerManager {
    /// The manager's connection revision: the current one first, then the
    /// latest each time it moves, strictly increasing. A revision says
    /// "something changed", not what: read what you need from the manager.
    /// A consumer slower than the changes gets the newest revision, not a
    /// backlog (as the core's `RevisionWatch` coalesces a burst into its
    /// latest revision).
    ///
    /// The stream never ends on its own. It ends when its consumer's task is
    /// cancelled or the stream and its iterators are released (for example
    /// by breaking out of `for await`); either cancels the underlying
    /// `RevisionWatch`, which releases its pending native wait at once.
    public func revisions() -> AsyncStream<UInt64> {
        let watch = watchRevisions()
        return AsyncStream(bufferingPolicy: .bufferingNewest(1)) { continuation in
            let task = Task {
                while let revision = await watch.next() {
                    continuation.yield(revision)
                }
                continuation.finish()
            }
            continuation.onTermination = { _ in
                watch.cancel()
                task.cancel()
            }
        }
    }

    /// The state of server `alias`: the current state first, then each state
    /// that differs from the last one in case, expiry reason or provider. A
    /// refresh yields nothing, and neither does a change of another server.
    /// Every state the core's `StateWatch` emits is delivered, in order.
    ///
    /// The stream finishes when the server is removed, after one last
    /// `.noSession` if the last state it yielded was not `.noSession`. It
    /// also ends when its consumer's task is cancelled or the stream and its
    /// iterators are released; either cancels the underlying `StateWatch`,
    /// which releases its pending native wait at once.
    ///
    /// - Throws: `AuthError.UnknownServer` here, at subscription, when no
    ///   server is called `alias`.
    public func states(alias: String) throws -> AsyncStream<SessionState> {
        let watch = try watchState(alias: alias)
        return AsyncStream(bufferingPolicy: .unbounded) { continuation in
            let task = Task {
                while let observation = await watch.next() {
                    continuation.yield(observation.state)
                }
                continuation.finish()
            }
            continuation.onTermination = { _ in
                watch.cancel()
                task.cancel()
            }
        }
    }
}

extension SessionState {
    /// Whether the session is usable: exactly `.active`, whatever its
    /// provider.
    public var isAuthenticated: Bool {
        if case .active = self { return true }
        return false
    }
}
