"""Scenario h: the DraftStore keeps unsent text per (server, room) for 24
hours, timed by a ManualClock; over the cap is refused, never truncated."""

import time

import pytest

import authstate as auth

DAY = 24 * 60 * 60


def drafts_with_clock():
    clock = auth.ManualClock(int(time.time()))
    manager = auth.ServerManager(auth.ManagerOptions(), clock=clock)
    for alias in ["notes", "chat"]:
        manager.add_oidc_server(f"https://{alias}.example.com", "https://id.example.com", "app", "app:/cb", alias=alias)
    return manager.drafts(), clock


def test_h_save_peek_take_round_trip():
    drafts, _ = drafts_with_clock()
    assert drafts.peek("notes", "room-1") is None
    drafts.save("notes", "room-1", "hello ✓")
    assert drafts.peek("notes", "room-1") == "hello ✓"
    assert drafts.peek("notes", "room-1") == "hello ✓", "peek leaves it in place"
    assert drafts.peek("chat", "room-1") is None, "per server"
    assert drafts.peek("notes", "room-2") is None, "per room"
    assert drafts.take("notes", "room-1") == "hello ✓"
    assert drafts.take("notes", "room-1") is None, "take removes it"


def test_h_saving_again_replaces_and_empty_text_deletes():
    drafts, _ = drafts_with_clock()
    drafts.save("notes", "r", "one")
    drafts.save("notes", "r", "two")
    assert drafts.peek("notes", "r") == "two"
    drafts.save("notes", "r", "")
    assert drafts.peek("notes", "r") is None


def test_h_a_draft_lives_24_hours_from_its_last_save():
    drafts, clock = drafts_with_clock()
    drafts.save("notes", "r", "text")
    clock.advance_secs(DAY - 1)
    assert drafts.peek("notes", "r") == "text", "readable until t + 24h - 1s"
    clock.advance_secs(1)
    assert drafts.peek("notes", "r") is None, "gone at t + 24h"
    assert drafts.take("notes", "r") is None


def test_h_saving_restarts_the_ttl():
    drafts, clock = drafts_with_clock()
    drafts.save("notes", "r", "first")
    clock.advance_secs(DAY - 10)
    drafts.save("notes", "r", "second")
    clock.advance_secs(DAY - 1)
    assert drafts.peek("notes", "r") == "second"


def test_h_purge_expired_deletes_only_expired_drafts():
    drafts, clock = drafts_with_clock()
    drafts.save("notes", "old-1", "a")
    drafts.save("chat", "old-2", "b")
    clock.advance_secs(DAY // 2)
    drafts.save("notes", "young", "c")
    assert drafts.purge_expired() == 0
    clock.advance_secs(DAY // 2)
    assert drafts.purge_expired() == 2
    assert drafts.purge_expired() == 0
    assert drafts.peek("notes", "young") == "c"


def test_h_over_the_cap_is_refused_and_the_previous_draft_kept():
    drafts, _ = drafts_with_clock()
    cap = drafts.max_bytes()
    assert cap == 64 * 1024
    drafts.save("notes", "r", "kept")
    with pytest.raises(auth.AuthError.InvalidInput):
        drafts.save("notes", "r", "x" * (cap + 1))
    with pytest.raises(auth.AuthError.InvalidInput):
        drafts.save("notes", "r", "é" * (cap // 2 + 1))  # the cap counts UTF-8 bytes
    assert drafts.peek("notes", "r") == "kept"
    drafts.save("notes", "r", "x" * cap)
    assert drafts.take("notes", "r") == "x" * cap


def test_h_bad_room_or_server_is_a_typed_error():
    drafts, _ = drafts_with_clock()
    for room in ["", "r" * 257]:
        with pytest.raises(auth.AuthError.InvalidInput):
            drafts.save("notes", room, "text")
    with pytest.raises(auth.AuthError.UnknownServer):
        drafts.peek("ghost", "r")
