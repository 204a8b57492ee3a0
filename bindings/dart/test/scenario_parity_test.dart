// The scenario suite (issue #15, tests/scenarios/README.md) run through the
// Dart binding against the scripted server: the Dart counterpart of the
// reference runner bindings/python/parity.py, whose outcome vocabulary and
// transcript it reproduces byte for byte. Keep the two in step.
//
// `cargo xtask test` sets the environment: `$AUTHSTATE_SCENARIO_STEPS` (the
// flattened steps file `parity.py flatten` writes: one tab-separated,
// percent-encoded line per step — name, stores, operation, `k=v&…`
// arguments, expected outcome), `$AUTHSTATE_SCENARIO_SERVER` (the scripted
// server's base URL) and `$AUTHSTATE_TRANSCRIPT_DIR` (where `dart.txt` goes).
// Without a steps file the test is skipped.

import 'dart:async';
import 'dart:io';

import 'package:authstate/authstate.dart';
import 'package:test/test.dart';

import 'scenario_encoding.dart';
import 'support.dart';

/// 2026-01-01T00:00:00Z, every scenario's starting time (parity.py `EPOCH`).
const _epoch = 1767225600;
const _redirect = 'com.example.app:/callback';

/// The part of the sign-in username before `|`: only keeps runners that run
/// at once apart on the scripted server (parity.py uses `py`).
const _lang = 'dart';

/// Not in parity.py: a step that hangs (a watch that never wakes) becomes
/// the outcome `timeout`, a mismatch, instead of stalling the whole suite.
const _stepTimeout = Duration(seconds: 60);

void main() {
  final environment = Platform.environment;
  final stepsPath = environment['AUTHSTATE_SCENARIO_STEPS'];

  setUpAll(loadForTests);

  test(
    'every scenario gives its expected outcomes (the transcript parity.py writes)',
    () async {
      final base = environment['AUTHSTATE_SCENARIO_SERVER'] ?? fail('AUTHSTATE_SCENARIO_SERVER is not set');
      final transcriptDir = environment['AUTHSTATE_TRANSCRIPT_DIR'] ??
          Directory.systemTemp.createTempSync('authstate-transcript-').path;
      final transcript = '$transcriptDir${Platform.pathSeparator}dart.txt';
      final runner = _Runner(base);
      addTearDown(runner.deleteDirectories);
      final (scenarios, mismatches) = await runner.run(stepsPath!, transcript);
      expect(scenarios, greaterThan(0), reason: 'the steps file $stepsPath holds no scenario');
      expect(mismatches, 0, reason: '$mismatches step(s) differ from their expected outcome (transcript: $transcript)');
    },
    skip: stepsPath == null ? 'AUTHSTATE_SCENARIO_STEPS is not set (cargo xtask test sets it)' : false,
    timeout: const Timeout(Duration(minutes: 5)),
  );
}

/// Runs a steps file: one [_World] per scenario.
class _Runner {
  _Runner(this.base);

  /// The scripted server's base URL, `{base}` in the transcript.
  final String base;

  /// The file-store directories made for `stores=files` scenarios.
  final List<Directory> _directories = [];

  Directory newDirectory() {
    final dir = Directory.systemTemp.createTempSync('authstate-parity-');
    _directories.add(dir);
    return dir;
  }

  void deleteDirectories() {
    for (final dir in _directories) {
      try {
        dir.deleteSync(recursive: true);
      } on FileSystemException {
        // Left behind, like parity.py's: nothing depends on it.
      }
    }
    _directories.clear();
  }

  /// Runs every step of [stepsPath], writes the transcript to
  /// [transcriptPath] and returns (scenarios, mismatches).
  Future<(int, int)> run(String stepsPath, String transcriptPath) async {
    final lines = <String>[];
    var scenarios = 0;
    var failures = 0;
    String? current;
    _World? world;
    try {
      for (final raw in const LineSplitter().convert(File(stepsPath).readAsStringSync())) {
        if (raw.trim().isEmpty) continue;
        final fields = raw.split('\t');
        if (fields.length != 5) {
          throw FormatException('a step has ${fields.length} tab-separated fields, not 5', raw);
        }
        final name = unquote(fields[0]);
        final stores = unquote(fields[1]);
        final op = unquote(fields[2]);
        final argsField = fields[3];
        final expected = unquote(fields[4]);
        if (name != current) {
          // As in parity.py, the new world opens before the old one goes.
          final next = _World(this, stores);
          world?.dispose();
          current = name;
          world = next;
          scenarios += 1;
          lines.add('## $name');
        }
        final args = parseArgs(argsField);
        String outcome;
        try {
          outcome = await world!.step(op, args).timeout(_stepTimeout);
        } on AuthErrorException catch (error) {
          outcome = _errorOutcome(error, args['detail'] == 'true', base);
        } on TimeoutException {
          outcome = 'timeout';
        }
        lines.add('$op $argsField => $outcome');
        if (outcome != expected) {
          failures += 1;
          print("MISMATCH $name: $op $argsField: expected '$expected', got '$outcome'");
        }
      }
    } finally {
      world?.dispose();
    }
    final out = File(transcriptPath);
    out.parent.createSync(recursive: true);
    out.writeAsStringSync('${lines.join('\n')}\n');
    print('dart: $scenarios scenarios, $failures mismatches');
    return (scenarios, failures);
  }
}

/// One scenario's manager, clock, stores and observations.
class _World {
  _World(this.runner, String stores)
      : clock = ManualClock.create(_epoch),
        directory = stores == 'files' ? runner.newDirectory() : null {
    manager = _open();
  }

  final _Runner runner;
  final ManualClock clock;

  /// The file stores' directory (`stores=files`), else null: memory stores.
  final Directory? directory;
  late ServerManager manager;
  final Map<String, StateWatch> _watches = {};

  /// Full tokens by their short form (`A1` → the whole token this scenario
  /// received), for `token=A1` arguments.
  final Map<String, String> _fullTokens = {};
  RevisionWatch? _revisionWatch;
  String? _pendingState;

  String get base => runner.base;

  ServerManager _open() =>
      ServerManager.create(options: ManagerOptions(directory: directory?.path), clock: clock);

  /// Reopens the manager on the same stores and clock (`restart`).
  void _restart() {
    final previous = manager;
    manager = _open();
    previous.close();
  }

  /// Releases the native objects (what Python's reference counting does when
  /// parity.py moves on to the next scenario's world).
  void dispose() {
    for (final watch in _watches.values) {
      watch.close();
    }
    _watches.clear();
    _revisionWatch?.close();
    _revisionWatch = null;
    manager.close();
    clock.close();
  }

  String _url(String alias) => '$base/$alias/';

  String _remember(String token) {
    _fullTokens[shortToken(token)] = token;
    return token;
  }

  /// A redirect as parity.py prints it: `unquote(to.replace("+", " "))`,
  /// the server's URL as `{base}`.
  String _shownRedirect(String to) => unquote(to.replaceAll('+', ' ')).replaceAll(base, '{base}');

  /// Runs [body] on a fresh handle of [alias]'s session, closed afterwards.
  Future<String> _withSession(String alias, FutureOr<String> Function(ServerSession session) body) async {
    final session = manager.session(alias);
    try {
      return await body(session);
    } finally {
      session.close();
    }
  }

  /// The token a `response` step presents: `current` is the valid access
  /// token now (or empty), anything else a remembered short form.
  String _tokenOf(String alias, String which) {
    final session = manager.session(alias);
    try {
      if (which == 'current') return session.validAccessToken() ?? '';
      return _fullTokens[which] ?? which;
    } finally {
      session.close();
    }
  }

  /// One step's outcome; throws [AuthErrorException] for an `error …` one.
  Future<String> step(String op, Map<String, String> a) async {
    final m = manager;
    final alias = a['alias'] ?? '';
    switch (op) {
      case 'add':
        final kind = a['kind']!;
        if (kind == 'token_pair') {
          m.addTokenPairServer(url: _url(alias), settings: simplejwtSettings('tp/api/token/'), alias: alias);
        } else if (kind == 'opaque') {
          m.addOpaqueTokenServer(url: _url(alias), settings: deviceTokenSettings('op/'), alias: alias);
        } else {
          m.addOidcServer(
            url: _url(alias),
            issuer: '$base/oidc',
            clientId: 'app',
            redirectUri: _redirect,
            alias: alias,
          );
        }
        return 'ok';
      case 'sign_in':
        await m.signInWithPassword(
          alias: alias,
          username: '$_lang|${a['script'] ?? ''}',
          password: a['password'] ?? 'pw',
        );
        return _withSession(alias, (session) {
          _remember(session.validAccessToken() ?? '');
          return 'ok';
        });
      case 'state':
        return _view(m.state(alias));
      case 'valid_token':
        return _withSession(alias, (session) {
          final token = session.validAccessToken();
          return token != null && token.isNotEmpty ? 'token ${shortToken(_remember(token))}' : 'none';
        });
      case 'token':
        return _withSession(
            alias, (session) async => 'token ${shortToken(_remember(await session.freshAccessToken()))}');
      case 'refresh':
        return _withSession(alias, (session) async {
          await session.refresh();
          return 'ok';
        });
      case 'advance':
        clock.advanceSecs(int.parse(a['secs']!));
        return 'ok';
      case 'response':
        return _withSession(alias, (session) async {
          final status = int.parse(a['status']!);
          final verdict = await session.onResponse(status, null, _tokenOf(alias, a['token']!));
          return switch (verdict) {
            ResponseVerdictRetry() => 'retry ${shortToken(_remember(session.validAccessToken() ?? ''))}',
            ResponseVerdictSessionExpired() || ResponseVerdictSignedOut() => 'sign_in_required',
            ResponseVerdictPass() => 'pass',
            ResponseVerdictPermissionDenied() => 'permission_denied',
            ResponseVerdictTryLater() => 'try_later',
            ResponseVerdictFailed(:final detail) => 'failed $detail',
          };
        });
      case 'probe':
        return _withSession(alias, (session) async {
          return switch (await session.probe()) {
            ProbeResult.valid => 'valid',
            ProbeResult.stale => 'stale',
            ProbeResult.unreachable => 'unreachable',
          };
        });
      case 'sign_out':
        return switch (await m.signOut(alias)) {
          RevocationOutcomeRevoked() => 'revoked',
          RevocationOutcomeNothingToRevoke() => 'nothing_to_revoke',
          RevocationOutcomeNotSupported() => 'not_supported',
          RevocationOutcomeFailed(:final detail) => 'failed $detail',
        };
      case 'sign_out_locally':
        return _withSession(alias, (session) {
          session.signOutLocally();
          return 'ok';
        });
      case 'mark_expired':
        return _withSession(alias, (session) {
          session.markExpired();
          return 'ok';
        });
      case 'remove':
        m.removeServer(alias);
        return 'ok';
      case 'servers':
        return m.servers().map((server) => server.alias).join(' ');
      case 'any_authenticated':
        return m.anyAuthenticated() ? 'true' : 'false';
      case 'guard':
        final decision = m.guard(location: a['location']!, serverAlias: a['alias'], isPublic: a['public'] == 'true');
        return switch (decision) {
          GuardDecisionAllow() => 'allow',
          GuardDecisionRedirect(:final to) => 'redirect ${_shownRedirect(to)}',
        };
      case 'return_to':
        return 'ok ${validateReturnTo(a['path']!)}';
      case 'draft_save':
        final repeat = a['repeat'];
        final text = repeat != null ? 'x' * int.parse(repeat) : a['text']!;
        final drafts = m.drafts();
        try {
          drafts.save(alias, a['room']!, text);
        } finally {
          drafts.close();
        }
        return 'ok';
      case 'draft_peek' || 'draft_take':
        final drafts = m.drafts();
        try {
          final room = a['room']!;
          final text = op == 'draft_peek' ? drafts.peek(alias, room) : drafts.take(alias, room);
          return text == null ? 'none' : 'draft $text';
        } finally {
          drafts.close();
        }
      case 'begin_login':
        final url = await m.beginLogin(alias: alias, returnTo: a['return_to']);
        _pendingState = queryValues(url)['state']![0];
        return 'ok';
      case 'complete_login':
        final state = a['callback']! == 'denied' ? _pendingState! : 'not-a-pending-state';
        await m.completeLogin('$_redirect?state=${quote(state)}&error=access_denied');
        return 'ok';
      case 'on_resume':
        await m.onResume();
        return 'ok';
      case 'restart':
        _restart();
        return 'ok';
      case 'restore_report':
        final report = m.restoreReport();
        // Not byte-identical to Python's repr: no scenario expects a report.
        return report.isClean ? 'clean' : 'report $report';
      case 'watch':
        final watch = m.watchState(alias);
        _watches[alias]?.close();
        _watches[alias] = watch;
        return 'ok';
      case 'watch_next':
        final observed = await _watches[alias]!.next();
        return observed == null ? 'end' : _view(observed.state);
      case 'watch_cancel':
        _watches[alias]!.cancel();
        return 'ok';
      case 'revisions':
        final watch = m.watchRevisions();
        _revisionWatch?.close();
        _revisionWatch = watch;
        return 'ok';
      case 'revisions_next':
        final revision = await _revisionWatch!.next();
        return revision == null ? 'end' : 'revision $revision';
      case 'pending_waits':
        return '${m.pendingWaits()}';
    }
    throw ArgumentError.value(op, 'op', 'unknown operation');
  }
}

/// `error <Variant>`, plus `: <detail>` with the server's URL as `{base}`
/// when [detail]; the variant named as Python prints it (`SignInFailed`).
String _errorOutcome(AuthErrorException error, bool detail, String base) {
  final (name, text) = _errorParts(error);
  if (!detail) return 'error $name';
  final suffix = ': $text'.replaceAll(base, '{base}');
  return 'error $name$suffix';
}

(String, String) _errorParts(AuthErrorException error) => switch (error) {
      AuthErrorExceptionInvalidInput(:final detail) => ('InvalidInput', detail),
      AuthErrorExceptionAlreadyExists(:final detail) => ('AlreadyExists', detail),
      AuthErrorExceptionUnknownServer(:final detail) => ('UnknownServer', detail),
      AuthErrorExceptionSignInRequired(:final detail) => ('SignInRequired', detail),
      AuthErrorExceptionSignInFailed(:final detail) => ('SignInFailed', detail),
      AuthErrorExceptionPermissionDenied(:final detail) => ('PermissionDenied', detail),
      AuthErrorExceptionNotFound(:final detail) => ('NotFound', detail),
      AuthErrorExceptionTryLater(:final detail) => ('TryLater', detail),
      AuthErrorExceptionStorage(:final detail) => ('Storage', detail),
      AuthErrorExceptionConfiguration(:final detail) => ('Configuration', detail),
      AuthErrorExceptionCancelled(:final detail) => ('Cancelled', detail),
      AuthErrorExceptionInternal(:final detail) => ('Internal', detail),
    };

/// The canonical text of a state: `no_session`, `active <kind>`,
/// `expired <kind> <reason>`.
String _view(SessionState state) => switch (state) {
      SessionStateNoSession() => 'no_session',
      SessionStateActive(:final provider) => 'active ${_kindName(provider)}',
      SessionStateExpired(:final provider, :final reason) => 'expired ${_kindName(provider)} ${_reasonName(reason)}',
    };

String _kindName(ProviderKind kind) => switch (kind) {
      ProviderKind.oidc => 'oidc',
      ProviderKind.tokenPair => 'token_pair',
      ProviderKind.opaqueToken => 'opaque_token',
    };

/// Python's `reason.name.lower()`.
String _reasonName(ExpiryReason reason) => switch (reason) {
      ExpiryReason.refreshRejected => 'refresh_rejected',
      ExpiryReason.noRefreshToken => 'no_refresh_token',
      ExpiryReason.unauthorized => 'unauthorized',
      ExpiryReason.staleToken => 'stale_token',
      ExpiryReason.marked => 'marked',
      ExpiryReason.misconfigured => 'misconfigured',
      ExpiryReason.refreshInterrupted => 'refresh_interrupted',
    };
