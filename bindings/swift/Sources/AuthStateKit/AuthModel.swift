// Authentication state for SwiftUI: an @Observable snapshot of a
// ServerManager, kept current by a loop over its revisions.

import AuthState
import Observation

/// What a SwiftUI app shows about authentication: the connection revision,
/// whether any server is signed in, every server and its state. Views read
/// it like any `@Observable` model; it changes only on the main actor.
///
/// Keep it current for as long as a view is on screen with
/// `.task { await model.run() }`, or call `start()` and `stop()`.
@MainActor
@Observable
public final class AuthModel {
    /// The manager this model reflects.
    public let manager: ServerManager
    /// The manager's connection revision when the model last read it.
    public private(set) var revision: UInt64 = 0
    /// Whether any server is `active`.
    public private(set) var anyAuthenticated: Bool = false
    /// Every server, by alias.
    public private(set) var servers: [ServerInfo] = []
    /// The state of each server, by alias.
    public private(set) var states: [String: SessionState] = [:]

    @ObservationIgnored private var task: Task<Void, Never>?

    /// A model of `manager`, read once now.
    public init(manager: ServerManager) {
        self.manager = manager
        reload()
    }

    /// The state of server `alias` when the model last read it; `nil` when
    /// no server is called `alias` (an unknown server is not signed out: it
    /// does not exist).
    public func state(of alias: String) -> SessionState? {
        states[alias]
    }

    /// Whether `start()` was called and `stop()` was not.
    public var isRunning: Bool { task != nil }

    /// Keeps the model current until the calling task is cancelled, as
    /// SwiftUI's `.task` modifier does when the view goes away: reloads at
    /// once (the revisions' first emission is the current revision), then at
    /// each new revision. Cancelling the task releases the native wait.
    public func run() async {
        for await _ in manager.revisions() {
            reload()
        }
    }

    /// Keeps the model current in a task of its own until `stop()`: reloads
    /// at once, then at each new revision. The task holds the model weakly:
    /// a released model stops at the next revision.
    public func start() {
        guard task == nil else { return }
        let revisions = manager.revisions()
        task = Task { [weak self] in
            for await _ in revisions {
                guard let self else { return }
                self.reload()
            }
        }
    }

    /// Stops the task `start()` began, releasing its native wait; the model
    /// keeps its last values.
    public func stop() {
        task?.cancel()
        task = nil
    }

    /// Reads everything again from the manager's synchronous getters (which
    /// never block), assigning only what changed so views redraw only then.
    public func reload() {
        let revision = manager.connectionRevision() // first: a later change is not missed
        let servers = manager.servers()
        var states: [String: SessionState] = [:]
        for server in servers {
            states[server.alias] = try? manager.state(alias: server.alias)
        }
        let anyAuthenticated = manager.anyAuthenticated()
        if self.revision != revision { self.revision = revision }
        if self.servers != servers { self.servers = servers }
        if self.states != states { self.states = states }
        if self.anyAuthenticated != anyAuthenticated { self.anyAuthenticated = anyAuthenticated }
    }
}
