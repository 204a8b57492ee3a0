// Text as Python's urllib reads and writes it, for the scenario runner
// (scenario_parity_test.dart): the steps file and the transcript are
// byte-for-byte those of bindings/python/parity.py.

import 'dart:convert';

/// A token as transcripts print it: up to its first '.'.
String shortToken(String token) {
  final dot = token.indexOf('.');
  return dot < 0 ? token : token.substring(0, dot);
}

/// parity.py's `parse_args`: `k=v&…`, empty pairs skipped, each side
/// percent-decoded.
Map<String, String> parseArgs(String field) {
  final args = <String, String>{};
  for (final pair in field.split('&')) {
    if (pair.isEmpty) continue;
    final at = pair.indexOf('=');
    final key = at < 0 ? pair : pair.substring(0, at);
    final value = at < 0 ? '' : pair.substring(at + 1);
    args[unquote(key)] = unquote(value);
  }
  return args;
}

/// Python's `urllib.parse.unquote`: `%XX` sequences decoded as UTF-8
/// (malformed bytes become U+FFFD), a `%` not followed by two hex digits
/// kept, and `+` kept (unlike `Uri.decodeQueryComponent`; unlike
/// `Uri.decodeComponent`, never throws).
String unquote(String text) {
  if (!text.contains('%')) return text;
  final out = StringBuffer();
  final bytes = <int>[];
  void flush() {
    if (bytes.isEmpty) return;
    out.write(utf8.decode(bytes, allowMalformed: true));
    bytes.clear();
  }

  var i = 0;
  while (i < text.length) {
    final unit = text.codeUnitAt(i);
    if (unit == 0x25 && i + 2 < text.length) {
      final high = _hexValue(text.codeUnitAt(i + 1));
      final low = _hexValue(text.codeUnitAt(i + 2));
      if (high >= 0 && low >= 0) {
        bytes.add(high * 16 + low);
        i += 3;
        continue;
      }
    }
    if (unit < 0x80) {
      bytes.add(unit);
    } else {
      flush();
      out.writeCharCode(unit);
    }
    i += 1;
  }
  flush();
  return out.toString();
}

int _hexValue(int unit) {
  if (unit >= 0x30 && unit <= 0x39) return unit - 0x30; // 0-9
  if (unit >= 0x41 && unit <= 0x46) return unit - 0x41 + 10; // A-F
  if (unit >= 0x61 && unit <= 0x66) return unit - 0x61 + 10; // a-f
  return -1;
}

/// Python's `urllib.parse.quote` with its default `safe='/'`: every UTF-8
/// byte other than letters, digits, `_.-~` and `/` as `%XX`.
String quote(String text) {
  final out = StringBuffer();
  for (final byte in utf8.encode(text)) {
    final safe = (byte >= 0x30 && byte <= 0x39) ||
        (byte >= 0x41 && byte <= 0x5a) ||
        (byte >= 0x61 && byte <= 0x7a) ||
        byte == 0x5f || // _
        byte == 0x2e || // .
        byte == 0x2d || // -
        byte == 0x7e || // ~
        byte == 0x2f; // /
    if (safe) {
      out.writeCharCode(byte);
    } else {
      out.write('%${byte.toRadixString(16).toUpperCase().padLeft(2, '0')}');
    }
  }
  return out.toString();
}

/// Python's `parse_qs(urlparse(url).query)`: the query is what follows the
/// first `?` before any `#`; pairs split on `&`, blank values dropped, `+`
/// read as a space, then percent-decoded.
Map<String, List<String>> queryValues(String url) {
  final hash = url.indexOf('#');
  final beforeFragment = hash < 0 ? url : url.substring(0, hash);
  final question = beforeFragment.indexOf('?');
  final values = <String, List<String>>{};
  if (question < 0) return values;
  for (final pair in beforeFragment.substring(question + 1).split('&')) {
    final at = pair.indexOf('=');
    if (at < 0) continue;
    final value = pair.substring(at + 1);
    if (value.isEmpty) continue;
    final key = unquote(pair.substring(0, at).replaceAll('+', ' '));
    values.putIfAbsent(key, () => []).add(unquote(value.replaceAll('+', ' ')));
  }
  return values;
}
