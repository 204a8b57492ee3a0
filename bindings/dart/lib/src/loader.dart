/// Finding the native library the generated bindings call.
library;

import 'dart:ffi' as ffi;
import 'dart:io' show Platform;

import 'authstate_ffi.dart' show configureDefaultBindings;

/// The environment variable naming the library's path (tests, desktop).
const authStateLibraryVariable = 'AUTHSTATE_FFI_LIBRARY';

/// The platform's file name for the native library.
String get authStateLibraryName {
  if (Platform.isWindows) return 'authstate_ffi.dll';
  if (Platform.isMacOS || Platform.isIOS) return 'libauthstate_ffi.dylib';
  return 'libauthstate_ffi.so';
}

/// Points the generated bindings at the native library. Call it once, before
/// anything else from this package.
///
/// The library is [path] if given, else `$AUTHSTATE_FFI_LIBRARY`; without
/// either, on iOS it is the app itself (the library is linked statically), and
/// elsewhere [authStateLibraryName], found by the system loader (the Flutter
/// bundle, `LD_LIBRARY_PATH`). The generated default, a bare
/// `authstate_ffi`, is not a file name any platform's loader accepts.
void loadAuthState({String? path}) {
  final chosen = path ?? Platform.environment[authStateLibraryVariable];
  if (chosen == null && Platform.isIOS) {
    configureDefaultBindings(dynamicLibrary: ffi.DynamicLibrary.process());
  } else {
    configureDefaultBindings(libraryPath: chosen ?? authStateLibraryName);
  }
}
