"""authstate's faster reading of returned buffers (``authstate._fast_lift``)
gives the same values and the same errors as the generated reading.

Each value is lowered by the generated converter into a Rust-allocated
buffer, exactly as Rust returns one, then lifted by both readings.
"""

import random

import pytest

import authstate as auth
import authstate_ffi as ffi
from authstate import _fast_lift

SEED = 20261129
CASES = 400


@pytest.fixture
def generated_reading():
    """Runs a test with the generated reading, then restores authstate's."""
    _fast_lift.uninstall()
    try:
        yield
    finally:
        assert _fast_lift.install()


def both_readings(converter, value):
    """(generated, fast) lifts of `value` after a round trip through Rust memory."""
    fast = converter.lift(converter.lower(value))
    _fast_lift.uninstall()
    try:
        generated = converter.lift(converter.lower(value))
    finally:
        assert _fast_lift.install()
    return generated, fast


def raw_buffer(write):
    """A Rust-allocated buffer holding what `write(builder)` wrote."""
    with ffi._UniffiRustBuffer.alloc_with_builder() as builder:
        write(builder)
        return builder.finalize()


def lift_errors(converter, write):
    """The (type, message) each reading raises for the same malformed bytes."""
    outcomes = []
    for install in (True, False):
        if not install:
            _fast_lift.uninstall()
        try:
            with pytest.raises(Exception) as caught:
                converter.lift(raw_buffer(write))
            outcomes.append((type(caught.value), str(caught.value)))
        finally:
            assert _fast_lift.install()
    return outcomes


def text(rng):
    alphabet = "aZ09 -_/:?&=%\u00e9\u00fc\u4e2d\U0001f510\u0000"
    return "".join(rng.choice(alphabet) for _ in range(rng.choice((0, 1, 7, 64, 4096))))


def maybe(rng, make):
    return None if rng.random() < 0.3 else make()


def integer(rng, bits, signed):
    low, high = (-(1 << (bits - 1)), (1 << (bits - 1)) - 1) if signed else (0, (1 << bits) - 1)
    return rng.choice((low, high, 0, rng.randint(low, high)))


def session_state(rng):
    return rng.choice(
        (
            lambda: auth.SessionState.NO_SESSION(),
            lambda: auth.SessionState.ACTIVE(rng.choice(list(auth.ProviderKind))),
            lambda: auth.SessionState.EXPIRED(rng.choice(list(auth.ProviderKind)), rng.choice(list(auth.ExpiryReason))),
        )
    )()


def device_session(rng):
    return auth.DeviceSession(
        id=integer(rng, 64, True),
        device_label=maybe(rng, lambda: text(rng)),
        created_at=maybe(rng, lambda: text(rng)),
        last_seen_at=maybe(rng, lambda: text(rng)),
        is_current=rng.random() < 0.5,
    )


def restore_report(rng):
    names = lambda: [text(rng) for _ in range(rng.choice((0, 1, 3)))]  # noqa: E731
    notice = lambda: rng.choice((  # noqa: E731
        lambda: auth.StoreNotice.MOVED_ASIDE(file=text(rng), moved_to=text(rng), detail=text(rng)),
        lambda: auth.StoreNotice.OTHER(detail=text(rng)),
    ))()
    return auth.RestoreReport(
        restored=integer(rng, 32, False),
        corrupt=names(),
        tokens_missing=names(),
        rejected=[auth.RejectedRecord(key=text(rng), problem=text(rng)) for _ in range(rng.choice((0, 2)))],
        interrupted_refreshes=names(),
        recovered_from_journal=names(),
        notices=[notice() for _ in range(rng.choice((0, 1, 2)))],
        is_clean=rng.random() < 0.5,
    )


GENERATORS = {
    "SessionState": (ffi._UniffiFfiConverterTypeSessionState, session_state),
    "String": (ffi._UniffiFfiConverterString, text),
    "Optional<String>": (ffi._UniffiFfiConverterOptionalString, lambda rng: maybe(rng, lambda: text(rng))),
    "Optional<u64>": (ffi._UniffiFfiConverterOptionalUInt64, lambda rng: maybe(rng, lambda: integer(rng, 64, False))),
    "Optional<u32>": (ffi._UniffiFfiConverterOptionalUInt32, lambda rng: maybe(rng, lambda: integer(rng, 32, False))),
    "TokenInfo": (
        ffi._UniffiFfiConverterTypeTokenInfo,
        lambda rng: auth.TokenInfo(
            expires_in_secs=maybe(rng, lambda: integer(rng, 64, True)),
            has_refresh_token=rng.random() < 0.5,
            has_id_token=rng.random() < 0.5,
            persistence_pending=rng.random() < 0.5,
        ),
    ),
    "RestoreReport": (ffi._UniffiFfiConverterTypeRestoreReport, restore_report),
    "Vec<DeviceSession>": (
        ffi._UniffiFfiConverterSequenceTypeDeviceSession,
        lambda rng: [device_session(rng) for _ in range(rng.choice((0, 1, 3, 50)))],
    ),
    "Vec<ServerInfo>": (
        ffi._UniffiFfiConverterSequenceTypeServerInfo,
        lambda rng: [
            auth.ServerInfo(url=text(rng), alias=text(rng), provider=rng.choice(list(auth.ProviderKind)))
            for _ in range(rng.choice((0, 2, 20)))
        ],
    ),
    "LogRecord": (
        ffi._UniffiFfiConverterTypeLogRecord,
        lambda rng: auth.LogRecord(level=rng.choice(list(auth.LogLevel)), target=text(rng), message=text(rng)),
    ),
    "GuardDecision": (
        ffi._UniffiFfiConverterTypeGuardDecision,
        lambda rng: rng.choice((auth.GuardDecision.ALLOW(), auth.GuardDecision.REDIRECT(text(rng)))),
    ),
}


def test_installed_at_import():
    """A uniffi whose generated module lacks a replaced name fails here
    instead of silently falling back to the slow reading."""
    assert _fast_lift.install()
    assert set(_fast_lift.ORIGINALS) == set(_fast_lift._PATCHED)
    assert ffi._UniffiFfiConverterString.lift is _fast_lift._lift_string


@pytest.mark.parametrize("name", sorted(GENERATORS))
def test_same_values_as_the_generated_reading(name):
    converter, generate = GENERATORS[name]
    rng = random.Random(f"{SEED}:{name}")
    for _ in range(CASES):
        value = generate(rng)
        generated, fast = both_readings(converter, value)
        assert fast == generated == value


def test_the_getters_return_the_same_values(generated_reading):
    manager = auth.ServerManager.in_memory()
    manager.add_oidc_server("https://notes.example.com", "https://id.example.com", "app", "app:/cb", alias="notes")
    session = manager.session("notes")
    generated = (session.state(), session.valid_access_token(), session.token_info(), manager.servers())
    assert _fast_lift.install()
    assert (session.state(), session.valid_access_token(), session.token_info(), manager.servers()) == generated


def test_errors_lift_the_same(generated_reading):
    manager = auth.ServerManager.in_memory()
    with pytest.raises(auth.AuthError.UnknownServer) as generated:
        manager.state("nowhere \u00e9")
    assert _fast_lift.install()
    with pytest.raises(auth.AuthError.UnknownServer) as fast:
        manager.state("nowhere \u00e9")
    assert str(fast.value) == str(generated.value)


def test_trailing_bytes_raise_as_before():
    def write(builder):
        builder.write_i32(1)  # NO_SESSION
        builder.write_u8(0)  # junk

    (fast, generated) = lift_errors(ffi._UniffiFfiConverterTypeSessionState, write)
    assert fast == generated
    assert fast[0] is RuntimeError and "junk data" in fast[1]


def test_truncated_bytes_raise_as_before():
    def write(builder):
        builder.write_i32(2)  # ACTIVE, without its Option<i64>

    (fast, generated) = lift_errors(ffi._UniffiFfiConverterTypeSessionState, write)
    assert fast == generated == (ffi.InternalError, "read past end of rust buffer")


def test_unknown_variant_raises_as_before():
    (fast, generated) = lift_errors(ffi._UniffiFfiConverterTypeSessionState, lambda builder: builder.write_i32(99))
    assert fast == generated
    assert fast[0] is ffi.InternalError


def test_invalid_utf8_raises_as_before():
    (fast, generated) = lift_errors(ffi._UniffiFfiConverterString, lambda builder: builder.write(b"\xff\xfe"))
    assert fast == generated
    assert fast[0] is UnicodeDecodeError


def test_every_scalar_reader_matches():
    """The readers no generated converter above exercises (i8, i16, floats)."""
    scalars = [("i8", -128), ("u8", 255), ("i16", -32768), ("u16", 65535), ("i32", -(1 << 31)), ("u32", (1 << 32) - 1)]
    scalars += [("i64", -(1 << 63)), ("u64", (1 << 64) - 1), ("float", 1.5), ("double", -2.25e300)]

    def write(builder):
        for kind, value in scalars:
            getattr(builder, f"write_{kind}")(value)

    with raw_buffer(write).consume_with_stream() as stream:
        assert isinstance(stream, _fast_lift.BytesStream)
        assert [getattr(stream, f"read_{kind}")() for kind, _ in scalars] == [value for _, value in scalars]
        with pytest.raises(ffi.InternalError):
            stream.read_u8()
        assert stream.remaining() == 0
