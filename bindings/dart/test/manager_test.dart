// Servers, route guards, return paths and drafts through the generated
// bindings, against the real Rust library (no provider needed).

import 'dart:io';

import 'package:authstate/authstate.dart';
import 'package:test/test.dart';

import 'support.dart';

void main() {
  setUpAll(loadForTests);

  test('a new server is signed out', () {
    final manager = ServerManager.inMemory();
    final info = addServer(manager);
    expect(info.alias, 'notes');
    expect(info.url, 'https://notes.example.com/');
    expect(info.provider, ProviderKind.oidc);
    expect(manager.state('notes'), const SessionStateNoSession());
    expect(manager.anyAuthenticated(), isFalse);
    expect(manager.servers().map((s) => s.alias), ['notes']);
    expect(manager.session('notes').isAuthenticated(), isFalse);
  });

  test('a duplicate alias or server is AlreadyExists', () {
    final manager = managerWithNotes();
    expect(() => addServer(manager, url: 'https://other.example'),
        throwsAuthError<AuthErrorExceptionAlreadyExists>());
    expect(() => addServer(manager, alias: 'other'), throwsAuthError<AuthErrorExceptionAlreadyExists>());
    expect(manager.servers(), hasLength(1));
  });

  test('the guard redirects a signed-out server with returnTo', () {
    final manager = managerWithNotes();
    expect(manager.guard(location: '/about', isPublic: true), isA<GuardDecisionAllow>());
    expect(
      manager.guard(location: '/s/notes/inbox', serverAlias: 'notes'),
      isA<GuardDecisionRedirect>().having((d) => d.to, 'to', contains('returnTo=%2Fs%2Fnotes%2Finbox')),
    );
    expect(manager.guard(location: '/home'), const GuardDecisionRedirect(to: '/'));
  });

  test('PreAuthState refuses absolute return paths', () {
    for (final path in ['https://evil.example', '//evil.example', r'/\evil', 'javascript:alert(1)', '/%2F%2Fevil']) {
      expect(() => PreAuthState.create(notesUrl, ProviderKind.oidc, path),
          throwsAuthError<AuthErrorExceptionInvalidInput>(), reason: path);
      expect(() => validateReturnTo(path), throwsAuthError<AuthErrorExceptionInvalidInput>(), reason: path);
    }
    final attempt = PreAuthState.create(notesUrl, ProviderKind.oidc, '/rooms/42');
    expect(attempt.returnTo(), '/rooms/42');
    expect(attempt.serverUrl(), 'https://notes.example.com/');
    expect(attempt.pkceChallengeMethod(), 'S256');
    expect(attempt.pkceChallenge(), isNotEmpty);
    expect(validateReturnTo('/rooms/42?tab=1'), '/rooms/42?tab=1');
  });

  test('drafts expire after 24 hours', () {
    final clock = ManualClock.create(1700000000);
    final manager = ServerManager.create(options: const ManagerOptions(), clock: clock);
    addServer(manager);
    final drafts = manager.drafts();
    drafts.save('notes', '42', 'half a thought');
    clock.advanceSecs(24 * 3600 - 1);
    expect(drafts.peek('notes', '42'), 'half a thought');
    clock.advanceSecs(1);
    expect(drafts.peek('notes', '42'), isNull, reason: 'gone after 24 hours');
    expect(drafts.take('notes', '42'), isNull);
  });

  test('take removes a draft and an oversized draft is refused', () {
    final drafts = managerWithNotes().drafts();
    drafts.save('notes', '42', 'kept');
    final tooBig = 'x' * (drafts.maxBytes() + 1);
    expect(() => drafts.save('notes', '42', tooBig), throwsAuthError<AuthErrorExceptionInvalidInput>());
    expect(drafts.take('notes', '42'), 'kept', reason: 'a refused save keeps the draft');
    expect(drafts.take('notes', '42'), isNull);
  });

  test('state survives reopening a file store', () {
    final dir = Directory.systemTemp.createTempSync('authstate');
    addTearDown(() => dir.deleteSync(recursive: true));
    addServer(ServerManager.withFiles(dir.path));
    final again = ServerManager.withFiles(dir.path);
    expect(again.servers().map((s) => s.alias), ['notes']);
    expect(again.state('notes'), const SessionStateNoSession());
  });
}
