// Swift before 6.2 on Linux ships a libswiftObservation.so that references
// `swift::threading::fatal(char const*, ...)`, which no runtime library
// exports, so linking any executable that uses `@Observable` (AuthModel)
// fails with an undefined reference. AuthStateKit defines the symbol, so
// tests and Linux apps that link AuthStateKit link. The runtime calls it only
// to stop on a broken threading invariant: it stops, with the message.
// Swift 6.2 fixed the toolchain; there this file compiles to nothing.

#if os(Linux) && !compiler(>=6.2)
@_cdecl("_ZN5swift9threading5fatalEPKcz")
public func _authStateKitSwiftThreadingFatal(_ message: UnsafePointer<CChar>) -> Never {
    fatalError(String(cString: message))
}
#endif
