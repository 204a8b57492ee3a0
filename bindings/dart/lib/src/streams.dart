/// Observation without callback interfaces: each stream is a loop over one
/// of the core's watches (`watchRevisions`, `watchState`), which own the
/// rules — what comes first, what counts as a change, what a removal does —
/// so Dart's streams behave exactly as Swift's, Kotlin's and Python's
/// (DESIGN.md "Across the FFI").
library;

import 'dart:async';

import 'authstate_ffi.dart';

/// [manager]'s connection revision: the current one at once, then the latest
/// each time it moves (strictly increasing; a burst is coalesced).
///
/// A revision says that something changed, not what: read the state you
/// need. The stream never ends on its own; cancelling the subscription
/// cancels the native wait at once.
Stream<int> revisions(ServerManager manager) {
  final watch = manager.watchRevisions();
  return _follow(watch.next, watch.cancel);
}

/// The state of server [alias]: the current state at once, then each state
/// that differs in kind, expiry reason or provider (a refresh, or another
/// server's change, emits nothing). The stream ends after one last
/// [SessionStateNoSession] when the server is removed.
///
/// Throws `AuthErrorExceptionUnknownServer` here, at the call, for an unknown
/// alias. Cancelling the subscription cancels the native wait at once.
Stream<SessionState> states(ServerManager manager, String alias) {
  final watch = manager.watchState(alias);
  return _follow(() => watch.next().then((observation) => observation?.state), watch.cancel);
}

/// A single-subscription stream of [next]'s values until it gives `null`;
/// [cancel] runs when the subscription is cancelled or the stream ends, and
/// makes a pending [next] give `null` at once.
Stream<T> _follow<T extends Object>(Future<T?> Function() next, void Function() cancel) {
  late final StreamController<T> controller;
  var running = false;
  Future<void> pump() async {
    if (running) return;
    running = true;
    try {
      while (!controller.isClosed && !controller.isPaused) {
        final value = await next();
        if (value == null) {
          await controller.close();
          return;
        }
        if (controller.isClosed) return;
        controller.add(value);
      }
    } catch (error, stack) {
      if (!controller.isClosed) {
        controller.addError(error, stack);
        await controller.close();
      }
    } finally {
      running = false;
    }
  }

  controller = StreamController<T>(
    onListen: pump,
    onResume: pump,
    onCancel: cancel,
  );
  return controller.stream;
}

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
    _subscription ??= revisions(manager).listen(_notify);
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
    if (revision == _revision) return; // the first emission: nothing new
    _revision = revision;
    for (final listener in List.of(_listeners)) {
      listener();
    }
  }
}
