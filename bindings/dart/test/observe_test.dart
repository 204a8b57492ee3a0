// Observation without callbacks: `changed`, the streams over it,
// AuthListenable, and many concurrent async calls.

import 'dart:async';

import 'package:authstate/authstate.dart';
import 'package:test/test.dart';

import 'support.dart';

void main() {
  setUpAll(loadForTests);

  test('changed completes once the revision passes', () async {
    final manager = ServerManager.inMemory();
    final start = manager.connectionRevision();
    final waiting = manager.changed(start);
    addServer(manager);
    final revision = await waiting.timeout(const Duration(seconds: 10));
    expect(revision, greaterThan(start));
    expect(revision, manager.connectionRevision());
  });

  test('revisions yield each change', () async {
    final manager = ServerManager.inMemory();
    final start = manager.connectionRevision();
    final iterator = StreamIterator(revisions(manager));
    addServer(manager, alias: 'a', url: 'https://a.example');
    expect(await iterator.moveNext().timeout(const Duration(seconds: 10)), isTrue);
    final first = iterator.current;
    addServer(manager, alias: 'b', url: 'https://b.example');
    expect(await iterator.moveNext().timeout(const Duration(seconds: 10)), isTrue);
    expect(first, greaterThan(start));
    expect(iterator.current, greaterThan(first));
    await iterator.cancel();
  });

  test('states start with the current state and end when the server goes', () async {
    final manager = managerWithNotes();
    final seen = <SessionState>[];
    final first = Completer<void>();
    final done = states(manager, 'notes').forEach((state) {
      seen.add(state);
      if (!first.isCompleted) first.complete();
    });
    await first.future.timeout(const Duration(seconds: 10));
    addServer(manager, alias: 'other', url: 'https://other.example'); // not a change of `notes`
    manager.removeServer('notes');
    await done.timeout(const Duration(seconds: 10));
    expect(seen, [const SessionStateNoSession()]);
  });

  test('a hundred concurrent async calls', () async {
    final manager = managerWithNotes();
    final start = manager.connectionRevision();
    final waiting = Future.wait([for (var i = 0; i < 100; i++) manager.changed(start)]);
    addServer(manager, alias: 'b', url: 'https://b.example');
    final results = await waiting.timeout(const Duration(seconds: 10));
    expect(results, hasLength(100));
    expect(results.every((r) => r > start), isTrue);

    final session = manager.session('notes');
    final outcomes = await Future.wait([
      for (var i = 0; i < 100; i++) session.freshAccessToken().then<Object>((token) => token, onError: (Object e) => e),
    ]);
    expect(outcomes, everyElement(isAuthError<AuthErrorExceptionSignInRequired>()));
  });

  test('AuthListenable notifies its listeners on each change', () async {
    final manager = ServerManager.inMemory();
    final listenable = AuthListenable(manager);
    addTearDown(listenable.dispose);
    final start = listenable.revision;
    final called = Completer<void>();
    void listener() {
      if (!called.isCompleted) called.complete();
    }

    listenable.addListener(listener);
    expect(listenable.hasListeners, isTrue);
    addServer(manager);
    await called.future.timeout(const Duration(seconds: 10));
    expect(listenable.revision, greaterThan(start));
    expect(listenable.revision, manager.connectionRevision());
    expect(listenable.anyAuthenticated, isFalse);
    listenable.removeListener(listener);
    expect(listenable.hasListeners, isFalse);
  });

  test('a change made while no one listened is reported on the next addListener', () async {
    final manager = ServerManager.inMemory();
    final listenable = AuthListenable(manager);
    addTearDown(listenable.dispose);
    addServer(manager);
    final called = Completer<void>();
    listenable.addListener(() {
      if (!called.isCompleted) called.complete();
    });
    await called.future.timeout(const Duration(seconds: 10));
    expect(listenable.revision, manager.connectionRevision());
  });

  test('isSameState ignores the remaining token life', () {
    expect(isSameState(const SessionStateActive(expiresInSecs: 10), const SessionStateActive(expiresInSecs: 5)), isTrue);
    expect(isSameState(const SessionStateNoSession(), const SessionStateActive(expiresInSecs: null)), isFalse);
    expect(
      isSameState(const SessionStateExpired(reason: ExpiryReason.marked),
          const SessionStateExpired(reason: ExpiryReason.staleToken)),
      isFalse,
    );
  });
}
