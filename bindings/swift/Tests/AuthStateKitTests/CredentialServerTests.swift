// TokenPair and OpaqueToken servers without a network: the layout
// functions, bad settings as InvalidInput, and account calls that cannot
// apply as typed errors. (Python and Kotlin run the same scenarios against
// the real Django server: test_credentials.py, CredentialsTest.kt.)

import AuthStateKit
import XCTest

// Sendable, for SwiftPM's generated test list in Swift 6 mode (Support.swift).
final class CredentialServerTests: XCTestCase, @unchecked Sendable {
    func testCredentialServersAreAddedWithTheLayoutFunctions() throws {
        let manager = try ServerManager.inMemory()
        let jwt = try manager.addTokenPairServer(
            url: "https://api.example.com", settings: simplejwtSettings(prefix: "api/token/"), alias: "api")
        XCTAssertEqual(jwt.provider, .tokenPair)
        var bearer = simplejwtSettings(prefix: "api/token/")
        bearer.refreshShape = .bearerHeader
        XCTAssertEqual(try manager.addTokenPairServer(url: "https://b.example.com", settings: bearer, alias: "b").provider, .tokenPair)
        let notes = try manager.addOpaqueTokenServer(
            url: "https://notes.example.com", settings: deviceTokenSettings(prefix: "api/v1/auth/"), alias: "notes")
        XCTAssertEqual(notes.provider, .opaqueToken)
        XCTAssertEqual(deviceTokenSettings(prefix: "api/v1/auth/").probePath, "api/v1/auth/session/")
        XCTAssertNil(try manager.session(alias: "notes").deviceSummary())
    }

    func testBadSettingsAreInvalidInput() throws {
        let manager = try ServerManager.inMemory()
        for path in ["", "/absolute/", "https://evil.example/token", "../up", String(repeating: "x", count: 1_000_000)] {
            let settings = TokenPairSettings(loginPath: path, refreshPath: "r/", logoutPath: nil)
            assertAuthError(try manager.addTokenPairServer(url: "https://x.example", settings: settings), \.isInvalidInput)
        }
        var opaque = deviceTokenSettings(prefix: "api/v1/auth/")
        opaque.sessionsPath = "/absolute/"
        assertAuthError(try manager.addOpaqueTokenServer(url: "https://x.example", settings: opaque), \.isInvalidInput)
        XCTAssertTrue(manager.servers().isEmpty)
    }

    func testAccountCallsThatCannotApplyAreTyped() async throws {
        let manager = try managerWithNotes() // an OIDC server
        _ = try manager.addOpaqueTokenServer(
            url: "https://devices.example.com", settings: deviceTokenSettings(prefix: "api/v1/auth/"), alias: "devices")
        for call in [
            { try await manager.deviceSessions(alias: "notes") },
            { try await manager.deviceSessions(alias: "devices") },
        ] as [() async throws -> [DeviceSession]] {
            do {
                _ = try await call()
                XCTFail("no device sessions for an OIDC server or a signed-out one")
            } catch let error as AuthError {
                XCTAssertTrue(error.isInvalidInput || error.isSignInRequired, "\(error)")
            }
        }
        do {
            _ = try await manager.signInWithPassword(alias: "notes", username: "alice", password: "x")
            XCTFail("an OIDC server has no password sign-in")
        } catch let error as AuthError {
            XCTAssertTrue(error.isInvalidInput, "\(error)")
        }
    }
}
