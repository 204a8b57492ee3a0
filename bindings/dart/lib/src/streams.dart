/// Observation without callback interfaces: each stream is a loop over the
/// core's `changed(afterRevision)`, which completes once the connection
/// revision passes the one given (DESIGN.md "Across the FFI").
library;

import 'dart:async';

import 'authstate_ffi.dart';

/// Every new connection revision of [manager] after [after] (default: the
/// revision when this is called), each greater than the last.
///
/// A revision says that something changed, not what: read the state you
/// need. Cancelling the subscription stops the stream; the wait underneath
/// cannot be cancelled and ends at the next revision.
Stream<int> revisions(ServerManager manager, {int? after}) =>
    _revisions(manager, after ?? manager.connectionRevision());

Stream<int> _revisions(ServerManager manager, int seen) async* {
  while (true) {
    seen = await manager.changed(seen);
    yield seen;
  }
}

/// The state of server [alias] now, then each time it changes. A new
/// remaining token life alone is not a change. The stream ends when the
/// server is removed (or was never added).
Stream<SessionState> states(ServerManager manager, String alias) =>
    _states(manager, alias, manager.connectionRevision());

Stream<SessionState> _states(ServerManager manager, String alias, int seen) async* {
  SessionState? last;
  while (manager.servers().any((server) => server.alias == alias)) {
    final current = manager.state(alias);
    if (last == null || !isSameState(last, current)) {
      last = current;
      yield current;
    }
    seen = await manager.changed(seen);
  }
}

/// Whether [a] and [b] are the same state: the same kind and expiry reason,
/// whatever the remaining token life (which changes with time alone).
bool isSameState(SessionState a, SessionState b) => switch ((a, b)) {
      (SessionStateNoSession(), SessionStateNoSession()) => true,
      (SessionStateActive(), SessionStateActive()) => true,
      (SessionStateExpired(reason: final x), SessionStateExpired(reason: final y)) => x == y,
      _ => false,
    };

/// Notifies its listeners whenever the connection revision of [manager]
/// changes: hand it to GoRouter's `refreshListenable` so guards run again.
///
/// It has the shape of Flutter's `Listenable` (`addListener`,
/// `removeListener`) without depending on Flutter. In a Flutter app, declare
/// it one:
///
/// ```dart
/// class AuthRefresh extends AuthListenable implements Listenable {
///   AuthRefresh(super.manager);
/// }
///
/// final router = GoRouter(
///   refreshListenable: AuthRefresh(manager),
///   redirect: (context, state) => switch (manager.guard(location: state.uri.toString())) {
///     GuardDecisionRedirect(:final to) => to,
///     _ => null,
///   },
///   routes: [...],
/// );
/// ```
///
/// It watches the manager only while it has listeners.
class AuthListenable {
  /// A listenable over [manager]'s revisions.
  AuthListenable(this.manager) : _revision = manager.connectionRevision();

  /// The manager observed.
  final ServerManager manager;
  final List<void Function()> _listeners = [];
  StreamSubscription<int>? _subscription;
  int _revision;
  bool _disposed = false;

  /// The last revision listeners were told about.
  int get revision => _revision;

  /// Whether any server is signed in now.
  bool get anyAuthenticated => manager.anyAuthenticated();

  /// Whether any listener is registered.
  bool get hasListeners => _listeners.isNotEmpty;

  /// Calls [listener] after each change. A revision that passed while no one
  /// listened is reported at once.
  void addListener(void Function() listener) {
    if (_disposed) throw StateError('AuthListenable was disposed');
    _listeners.add(listener);
    _subscription ??= revisions(manager, after: _revision).listen(_notify);
  }

  /// Stops calling [listener] (one registration of it).
  void removeListener(void Function() listener) {
    _listeners.remove(listener);
    if (_listeners.isEmpty) _stop();
  }

  /// Drops every listener and stops watching; the object is unusable after.
  void dispose() {
    _disposed = true;
    _listeners.clear();
    _stop();
  }

  void _stop() {
    _subscription?.cancel();
    _subscription = null;
  }

  void _notify(int revision) {
    _revision = revision;
    for (final listener in List.of(_listeners)) {
      listener();
    }
  }
}
