"""Reads the buffers that Rust returns with less Python work than the
generated code; the bytes and their format are unchanged.

Every value that is not a number or an object comes back from Rust in a
buffer that Python reads and then frees. For a small value such as
``SessionState``, that Python work costs more than the call itself. uniffi
0.32.2's generated module does three slow things:

- it enters a generator-based context manager for each value;
- for each field, it slices the ctypes pointer into a new ``bytes``;
- it looks up a struct format string by text for each field.

This module keeps the generated converters' ``read`` functions and replaces
what feeds them. The buffer is copied into one ``bytes`` and freed at once,
before decoding starts, so a decoding error cannot leak it. Fields are then
read with precompiled ``struct`` unpackers at an offset. Reading past the end
and trailing bytes raise the same errors as before.

``install()`` patches the generated module once, at ``import authstate``. It
refuses, and changes nothing, when the module lacks a name it replaces: a
different uniffi then gets its own, slower, reading.
``tests/test_fast_lift.py`` checks that both readings give the same values.
"""

import ctypes
import struct

import authstate_ffi as _ffi

#: What ``install()`` replaces, by the name of the generated class.
_PATCHED = {
    "_UniffiRustBuffer": "consume_with_stream",
    "_UniffiConverterRustBuffer": "lift",
    "_UniffiFfiConverterString": "lift",
}

#: The generated originals, kept for the equivalence tests.
ORIGINALS = {}

_string_at = ctypes.string_at
_byref = ctypes.byref
_Status = getattr(_ffi, "_UniffiRustCallStatus", None)
_free = getattr(getattr(_ffi, "_UniffiLib", None), "ffi_authstate_ffi_rustbuffer_free", None)


def _reader(big_endian_format):
    """A ``read_<type>`` method: one precompiled unpack at the offset. A read
    past the end raises ``InternalError`` and moves nothing."""
    layout = struct.Struct(big_endian_format)
    unpack, size = layout.unpack_from, layout.size

    def read(self):
        start = self.offset
        try:
            value = unpack(self.data, start)[0]
        except struct.error:
            raise _ffi.InternalError("read past end of rust buffer") from None
        self.offset = start + size
        return value

    return read


class BytesStream:
    """The generated ``_UniffiRustBufferStream``'s reading interface, over a
    ``bytes`` copy of the buffer."""

    __slots__ = ("data", "len", "offset")

    def __init__(self, data):
        self.data = data
        self.len = len(data)
        self.offset = 0

    def remaining(self):
        return self.len - self.offset

    def read(self, size):
        start = self.offset
        end = start + size
        if end > self.len:
            raise _ffi.InternalError("read past end of rust buffer")
        self.offset = end
        return self.data[start:end]

    read_i8 = _reader(">b")
    read_u8 = _reader(">B")
    read_i16 = _reader(">h")
    read_u16 = _reader(">H")
    read_i32 = _reader(">i")
    read_u32 = _reader(">I")
    read_i64 = _reader(">q")
    read_u64 = _reader(">Q")
    read_float = _reader(">f")
    read_double = _reader(">d")


def take(rbuf):
    """Copies a Rust-owned buffer into a ``BytesStream`` and frees it, even
    when the copy fails."""
    try:
        length = rbuf.len
        return BytesStream(_string_at(rbuf.data, length) if length else b"")
    finally:
        status = _Status()  # zeroed: CALL_SUCCESS, no error buffer
        _free(rbuf, _byref(status))
        if status.code:
            _ffi._uniffi_check_call_status(None, status)


def _check_consumed(stream):
    if stream.offset != stream.len:
        raise RuntimeError(f"junk data left in buffer at end of consume_with_stream {stream.remaining()}")


class _Consumed:
    """``with rbuf.consume_with_stream() as stream``, the buffer already freed."""

    __slots__ = ("stream",)

    def __init__(self, rbuf):
        self.stream = take(rbuf)

    def __enter__(self):
        return self.stream

    def __exit__(self, error_type, error, traceback):
        if error_type is None:
            _check_consumed(self.stream)
        return False


def _consume_with_stream(rbuf):
    return _Consumed(rbuf)


def _lift(cls, rbuf):
    stream = take(rbuf)
    value = cls.read(stream)
    _check_consumed(stream)
    return value


def _lift_string(rbuf):
    return take(rbuf).data.decode("utf-8")


def _targets():
    """The generated classes that ``install()`` patches, by name, or ``None``
    when the generated module lacks one of them or the buffer-free function."""
    classes = {name: getattr(_ffi, name, None) for name in _PATCHED}
    for name, cls in classes.items():
        if cls is None or _PATCHED[name] not in vars(cls):
            return None
    return classes if _Status is not None and _free is not None else None


def install():
    """Replaces the generated module's buffer reading; idempotent. Returns
    whether the fast reading is in place."""
    if ORIGINALS:
        return True
    classes = _targets()
    if classes is None:
        return False
    for name, cls in classes.items():
        ORIGINALS[name] = vars(cls)[_PATCHED[name]]
    classes["_UniffiRustBuffer"].consume_with_stream = _consume_with_stream
    classes["_UniffiConverterRustBuffer"].lift = classmethod(_lift)
    classes["_UniffiFfiConverterString"].lift = staticmethod(_lift_string)
    return True


def uninstall():
    """Puts the generated reading back (for comparisons); idempotent."""
    for name, original in ORIGINALS.items():
        setattr(getattr(_ffi, name), _PATCHED[name], original)
    ORIGINALS.clear()
