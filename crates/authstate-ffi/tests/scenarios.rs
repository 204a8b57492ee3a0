//! The scenario suite's Rust runner (issue #15, tests/scenarios/README.md):
//! every scenario through the FFI crate's public API — what each language's
//! binding calls — against the scripted server, with the transcript written
//! as every other runner writes it, byte for byte.
//!
//! Under `cargo xtask test` the steps file, the server and the transcript
//! directory come from `AUTHSTATE_SCENARIO_STEPS`, `AUTHSTATE_SCENARIO_SERVER`
//! and `AUTHSTATE_TRANSCRIPT_DIR` (the parity layer compares the
//! transcripts). Run alone, the test flattens the scenarios and starts the
//! server itself (Python 3, standard library only).

use std::collections::HashMap;
use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::Arc;

use authstate_ffi::{
    AuthError, GuardDecision, ManagerOptions, ManualClock, ProbeResult, ProviderKind, ResponseVerdict, RevisionWatch,
    RevocationOutcome, ServerManager, SessionState, StateWatch, device_token_settings, simplejwt_settings,
    validate_return_to,
};
use percent_encoding::{AsciiSet, NON_ALPHANUMERIC, percent_decode_str, utf8_percent_encode};

/// 2026-01-01T00:00:00Z, where every scenario's clock starts.
const EPOCH: i64 = 1_767_225_600;
const REDIRECT: &str = "com.example.app:/callback";
/// Keeps this runner's sign-ins apart from other runners' at the server.
const LANG: &str = "rs";
/// What Python's `quote` leaves as is.
const QUOTE_SAFE: &AsciiSet = &NON_ALPHANUMERIC.remove(b'_').remove(b'.').remove(b'-').remove(b'~').remove(b'/');

fn root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../..")
}

/// Python's `urllib.parse.unquote`.
fn unquote(text: &str) -> String {
    percent_decode_str(text).decode_utf8_lossy().into_owned()
}

/// A token as transcripts print it: up to its first '.'.
fn short(token: &str) -> &str {
    token.split('.').next().unwrap_or(token)
}

/// `StaleToken` -> `stale_token`.
fn snake(name: &str) -> String {
    let mut out = String::new();
    for (i, c) in name.chars().enumerate() {
        if c.is_ascii_uppercase() && i > 0 {
            out.push('_');
        }
        out.push(c.to_ascii_lowercase());
    }
    out
}

/// The variant's name, as `Debug` writes it first.
fn variant<T: std::fmt::Debug>(value: &T) -> String {
    let text = format!("{value:?}");
    text.split([' ', '{', '(']).next().unwrap_or_default().to_owned()
}

fn kind_name(kind: ProviderKind) -> &'static str {
    match kind {
        ProviderKind::Oidc => "oidc",
        ProviderKind::TokenPair => "token_pair",
        ProviderKind::OpaqueToken => "opaque_token",
    }
}

/// The canonical text of a state (kind, provider, reason).
fn view(state: SessionState) -> String {
    match state {
        SessionState::NoSession => "no_session".into(),
        SessionState::Active { provider } => format!("active {}", kind_name(provider)),
        SessionState::Expired { provider, reason } => {
            format!("expired {} {}", kind_name(provider), snake(&variant(&reason)))
        }
    }
}

fn detail(error: &AuthError) -> &str {
    match error {
        AuthError::InvalidInput { detail }
        | AuthError::AlreadyExists { detail }
        | AuthError::UnknownServer { detail }
        | AuthError::SignInRequired { detail, .. }
        | AuthError::SignInFailed { detail }
        | AuthError::PermissionDenied { detail }
        | AuthError::NotFound { detail }
        | AuthError::TryLater { detail, .. }
        | AuthError::Storage { detail }
        | AuthError::Configuration { detail }
        | AuthError::Cancelled { detail }
        | AuthError::Internal { detail } => detail,
    }
}

/// One scenario's manager, clock and what its steps remember.
struct World {
    base: String,
    clock: Arc<ManualClock>,
    dir: Option<tempfile::TempDir>,
    manager: Arc<ServerManager>,
    watches: HashMap<String, Arc<StateWatch>>,
    revisions: Option<Arc<RevisionWatch>>,
    full_tokens: HashMap<String, String>,
    pending_state: Option<String>,
}

impl World {
    fn new(base: &str, stores: &str) -> Self {
        let clock = ManualClock::new(EPOCH).expect("the epoch is a valid time");
        let dir = (stores == "files").then(|| tempfile::tempdir().expect("a temporary directory"));
        let manager = open(&dir, &clock);
        World {
            base: base.to_owned(),
            clock,
            dir,
            manager,
            watches: HashMap::new(),
            revisions: None,
            full_tokens: HashMap::new(),
            pending_state: None,
        }
    }

    fn url(&self, alias: &str) -> String {
        format!("{}/{alias}/", self.base)
    }

    fn remember(&mut self, token: String) -> String {
        self.full_tokens.insert(short(&token).to_owned(), token.clone());
        token
    }

    fn token_of(&self, alias: &str, which: &str) -> Result<String, AuthError> {
        let session = self.manager.session(alias.to_owned())?;
        if which == "current" {
            return Ok(session.valid_access_token().unwrap_or_default());
        }
        Ok(self.full_tokens.get(which).cloned().unwrap_or_else(|| which.to_owned()))
    }
}

fn open(dir: &Option<tempfile::TempDir>, clock: &Arc<ManualClock>) -> Arc<ServerManager> {
    let options =
        ManagerOptions { directory: dir.as_ref().map(|d| d.path().display().to_string()), ..ManagerOptions::default() };
    ServerManager::new(options, None, None, Some(Arc::clone(clock))).expect("a manager")
}

/// Runs one step; its outcome, or the error the API returned.
async fn step(w: &mut World, op: &str, a: &HashMap<String, String>) -> Result<String, AuthError> {
    let m = Arc::clone(&w.manager);
    let alias = a.get("alias").cloned().unwrap_or_default();
    let arg = |name: &str| a.get(name).cloned().unwrap_or_default();
    Ok(match op {
        "add" => {
            match arg("kind").as_str() {
                "token_pair" => {
                    m.add_token_pair_server(w.url(&alias), simplejwt_settings("tp/api/token/".into()), Some(alias))?;
                }
                "opaque" => {
                    m.add_opaque_token_server(w.url(&alias), device_token_settings("op/".into()), Some(alias))?;
                }
                _ => {
                    let issuer = format!("{}/oidc", w.base);
                    m.add_oidc_server(w.url(&alias), issuer, "app".into(), REDIRECT.into(), Some(alias), vec![])?;
                }
            };
            "ok".into()
        }
        "sign_in" => {
            let password = a.get("password").cloned().unwrap_or_else(|| "pw".into());
            m.sign_in_with_password(alias.clone(), format!("{LANG}|{}", arg("script")), password, None).await?;
            let token = m.session(alias)?.valid_access_token().unwrap_or_default();
            w.remember(token);
            "ok".into()
        }
        "state" => view(m.state(alias)?),
        "valid_token" => match m.session(alias)?.valid_access_token() {
            Some(token) => format!("token {}", short(&w.remember(token))),
            None => "none".into(),
        },
        "token" => {
            let token = m.session(alias)?.fresh_access_token().await?;
            format!("token {}", short(&w.remember(token)))
        }
        "refresh" => {
            m.session(alias)?.refresh().await?;
            "ok".into()
        }
        "advance" => {
            w.clock.advance_secs(arg("secs").parse().expect("secs is a number"));
            "ok".into()
        }
        "response" => {
            let session = m.session(alias.clone())?;
            let token = w.token_of(&alias, &arg("token"))?;
            match session.on_response(arg("status").parse().expect("status is a number"), None, token).await {
                ResponseVerdict::Retry => {
                    let token = session.valid_access_token().unwrap_or_default();
                    format!("retry {}", short(&w.remember(token)))
                }
                ResponseVerdict::SessionExpired { .. } | ResponseVerdict::SignedOut => "sign_in_required".into(),
                ResponseVerdict::Pass => "pass".into(),
                ResponseVerdict::PermissionDenied => "permission_denied".into(),
                ResponseVerdict::TryLater { .. } => "try_later".into(),
                ResponseVerdict::Failed { detail } => format!("failed {detail}"),
            }
        }
        "probe" => {
            let result = m.session(alias)?.probe().await?;
            match result {
                ProbeResult::Valid => "valid",
                ProbeResult::Stale => "stale",
                ProbeResult::Unreachable => "unreachable",
            }
            .into()
        }
        "sign_out" => match m.sign_out(alias).await? {
            RevocationOutcome::Revoked => "revoked".into(),
            RevocationOutcome::NothingToRevoke => "nothing_to_revoke".into(),
            RevocationOutcome::NotSupported => "not_supported".into(),
            RevocationOutcome::Failed { detail } => format!("failed {detail}"),
        },
        "sign_out_locally" => {
            m.session(alias)?.sign_out_locally()?;
            "ok".into()
        }
        "mark_expired" => {
            m.session(alias)?.mark_expired()?;
            "ok".into()
        }
        "remove" => {
            m.remove_server(alias)?;
            "ok".into()
        }
        "servers" => m.servers().into_iter().map(|s| s.alias).collect::<Vec<_>>().join(" "),
        "any_authenticated" => m.any_authenticated().to_string(),
        "guard" => {
            let server = a.get("alias").cloned();
            match m.guard(arg("location"), server, arg("public") == "true") {
                GuardDecision::Allow => "allow".into(),
                GuardDecision::Redirect { to } => {
                    format!("redirect {}", unquote(&to.replace('+', " ")).replace(&w.base, "{base}"))
                }
            }
        }
        "return_to" => format!("ok {}", validate_return_to(arg("path"))?),
        "draft_save" => {
            let text = match a.get("repeat") {
                Some(n) => "x".repeat(n.parse().expect("repeat is a number")),
                None => arg("text"),
            };
            m.drafts().save(alias, arg("room"), text)?;
            "ok".into()
        }
        "draft_peek" | "draft_take" => {
            let drafts = m.drafts();
            let text =
                if op == "draft_peek" { drafts.peek(alias, arg("room"))? } else { drafts.take(alias, arg("room"))? };
            text.map_or_else(|| "none".into(), |t| format!("draft {t}"))
        }
        "begin_login" => {
            let url = m.begin_login(alias, a.get("return_to").cloned()).await?;
            let query = url.split_once('?').map(|(_, q)| q).unwrap_or_default();
            w.pending_state = query.split('&').find_map(|p| p.strip_prefix("state=")).map(unquote);
            "ok".into()
        }
        "complete_login" => {
            let state = match arg("callback").as_str() {
                "denied" => w.pending_state.clone().unwrap_or_default(),
                _ => "not-a-pending-state".into(),
            };
            let state = utf8_percent_encode(&state, QUOTE_SAFE);
            m.complete_login(format!("{REDIRECT}?state={state}&error=access_denied")).await?;
            "ok".into()
        }
        "on_resume" => {
            m.on_resume().await?;
            "ok".into()
        }
        "restart" => {
            w.manager = open(&w.dir, &w.clock);
            "ok".into()
        }
        "restore_report" => {
            let report = m.restore_report();
            if report.is_clean { "clean".into() } else { format!("report {report:?}") }
        }
        "watch" => {
            let watch = m.watch_state(alias.clone())?;
            w.watches.insert(alias, watch);
            "ok".into()
        }
        "watch_next" => match w.watches[&alias].next().await {
            Some(observed) => view(observed.state),
            None => "end".into(),
        },
        "watch_cancel" => {
            w.watches[&alias].cancel();
            "ok".into()
        }
        "revisions" => {
            w.revisions = Some(m.watch_revisions());
            "ok".into()
        }
        "revisions_next" => match w.revisions.as_ref().expect("`revisions` came first").next().await {
            Some(revision) => format!("revision {revision}"),
            None => "end".into(),
        },
        "pending_waits" => m.pending_waits().to_string(),
        other => panic!("unknown operation {other:?}"),
    })
}

/// Runs the steps file; returns (scenarios, mismatches, transcript).
async fn run_all(steps: &str, base: &str) -> (usize, Vec<String>, String) {
    let (mut lines, mut mismatches, mut scenarios) = (Vec::new(), Vec::new(), 0);
    let mut current: Option<(String, World)> = None;
    for raw in steps.lines().filter(|l| !l.trim().is_empty()) {
        let fields: Vec<&str> = raw.split('\t').collect();
        let [name, stores, op, args_field, expect] = fields[..] else { panic!("a steps line has 5 fields: {raw:?}") };
        let (name, expect) = (unquote(name), unquote(expect));
        if current.as_ref().is_none_or(|(n, _)| *n != name) {
            current = Some((name.clone(), World::new(base, &unquote(stores))));
            scenarios += 1;
            lines.push(format!("## {name}"));
        }
        let Some((_, world)) = current.as_mut() else { unreachable!() };
        let args: HashMap<String, String> = args_field
            .split('&')
            .filter(|p| !p.is_empty())
            .map(|p| {
                let (k, v) = p.split_once('=').unwrap_or((p, ""));
                (unquote(k), unquote(v))
            })
            .collect();
        let outcome = match step(world, &unquote(op), &args).await {
            Ok(outcome) => outcome,
            Err(error) => {
                let mut text = format!("error {}", variant(&error));
                if args.get("detail").map(String::as_str) == Some("true") {
                    text += &format!(": {}", detail(&error)).replace(base, "{base}");
                }
                text
            }
        };
        lines.push(format!("{} {args_field} => {outcome}", unquote(op)));
        if outcome != expect {
            mismatches.push(format!("{name}: {} {args_field}: expected {expect:?}, got {outcome:?}", unquote(op)));
        }
    }
    (scenarios, mismatches, lines.join("\n") + "\n")
}

/// The scripted server, killed on drop.
struct Server(Child);

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// The steps file and the server's base URL: from `cargo xtask test`, else
/// made here.
fn inputs(scratch: &Path) -> Option<(PathBuf, String, Option<Server>)> {
    if let (Ok(steps), Ok(server)) =
        (std::env::var("AUTHSTATE_SCENARIO_STEPS"), std::env::var("AUTHSTATE_SCENARIO_SERVER"))
    {
        return Some((steps.into(), server, None));
    }
    let steps = scratch.join("steps.tsv");
    let flattened = Command::new("python3")
        .arg(root().join("bindings/python/parity.py"))
        .arg("flatten")
        .arg(&steps)
        .status()
        .ok()?;
    assert!(flattened.success(), "parity.py flatten failed");
    let mut child = Command::new("python3")
        .arg(root().join("tests/scenarios/script_server.py"))
        .stdout(Stdio::piped())
        .spawn()
        .ok()?;
    let mut ready = String::new();
    BufReader::new(child.stdout.take()?).read_line(&mut ready).ok()?;
    let port = ready.strip_prefix("READY ")?.trim().to_owned();
    Some((steps, format!("http://127.0.0.1:{port}"), Some(Server(child))))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_scenario_gives_its_expected_outcomes() {
    let scratch = tempfile::tempdir().unwrap();
    let Some((steps, base, _server)) = inputs(scratch.path()) else {
        eprintln!("SKIP scenarios: python3 is needed to flatten the scenarios and run the scripted server");
        return;
    };
    let text = std::fs::read_to_string(&steps).unwrap();
    let (scenarios, mismatches, transcript) = run_all(&text, &base).await;
    if let Ok(dir) = std::env::var("AUTHSTATE_TRANSCRIPT_DIR") {
        std::fs::write(Path::new(&dir).join("rust.txt"), &transcript).unwrap();
    }
    println!("rust: {scenarios} scenarios, {} mismatches", mismatches.len());
    assert!(scenarios >= 40, "{scenarios} scenarios");
    assert!(mismatches.is_empty(), "{}", mismatches.join("\n"));

    // Changing one expected outcome fails the run (the first scenario's first step).
    let first_name = text.split('\t').next().unwrap_or_default();
    let mut first: Vec<String> =
        text.lines().filter(|l| l.split('\t').next() == Some(first_name)).map(str::to_owned).collect();
    first[0].push_str("-changed");
    let (_, changed, _) = run_all(&(first.join("\n") + "\n"), &base).await;
    assert_eq!(changed.len(), 1, "a changed expected outcome is a mismatch: {changed:?}");
}
