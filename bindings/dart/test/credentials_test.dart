// TokenPair and OpaqueToken servers without a network: the layout
// functions, bad settings as InvalidInput, and account calls that cannot
// apply as typed errors. (Python and Kotlin run the same scenarios against
// the real Django server: test_credentials.py, CredentialsTest.kt.)

import 'package:authstate/authstate.dart';
import 'package:test/test.dart';

import 'support.dart';

void main() {
  setUpAll(loadForTests);

  test('credential servers are added with the layout functions', () {
    final manager = ServerManager.inMemory();
    final jwt = manager.addTokenPairServer(
        url: 'https://api.example.com', settings: simplejwtSettings('api/token/'), alias: 'api');
    expect(jwt.provider, ProviderKind.tokenPair);
    final bearer = simplejwtSettings('api/token/').copyWith(refreshShape: const RefreshShapeBearerHeader());
    expect(manager.addTokenPairServer(url: 'https://b.example.com', settings: bearer, alias: 'b').provider,
        ProviderKind.tokenPair);
    final notes = manager.addOpaqueTokenServer(
        url: 'https://notes.example.com', settings: deviceTokenSettings('api/v1/auth/'), alias: 'notes');
    expect(notes.provider, ProviderKind.opaqueToken);
    expect(deviceTokenSettings('api/v1/auth/').probePath, 'api/v1/auth/session/');
    expect(manager.session('notes').deviceSummary(), isNull);
  });

  test('bad settings are InvalidInput', () {
    final manager = ServerManager.inMemory();
    for (final path in ['', '/absolute/', 'https://evil.example/token', '../up', 'x' * 1000000]) {
      final settings = TokenPairSettings(loginPath: path, refreshPath: 'r/', logoutPath: null);
      expect(() => manager.addTokenPairServer(url: 'https://x.example', settings: settings),
          throwsAuthError<AuthErrorExceptionInvalidInput>());
    }
    final opaque = deviceTokenSettings('api/v1/auth/').copyWith(sessionsPath: '/absolute/');
    expect(() => manager.addOpaqueTokenServer(url: 'https://x.example', settings: opaque),
        throwsAuthError<AuthErrorExceptionInvalidInput>());
    expect(manager.servers(), isEmpty);
  });

  test('account calls that cannot apply are typed', () async {
    final manager = managerWithNotes(); // an OIDC server
    manager.addOpaqueTokenServer(
        url: 'https://devices.example.com', settings: deviceTokenSettings('api/v1/auth/'), alias: 'devices');
    await expectLater(manager.deviceSessions('notes'), throwsAuthError<AuthErrorExceptionInvalidInput>());
    await expectLater(manager.deviceSessions('devices'), throwsAuthError<AuthErrorExceptionSignInRequired>());
    await expectLater(manager.signInWithPassword(alias: 'notes', username: 'alice', password: 'x'),
        throwsAuthError<AuthErrorExceptionInvalidInput>());
  });
}
