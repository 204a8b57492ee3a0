// Observation without callbacks: each stream is a loop over the core's
// `changed(afterRevision:)`, which resolves once the connection revision
// passes the one given (DESIGN.md "Across the FFI").

@_exported import AuthState

extension ServerManager {
    /// Every new connection revision after `start` (default: the current
    /// one), each greater than the last. A slow consumer gets the newest
    /// revision only: a revision says "something changed", not what.
    ///
    /// The stream ends when its consumer stops iterating. The generated async
    /// call cannot be cancelled from Swift, so the last wait is released at
    /// the next revision.
    public func revisions(after start: UInt64? = nil) -> AsyncStream<UInt64> {
        let start = start ?? connectionRevision()
        return AsyncStream(bufferingPolicy: .bufferingNewest(1)) { continuation in
            let task = Task {
                var seen = start
                while !Task.isCancelled {
                    seen = await self.changed(afterRevision: seen)
                    continuation.yield(seen)
                }
                continuation.finish()
            }
            continuation.onTermination = { _ in task.cancel() }
        }
    }

    /// The state of server `alias` now, then each time it changes. A new
    /// remaining token life alone is not a change. The stream ends when the
    /// server is removed (or was never added).
    public func states(alias: String) -> AsyncStream<SessionState> {
        let start = connectionRevision()
        return AsyncStream(bufferingPolicy: .bufferingNewest(1)) { continuation in
            let task = Task {
                var seen = start
                var last: SessionState?
                while !Task.isCancelled, let state = try? self.state(alias: alias) {
                    if last.map({ !$0.isSameState(as: state) }) ?? true {
                        continuation.yield(state)
                        last = state
                    }
                    seen = await self.changed(afterRevision: seen)
                }
                continuation.finish()
            }
            continuation.onTermination = { _ in task.cancel() }
        }
    }
}

extension SessionState {
    /// Whether `other` is the same state: the same case and expiry reason,
    /// whatever the remaining token life (which changes with time alone).
    func isSameState(as other: SessionState) -> Bool {
        switch (self, other) {
        case (.noSession, .noSession), (.active, .active):
            return true
        case let (.expired(reason), .expired(otherReason)):
            return reason == otherReason
        default:
            return false
        }
    }

    /// Whether the session is usable (DESIGN.md invariant 1: exactly `active`).
    public var isAuthenticated: Bool {
        if case .active = self { return true }
        return false
    }
}
