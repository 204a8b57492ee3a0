// swift-tools-version:6.0
//
// AuthState for Swift: the generated UniFFI bindings of the authstate Rust
// core plus AuthStateKit, a small idiomatic layer (AsyncStream, @Observable).
// Swift 6.0 or newer; every target builds in the Swift 6 language mode.
//
// The generated sources are build output: run `cargo xtask bindings` at the
// workspace root first. It writes generated/AuthState.swift and
// generated/authstateFFI.h (read through Sources/authstateFFI/module.modulemap)
// and builds the Rust library this package links against.
import PackageDescription

/// Where the Rust library is: `$AUTHSTATE_LIB_DIR`, else
/// `$CARGO_TARGET_DIR/release`, else the workspace's `target/release`.
let rustLibDir = Context.environment["AUTHSTATE_LIB_DIR"]
    ?? Context.environment["CARGO_TARGET_DIR"].map { $0 + "/release" }
    ?? Context.packageDirectory + "/../../target/release"

let package = Package(
    name: "AuthState",
    platforms: [.iOS(.v17), .macOS(.v14)],
    products: [
        .library(name: "AuthState", targets: ["AuthState", "AuthStateKit"]),
    ],
    targets: [
        // The C declarations of the Rust library; links `authstate_ffi`.
        .systemLibrary(name: "authstateFFI", path: "Sources/authstateFFI"),
        // The generated Swift bindings, compiled where the generator put them.
        .target(
            name: "AuthState",
            dependencies: ["authstateFFI"],
            path: "generated",
            exclude: ["authstateFFI.h", "authstateFFI.modulemap"],
            sources: ["AuthState.swift"],
            linkerSettings: [
                .unsafeFlags(["-L", rustLibDir, "-Xlinker", "-rpath", "-Xlinker", rustLibDir]),
            ]
        ),
        // The hand-written layer: streams over the core's watches, and AuthModel.
        .target(name: "AuthStateKit", dependencies: ["AuthState"], path: "Sources/AuthStateKit"),
        .testTarget(
            name: "AuthStateKitTests",
            dependencies: ["AuthStateKit", "AuthState"],
            path: "Tests/AuthStateKitTests"
        ),
    ]
)
