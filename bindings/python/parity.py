"""The scenario suite's Python runner (tests/scenarios/README.md).

Runs every scenario of the flattened steps file ``$AUTHSTATE_SCENARIO_STEPS``
(``flatten`` makes it from ``tests/scenarios/*.json``: one tab-separated,
percent-encoded line per step, so that no runner needs a JSON parser)
through the ``authstate`` package against the scripted server at
``$AUTHSTATE_SCENARIO_SERVER``, writes the canonical transcript to
``$AUTHSTATE_TRANSCRIPT`` and exits 1 when an outcome differs from the
expected one. The outcome vocabulary is the same in every language's runner;
keep them in step.
"""

import asyncio
import json
import os
import sys
import tempfile
from pathlib import Path
from urllib.parse import parse_qs, quote, unquote, urlparse

#: The ``authstate`` package, imported when scenarios run (``flatten``
#: needs no binding).
auth = None

EPOCH = 1767225600  # 2026-01-01T00:00:00Z
REDIRECT = "com.example.app:/callback"
LANG = "py"


def flatten(paths):
    """The steps of every scenario in the JSON files ``paths`` (sorted), one
    line each: name, stores, operation, arguments (``k=v&…``), expected
    outcome, tab-separated, each percent-encoded."""
    lines = []
    for path in sorted(Path(p) for p in paths):
        for scenario in json.loads(path.read_text(encoding="utf-8"))["scenarios"]:
            name, stores = scenario["name"], scenario.get("stores", "memory")
            for op, args, expect in scenario["steps"]:
                fields = "&".join(f"{quote(k, safe='')}={quote(canonical(v), safe='')}" for k, v in args.items())
                lines.append("\t".join((quote(name, safe=""), stores, op, fields, quote(expect, safe=""))))
    return lines


def canonical(value):
    """An argument as every runner reads it: text; ``true``/``false``."""
    if isinstance(value, bool):
        return "true" if value else "false"
    return str(value)


def decode(field):
    return unquote(field)


def parse_args(field):
    args = {}
    for pair in filter(None, field.split("&")):
        key, _, value = pair.partition("=")
        args[decode(key)] = decode(value)
    return args


def short(token):
    """A token as transcripts print it: up to its first '.'."""
    return token.split(".", 1)[0]


def error_name(error):
    return type(error).__name__


def kind_name(kind):
    return {auth.ProviderKind.OIDC: "oidc", auth.ProviderKind.TOKEN_PAIR: "token_pair",
            auth.ProviderKind.OPAQUE_TOKEN: "opaque_token"}[kind]


def reason_name(reason):
    return reason.name.lower()


def view(state):
    """The canonical text of a state view (kind, provider, reason)."""
    if state.is_no_session():
        return "no_session"
    if state.is_active():
        return f"active {kind_name(state.provider)}"
    return f"expired {kind_name(state.provider)} {reason_name(state.reason)}"


class World:
    def __init__(self, base, stores):
        self.base = base
        self.clock = auth.ManualClock(EPOCH)
        self.dir = tempfile.mkdtemp(prefix="authstate-parity-") if stores == "files" else None
        self.watches = {}
        self.full_tokens = {}  # "A1" -> the whole token this scenario received
        self.revisions = None
        self.pending_state = None
        self.open()

    def open(self):
        options = auth.ManagerOptions(directory=self.dir)
        self.manager = auth.ServerManager(options, clock=self.clock)

    def url(self, alias):
        return f"{self.base}/{alias}/"

    def token_of(self, alias, which):
        session = self.manager.session(alias)
        if which == "current":
            return session.valid_access_token() or ""
        return self.full_tokens.get(which, which)

    def remember(self, token):
        self.full_tokens[short(token)] = token
        return token


async def step(world, op, a):
    m = world.manager
    alias = a.get("alias", "")
    if op == "add":
        kind = a["kind"]
        if kind == "token_pair":
            m.add_token_pair_server(world.url(alias), auth.simplejwt_settings("tp/api/token/"), alias=alias)
        elif kind == "opaque":
            m.add_opaque_token_server(world.url(alias), auth.device_token_settings("op/"), alias=alias)
        else:
            m.add_oidc_server(world.url(alias), f"{world.base}/oidc", "app", REDIRECT, alias=alias)
        return "ok"
    if op == "sign_in":
        await m.sign_in_with_password(alias, f"{LANG}|{a.get('script', '')}", a.get("password", "pw"))
        world.remember(m.session(alias).valid_access_token() or "")
        return "ok"
    if op == "state":
        return view(m.state(alias))
    if op == "valid_token":
        token = m.session(alias).valid_access_token()
        return f"token {short(world.remember(token))}" if token else "none"
    if op == "token":
        return f"token {short(world.remember(await m.session(alias).fresh_access_token()))}"
    if op == "refresh":
        await m.session(alias).refresh()
        return "ok"
    if op == "advance":
        world.clock.advance_secs(int(a["secs"]))
        return "ok"
    if op == "response":
        session = m.session(alias)
        verdict = await session.on_response(int(a["status"]), None, world.token_of(alias, a["token"]))
        if verdict.is_retry():
            return f"retry {short(world.remember(session.valid_access_token() or ''))}"
        if verdict.is_session_expired() or verdict.is_signed_out():
            return "sign_in_required"
        for name in ("pass", "permission_denied", "try_later"):
            if getattr(verdict, f"is_{name}")():
                return name
        return f"failed {verdict.detail}"
    if op == "probe":
        return m.session(alias) and (await m.session(alias).probe()).name.lower()
    if op == "sign_out":
        outcome = await m.sign_out(alias)
        for name in ("revoked", "nothing_to_revoke", "not_supported"):
            if getattr(outcome, f"is_{name}")():
                return name
        return f"failed {outcome.detail}"
    if op == "sign_out_locally":
        m.session(alias).sign_out_locally()
        return "ok"
    if op == "mark_expired":
        m.session(alias).mark_expired()
        return "ok"
    if op == "remove":
        m.remove_server(alias)
        return "ok"
    if op == "servers":
        return " ".join(s.alias for s in m.servers())
    if op == "any_authenticated":
        return "true" if m.any_authenticated() else "false"
    if op == "guard":
        decision = m.guard(a["location"], server_alias=a.get("alias"), is_public=a.get("public") == "true")
        if decision.is_allow():
            return "allow"
        return "redirect " + unquote(decision.to.replace("+", " ")).replace(world.base, "{base}")
    if op == "return_to":
        return "ok " + auth.validate_return_to(a["path"])
    if op == "draft_save":
        text = "x" * int(a["repeat"]) if "repeat" in a else a["text"]
        m.drafts().save(alias, a["room"], text)
        return "ok"
    if op in ("draft_peek", "draft_take"):
        drafts = m.drafts()
        text = (drafts.peek if op == "draft_peek" else drafts.take)(alias, a["room"])
        return "none" if text is None else f"draft {text}"
    if op == "begin_login":
        url = await m.begin_login(alias, a.get("return_to"))
        world.pending_state = parse_qs(urlparse(url).query)["state"][0]
        return "ok"
    if op == "complete_login":
        state = world.pending_state if a["callback"] == "denied" else "not-a-pending-state"
        await m.complete_login(f"{REDIRECT}?state={quote(state)}&error=access_denied")
        return "ok"
    if op == "on_resume":
        await m.on_resume()
        return "ok"
    if op == "restart":
        world.open()
        return "ok"
    if op == "restore_report":
        report = m.restore_report()
        return "clean" if report.is_clean else f"report {report}"
    if op == "watch":
        world.watches[alias] = m.watch_state(alias)
        return "ok"
    if op == "watch_next":
        observed = await world.watches[alias].next()
        return "end" if observed is None else view(observed.state)
    if op == "watch_cancel":
        world.watches[alias].cancel()
        return "ok"
    if op == "revisions":
        world.revisions = m.watch_revisions()
        return "ok"
    if op == "revisions_next":
        revision = await world.revisions.next()
        return "end" if revision is None else f"revision {revision}"
    if op == "pending_waits":
        return str(m.pending_waits())
    raise ValueError(f"unknown op {op}")


def outcome_of_error(error, detail, base):
    text = f"error {error_name(error)}"
    if detail:
        text += f": {error.detail}".replace(base, "{base}")
    return text


async def run_all(steps_path, base, transcript_path):
    """Runs the steps file; returns (scenarios, mismatches)."""
    global auth
    if auth is None:
        import authstate

        auth = authstate
    lines, failures, scenarios = [], 0, 0
    current, world = None, None
    with open(steps_path, encoding="utf-8") as steps:
        for raw in steps:
            if not raw.strip():
                continue
            name, stores, op, args_field, expect = raw.rstrip("\n").split("\t")
            name, stores, op, expect = decode(name), decode(stores), decode(op), decode(expect)
            if name != current:
                current, world = name, World(base, stores)
                scenarios += 1
                lines.append(f"## {name}")
            args = parse_args(args_field)
            try:
                outcome = await step(world, op, args)
            except auth.AuthError as error:
                outcome = outcome_of_error(error, args.get("detail") == "true", base)
            line = f"{op} {args_field} => {outcome}"
            lines.append(line)
            if outcome != expect:
                failures += 1
                print(f"MISMATCH {name}: {op} {args_field}: expected {expect!r}, got {outcome!r}", file=sys.stderr)
    with open(transcript_path, "w", encoding="utf-8") as out:
        out.write("\n".join(lines) + "\n")
    print(f"python: {scenarios} scenarios, {failures} mismatches")
    return scenarios, failures


def main():
    """``parity.py flatten OUT``: writes the steps file of tests/scenarios/*.json.
    ``parity.py``: runs it (``$AUTHSTATE_SCENARIO_STEPS``) against
    ``$AUTHSTATE_SCENARIO_SERVER`` and writes the transcript to
    ``$AUTHSTATE_TRANSCRIPT`` (else ``$AUTHSTATE_TRANSCRIPT_DIR/python.txt``)."""
    if sys.argv[1:2] == ["flatten"]:
        scenarios = (Path(__file__).resolve().parents[2] / "tests" / "scenarios").glob("*.json")
        Path(sys.argv[2]).write_text("\n".join(flatten(scenarios)) + "\n", encoding="utf-8")
        return
    transcript = os.environ.get("AUTHSTATE_TRANSCRIPT") or os.path.join(
        os.environ["AUTHSTATE_TRANSCRIPT_DIR"], "python.txt")
    _, failures = asyncio.run(run_all(os.environ["AUTHSTATE_SCENARIO_STEPS"], os.environ["AUTHSTATE_SCENARIO_SERVER"],
                                      transcript))
    sys.exit(1 if failures else 0)


if __name__ == "__main__":
    main()
