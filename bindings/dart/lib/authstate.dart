/// Client authentication state from the authstate Rust core: servers and
/// their sessions, route guards, drafts and sign-in, the same state machine
/// as on iOS and Android.
///
/// Call [loadAuthState] once, then use [ServerManager]. Observe it with
/// [revisions] and [states], or hand an [AuthListenable] to GoRouter's
/// `refreshListenable`.
library authstate;

// The generated bindings: lib/src/authstate_ffi.dart is a symbolic link to
// ../generated/authstate_ffi.dart, which `cargo xtask bindings` writes.
export 'src/authstate_ffi.dart';
export 'src/loader.dart';
export 'src/streams.dart';
