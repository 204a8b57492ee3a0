// Observation without callbacks: `changed`, the streams over the core's
// watches, AuthListenable, and many concurrent async calls.

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

  test('revisions yield the current revision first, then each change', () async {
    final manager = ServerManager.inMemory();
    final iterator = StreamIterator(revisions(manager));
    expect(await iterator.moveNext().timeout(const Duration(seconds: 10)), isTrue);
    expect(iterator.current, manager.connectionRevision());
    final start = iterator.current;
    addServer(manager, alias: 'a', url: 'https://a.example');
    expect(await iterator.moveNext().timeout(const Duration(seconds: 10)), isTrue);
    final first = iterator.current;
    addServer(manager, alias: 'b', url: 'https://b.example');
    expect(await iterator.moveNext().timeout(const Duration(seconds: 10)), isTrue);
    expect(first, greaterThan(start));
    expect(iterator.current, greaterThan(first));
    await iterator.cancel();
    expect(manager.pendingWaits(), 0);
  });

  test('states start with the current state, ignore other servers, and end when the server goes', () async {
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

  test('states of an unknown server throw UnknownServer at the call', () {
    final manager = ServerManager.inMemory();
    expect(() => states(manager, 'nope'), throwsA(isAuthError<AuthErrorExceptionUnknownServer>()));
  });

  test('cancelling a thousand streams leaves no pending native wait', () async {
    final manager = managerWithNotes();
    final subscriptions = [
      for (var i = 0; i < 1000; i++) states(manager, 'notes').listen((_) {}),
      for (var i = 0; i < 1000; i++) revisions(manager).listen((_) {}),
    ];
    final deadline = DateTime.now().add(const Duration(seconds: 10));
    while (manager.pendingWaits() < 2000 && DateTime.now().isBefore(deadline)) {
      await Future<void>.delayed(const Duration(milliseconds: 10));
    }
    expect(manager.pendingWaits(), 2000);
    await Future.wait([for (final s in subscriptions) s.cancel()]);
    // cancel() releases each wait at once; the runtime drops it on its next poll.
    final released = DateTime.now().add(const Duration(seconds: 5));
    while (manager.pendingWaits() > 0 && DateTime.now().isBefore(released)) {
      await Future<void>.delayed(const Duration(milliseconds: 1));
    }
    expect(manager.pendingWaits(), 0);
    print('dart: 2000 cancelled streams, pending native waits: ${manager.pendingWaits()}');
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
}
