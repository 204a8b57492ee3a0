// Shared helpers: a manager with one server, and typed-error assertions that
// match the error's case whatever its payload.
//
// Swift 6 language mode and SwiftPM's generated test list (Linux): every
// test class is `@unchecked Sendable` (none holds mutable state), since the
// list passes each class across isolation domains; and a class whose tests
// would all be synchronous declares them `async`, since for such a class the
// list's `nonisolated(unsafe)` draws a warning ("unnecessary"), which
// `cargo xtask test` builds as an error.

import AuthStateKit
import XCTest

let notesURL = "https://notes.example.com"

/// Adds an OpenID Connect server (signed out) with test settings.
@discardableResult
func addServer(_ manager: ServerManager, alias: String = "notes", url: String = notesURL) throws -> ServerInfo {
    try manager.addOidcServer(
        url: url,
        issuer: "https://id.example.com",
        clientId: "app",
        redirectUri: "com.example.app:/callback",
        alias: alias
    )
}

/// A memory-backed manager holding the server `notes`.
func managerWithNotes() throws -> ServerManager {
    let manager = try ServerManager.inMemory()
    try addServer(manager)
    return manager
}

extension AuthError {
    var isInvalidInput: Bool { if case .InvalidInput = self { return true }; return false }
    var isAlreadyExists: Bool { if case .AlreadyExists = self { return true }; return false }
    var isUnknownServer: Bool { if case .UnknownServer = self { return true }; return false }
    var isSignInRequired: Bool { if case .SignInRequired = self { return true }; return false }
    var isSignInFailed: Bool { if case .SignInFailed = self { return true }; return false }
    var isStorage: Bool { if case .Storage = self { return true }; return false }
    var isConfiguration: Bool { if case .Configuration = self { return true }; return false }
}

/// Asserts that the async `call` throws an `AuthError` for which `kind` holds.
func assertAuthError<T>(
    _ call: () async throws -> T,
    _ kind: (AuthError) -> Bool,
    _ message: @autoclosure () -> String = "",
    file: StaticString = #filePath,
    line: UInt = #line
) async {
    do {
        let value = try await call()
        XCTFail("expected an AuthError, got \(value) \(message())", file: file, line: line)
    } catch let error as AuthError {
        XCTAssertTrue(kind(error), "unexpected error \(error) \(message())", file: file, line: line)
    } catch {
        XCTFail("not an AuthError: \(error) \(message())", file: file, line: line)
    }
}

/// Asserts that `expression` throws an `AuthError` for which `kind` holds.
func assertAuthError<T>(
    _ expression: @autoclosure () throws -> T,
    _ kind: (AuthError) -> Bool,
    _ message: @autoclosure () -> String = "",
    file: StaticString = #filePath,
    line: UInt = #line
) {
    XCTAssertThrowsError(try expression(), message(), file: file, line: line) { error in
        guard let error = error as? AuthError, kind(error) else {
            return XCTFail("unexpected error \(error) \(message())", file: file, line: line)
        }
    }
}
