"""Python host callbacks that misbehave on cue, the twins of the core's
``tests/common/faulty.rs``: a store that raises, returns garbage or blocks on
chosen operations, and a log sink that raises. The dict inside keeps what
did get written, readable past the faults."""

import threading
import time

import authstate as auth

#: Faults a read (``get``) can suffer.
READ_FAULTS = ("throw", "raise", "block", "garbage-json", "garbage-type", "garbage-foreign")
#: Faults a write (``set``, ``delete``) can suffer: garbage is only for what is returned.
WRITE_FAULTS = ("throw", "raise", "block")
#: Faults a listing (``keys``) can suffer.
KEYS_FAULTS = ("throw", "raise", "block", "garbage-keys", "garbage-type")

BLOCK_SECS = 0.2
#: Blocking calls per fault: enough to block a whole operation, few enough to keep a case short.
BLOCKED_CALLS = 3


class Faulty(auth.SecretStore, auth.KeyValueStore):
    """A SecretStore and KeyValueStore over a dict that misbehaves on cue.

    - ``throw``: raises ``StoreError.Unavailable`` (a locked Keychain);
    - ``raise``: raises ``RuntimeError`` (a host bug; UniFFI reports it as unexpected);
    - ``block``: sleeps ``BLOCK_SECS``, then works (the first ``BLOCKED_CALLS`` calls);
    - ``garbage-json``: ``get`` returns text that is not JSON;
    - ``garbage-type``: returns a value of the wrong type (an int, a list of ints);
    - ``garbage-foreign``: ``get`` returns another key's value;
    - ``garbage-keys``: ``keys`` lists every key twice, plus keys that are not ours.
    """

    def __init__(self):
        self.data = {}
        self.lock = threading.Lock()
        self.fault, self.ops, self.left = None, (), 0
        self.faults = 0

    def inject(self, fault, ops):
        with self.lock:
            self.fault, self.ops = fault, tuple(ops)
            self.left = BLOCKED_CALLS if fault == "block" else 1 << 30

    def heal(self):
        with self.lock:
            self.fault, self.ops, self.left = None, (), 0

    def _fault(self, op):
        with self.lock:
            if self.fault is None or op not in self.ops or self.left <= 0:
                return None
            self.left -= 1
            self.faults += 1
            return self.fault

    def _misbehave(self, fault):
        if fault == "throw":
            raise auth.StoreError.Unavailable("injected: store locked")
        if fault == "raise":
            raise RuntimeError("injected: host store bug")
        if fault == "block":
            time.sleep(BLOCK_SECS)

    def get(self, key):
        fault = self._fault("get")
        if fault == "garbage-json":
            return "\u0000not json {"
        if fault == "garbage-type":
            return 42
        if fault == "garbage-foreign":
            with self.lock:
                others = sorted(k for k in self.data if k != key)
                return self.data[others[0]] if others else "{}"
        self._misbehave(fault)
        with self.lock:
            return self.data.get(key)

    def set(self, key, value):
        self._misbehave(self._fault("set"))
        with self.lock:
            self.data[key] = value

    def delete(self, key):
        self._misbehave(self._fault("delete"))
        with self.lock:
            self.data.pop(key, None)

    def keys(self, prefix):
        fault = self._fault("keys")
        with self.lock:
            keys = [k for k in self.data if k.startswith(prefix)]
        if fault == "garbage-keys":
            return keys + keys + [prefix + "not-ours", "elsewhere.key"]
        if fault == "garbage-type":
            return [1, None]
        self._misbehave(fault)
        return keys


class RaisingSink(auth.LogSink):
    """A LogSink that raises on every record (a host logger with a bug)."""

    def __init__(self):
        self.calls = 0

    def log(self, record):
        self.calls += 1
        raise RuntimeError("injected: the host's log sink raised")


def store_faults():
    """Every (store, op, fault) case: the secret store has no ``keys``."""
    cases = []
    for store in ("secrets", "values"):
        for op in ("get", "set", "delete") + (("keys",) if store == "values" else ()):
            faults = {"get": READ_FAULTS, "keys": KEYS_FAULTS}.get(op, WRITE_FAULTS)
            cases += [(store, op, fault) for fault in faults]
    return cases
