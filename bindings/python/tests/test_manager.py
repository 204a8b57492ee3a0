"""Scenarios a (servers), f (guards), g (return paths and PreAuthState) over
the generated module, no provider needed; the state survives a file store."""

import pytest

import authstate as auth

HOSTILE_RETURN_PATHS = ["https://evil.example", "//evil.example", "/\\evil", "javascript:alert(1)", "/%2F%2Fevil"]


def manager_with_server():
    manager = auth.ServerManager.in_memory()
    info = manager.add_oidc_server(
        "https://notes.example.com", "https://id.example.com", "app", "com.example:/cb", alias="notes"
    )
    return manager, info


# a. servers ---------------------------------------------------------------


def test_a_added_server_is_normalised_oidc_and_signed_out():
    manager, info = manager_with_server()
    assert info == auth.ServerInfo(url="https://notes.example.com/", alias="notes", provider=auth.ProviderKind.OIDC)
    assert manager.state("notes") == auth.SessionState.NO_SESSION()
    assert manager.session("notes").info() == info
    assert manager.session("notes").token_info() is None
    assert not manager.session("notes").is_authenticated()
    assert not manager.any_authenticated()
    assert manager.servers() == [info]


def test_a_alias_defaults_to_one_derived_from_the_url():
    manager = auth.ServerManager.in_memory()
    info = manager.add_oidc_server("https://Chat.Example.com:443/", "https://id.example.com", "app", "app:/cb")
    assert info.url == "https://chat.example.com/"
    assert info.alias and manager.state(info.alias) == auth.SessionState.NO_SESSION()


def test_a_duplicate_alias_or_url_is_already_exists():
    manager, _ = manager_with_server()
    with pytest.raises(auth.AuthError.AlreadyExists):
        manager.add_oidc_server("https://other.example", "https://id.example.com", "app", "app:/cb", alias="notes")
    with pytest.raises(auth.AuthError.AlreadyExists):
        manager.add_oidc_server("https://NOTES.example.com/", "https://id.example.com", "app", "app:/cb", alias="n2")
    assert [s.alias for s in manager.servers()] == ["notes"]


def test_a_unknown_alias_is_unknown_server_everywhere():
    manager, _ = manager_with_server()
    for call in [
        lambda: manager.state("nope"),
        lambda: manager.session("nope"),
        lambda: manager.remove_server("nope"),
        lambda: manager.drafts().save("nope", "room", "text"),
    ]:
        with pytest.raises(auth.AuthError.UnknownServer):
            call()


def test_a_removing_a_server_forgets_it_and_bumps_the_revision():
    manager, _ = manager_with_server()
    before = manager.connection_revision()
    manager.remove_server("notes")
    assert manager.servers() == []
    assert manager.connection_revision() > before
    with pytest.raises(auth.AuthError.UnknownServer):
        manager.state("notes")


def test_a_state_survives_reopening_a_file_store(tmp_path):
    first = auth.ServerManager.with_files(str(tmp_path))
    first.add_oidc_server("https://c.example", "https://id.example.com", "app", "app:/cb", alias="c")
    again = auth.ServerManager.with_files(str(tmp_path))
    assert [s.alias for s in again.servers()] == ["c"]
    assert again.state("c") == auth.SessionState.NO_SESSION()


# f. guards ----------------------------------------------------------------


def test_f_public_routes_pass_whatever_the_state():
    manager, _ = manager_with_server()
    assert manager.guard("/about", None, True) == auth.GuardDecision.ALLOW()
    assert manager.guard("/s/notes/inbox", "notes", True) == auth.GuardDecision.ALLOW()
    assert manager.guard("/s/ghost/inbox", "ghost", is_public=True) == auth.GuardDecision.ALLOW()


def test_f_a_signed_out_server_redirects_to_sign_in_with_return_to():
    manager, _ = manager_with_server()
    decision = manager.guard("/s/notes/room/1?x=1", "notes", False)
    assert decision == auth.GuardDecision.REDIRECT(
        to="/?server=https%3A%2F%2Fnotes.example.com%2F&returnTo=%2Fs%2Fnotes%2Froom%2F1%3Fx%3D1"
    )


def test_f_no_server_active_or_an_unknown_server_redirects_home():
    manager, _ = manager_with_server()
    assert manager.guard("/inbox") == auth.GuardDecision.REDIRECT(to="/")
    assert manager.guard("/s/ghost/inbox", "ghost") == auth.GuardDecision.REDIRECT(to="/")


def test_f_a_hostile_location_is_never_echoed_in_return_to():
    manager, _ = manager_with_server()
    for hostile in HOSTILE_RETURN_PATHS:
        decision = manager.guard(hostile, "notes", False)
        assert isinstance(decision, auth.GuardDecision.REDIRECT)
        assert decision.to.endswith("&returnTo=%2F"), decision.to
        assert "evil" not in decision.to


# g. return paths and PreAuthState ----------------------------------------


def test_g_validate_return_to_accepts_relative_paths_and_refuses_the_rest():
    assert auth.validate_return_to("/rooms/42?tab=1") == "/rooms/42?tab=1"
    for hostile in HOSTILE_RETURN_PATHS:
        with pytest.raises(auth.AuthError.InvalidInput):
            auth.validate_return_to(hostile)


@pytest.mark.parametrize("hostile", ["https://evil.example", "//evil.example", "/\\evil", "javascript:alert(1)"])
def test_g_preauth_refuses_an_absolute_return_path(hostile):
    with pytest.raises(auth.AuthError.InvalidInput):
        auth.PreAuthState("https://notes.example.com", auth.ProviderKind.OIDC, hostile)


def test_g_preauth_accepts_a_relative_return_path_and_holds_pkce_s256():
    state = auth.PreAuthState("https://Notes.example.com", auth.ProviderKind.OIDC, "/rooms/42")
    assert state.return_to() == "/rooms/42"
    assert state.server_url() == "https://notes.example.com/"
    assert state.pkce_challenge_method() == "S256"
    challenge = state.pkce_challenge()
    assert len(challenge) == 43 and set(challenge) <= set(
        "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_"
    )
    assert 0 <= state.age_secs() < 60
    other = auth.PreAuthState("https://notes.example.com", auth.ProviderKind.TOKEN_PAIR, None)
    assert other.return_to() is None
    assert other.pkce_challenge() != challenge


def test_g_preauth_refuses_a_bad_server_url():
    for url in ["", "not a url", "ftp://x.example", "http://public.example"]:
        with pytest.raises(auth.AuthError.InvalidInput):
            auth.PreAuthState(url, auth.ProviderKind.OIDC, "/rooms/42")


def test_the_guard_follows_route_templates_and_refuses_ones_that_leave_the_app():
    options = auth.ManagerOptions(home_route="/welcome", sign_in_route="/login/{server}?next={return_to}")
    manager = auth.ServerManager(options)
    manager.add_oidc_server("https://chat.example", "https://id.example.com", "app", "app:/cb", alias="chat")
    assert manager.guard("/rooms/1", "chat", False) == auth.GuardDecision.REDIRECT(
        to="/login/https%3A%2F%2Fchat.example%2F?next=%2Frooms%2F1")
    assert manager.guard("/rooms/1", None, False) == auth.GuardDecision.REDIRECT(to="/welcome")
    for bad in (dict(home_route="https://evil.example/"), dict(sign_in_route="//evil.example/?s={server}"),
                dict(sign_in_route="/login?next={return_to}")):
        with pytest.raises(auth.AuthError.InvalidInput):
            auth.ServerManager(auth.ManagerOptions(**bad))
