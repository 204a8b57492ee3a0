// Shared helpers: a manager with one server, and typed-error assertions that
// match the error's case whatever its payload.

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
