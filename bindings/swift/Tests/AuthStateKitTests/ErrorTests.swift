// Bad input is a typed AuthError, never a crash: garbage, empty and 1 MB
// inputs, unknown aliases, and tokens asked of a signed-out session.

import AuthStateKit
import XCTest

final class ErrorTests: XCTestCase {
    let megabyte = String(repeating: "x", count: 1_000_000)

    func testGarbageEmptyAndHugeInputsAreInvalidInput() throws {
        let manager = try ServerManager.inMemory()
        for url in ["", "not a url", "\u{0}\u{FFFF} garbage", "ftp://x.example", "http://public.example", megabyte] {
            assertAuthError(try addServer(manager, alias: "a", url: url), \.isInvalidInput, String(url.prefix(20)))
        }
        for alias in ["", "bad alias!", megabyte] {
            assertAuthError(try addServer(manager, alias: alias), \.isInvalidInput, String(alias.prefix(20)))
        }
        for path in ["", megabyte, "/" + megabyte] {
            assertAuthError(try validateReturnTo(path: path), \.isInvalidInput)
        }
        assertAuthError(try ServerManager.withFiles(directory: "   "), \.isInvalidInput)
        assertAuthError(try ManualClock(unixSecs: Int64.max), \.isInvalidInput)
        XCTAssertTrue(manager.servers().isEmpty, "nothing was added")
    }

    func testAnUnknownAliasIsUnknownServer() throws {
        let manager = try managerWithNotes()
        assertAuthError(try manager.state(alias: "nope"), \.isUnknownServer)
        assertAuthError(try manager.session(alias: "nope"), \.isUnknownServer)
        assertAuthError(try manager.removeServer(alias: "nope"), \.isUnknownServer)
        assertAuthError(try manager.drafts().save(serverAlias: "nope", room: "1", text: "x"), \.isUnknownServer)
    }

    func testASignedOutSessionGivesNoTokenButSignInRequired() async throws {
        let session = try managerWithNotes().session(alias: "notes")
        XCTAssertNil(session.validAccessToken())
        XCTAssertNil(session.tokenInfo())
        do {
            _ = try await session.freshAccessToken()
            XCTFail("a signed-out session must not give a token")
        } catch let error as AuthError {
            XCTAssertTrue(error.isSignInRequired, "\(error)")
        }
    }
}
