// Bad input is a typed error, never a crash: garbage, empty and 1 MB inputs,
// unknown aliases, and tokens asked of a signed-out session.

import 'package:authstate/authstate.dart';
import 'package:test/test.dart';

import 'support.dart';

void main() {
  setUpAll(loadForTests);
  final megabyte = 'x' * 1000000;

  test('garbage, empty and huge inputs are InvalidInput', () {
    final manager = ServerManager.inMemory();
    for (final url in ['', 'not a url', '\u0000\uFFFF garbage', 'ftp://x.example', 'http://public.example', megabyte]) {
      expect(() => addServer(manager, alias: 'a', url: url), throwsAuthError<AuthErrorExceptionInvalidInput>(),
          reason: url.length > 20 ? url.substring(0, 20) : url);
    }
    for (final alias in ['', 'bad alias!', megabyte]) {
      expect(() => addServer(manager, alias: alias), throwsAuthError<AuthErrorExceptionInvalidInput>());
    }
    for (final path in ['', megabyte, '/$megabyte']) {
      expect(() => validateReturnTo(path), throwsAuthError<AuthErrorExceptionInvalidInput>());
    }
    expect(() => ServerManager.withFiles('   '), throwsAuthError<AuthErrorExceptionInvalidInput>());
    expect(() => ManualClock.create(0x7fffffffffffffff), throwsAuthError<AuthErrorExceptionInvalidInput>());
    expect(manager.servers(), isEmpty, reason: 'nothing was added');
  });

  test('an unknown alias is UnknownServer', () {
    final manager = managerWithNotes();
    expect(() => manager.state('nope'), throwsAuthError<AuthErrorExceptionUnknownServer>());
    expect(() => manager.session('nope'), throwsAuthError<AuthErrorExceptionUnknownServer>());
    expect(() => manager.removeServer('nope'), throwsAuthError<AuthErrorExceptionUnknownServer>());
    expect(() => manager.drafts().save('nope', '1', 'x'), throwsAuthError<AuthErrorExceptionUnknownServer>());
  });

  test('a signed-out session gives no token but SignInRequired', () async {
    final session = managerWithNotes().session('notes');
    expect(session.validAccessToken(), isNull);
    expect(session.tokenInfo(), isNull);
    await expectLater(session.freshAccessToken(), throwsAuthError<AuthErrorExceptionSignInRequired>());
  });
}
