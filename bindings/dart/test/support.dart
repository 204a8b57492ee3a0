// Shared test helpers: loading the library, a manager with one server, and
// typed-error matchers.

import 'dart:io';

import 'package:authstate/authstate.dart';
import 'package:test/test.dart';

const notesUrl = 'https://notes.example.com';

/// Loads the library `cargo xtask test` names in `$AUTHSTATE_FFI_LIBRARY`,
/// else the stripped copy `cargo xtask bindings` leaves in generated/.
void loadForTests() {
  final fromEnv = Platform.environment[authStateLibraryVariable];
  loadAuthState(path: fromEnv ?? 'generated/$authStateLibraryName');
}

/// Adds an OpenID Connect server (signed out) with test settings.
ServerInfo addServer(ServerManager manager, {String alias = 'notes', String url = notesUrl}) =>
    manager.addOidcServer(
      url: url,
      issuer: 'https://id.example.com',
      clientId: 'app',
      redirectUri: 'com.example.app:/callback',
      alias: alias,
    );

/// A memory-backed manager holding the server `notes`.
ServerManager managerWithNotes() {
  final manager = ServerManager.inMemory();
  addServer(manager);
  return manager;
}

/// The typed exception [T]. (`AuthError` carries a `detail` field rather
/// than being a flat error: uniffi-bindgen-dart 0.2.0 cannot decode a flat
/// error's message.)
Matcher isAuthError<T extends AuthErrorException>() => isA<T>();

/// Throws [isAuthError] of [T].
Matcher throwsAuthError<T extends AuthErrorException>() => throwsA(isAuthError<T>());
