//! Test doubles shared by the integration tests: refreshers the test drives
//! by hand, and a manager over memory stores with a manual clock.
#![allow(dead_code)]
pub mod devices;
pub mod django_peer;
pub mod endpoint_corpus;
pub mod fake_idp;
pub mod faulty;
pub mod log_capture;
pub mod oidc_peer;
pub mod peer_process;
pub mod raw_endpoints;

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};

use async_trait::async_trait;
use authstate::model::OidcConfig;
use authstate::refresh::{BackoffPolicy, RefresherFactory};
use authstate::storage::MemoryStore;
use authstate::{
    ManagerConfig, ManualClock, Provider, RefreshError, Refresher, Secret, ServerInfo, ServerManager, TokenGrant,
    Tokens, TransientKind,
};
use parking_lot::Mutex;
use tokio::sync::{Notify, oneshot};

pub fn oidc() -> Provider {
    Provider::Oidc(OidcConfig {
        issuer: "https://id.example".into(),
        client_id: "app".into(),
        redirect_uri: "http://127.0.0.1/callback".into(),
        scopes: vec![],
    })
}

pub fn grant(access: &str, refresh: Option<&str>, expires_in: i64) -> TokenGrant {
    TokenGrant {
        access: Secret::new(access),
        refresh: refresh.map(Secret::new),
        id_token: None,
        expires_in: Some(expires_in),
    }
}

/// Hands every server the same refresher.
pub struct Fixed(pub Arc<dyn Refresher>);

impl RefresherFactory for Fixed {
    fn refresher_for(&self, _server: &ServerInfo) -> Option<Arc<dyn Refresher>> {
        Some(Arc::clone(&self.0))
    }
}

/// A refresher whose calls wait until the test answers them, in any order.
#[derive(Default)]
pub struct Scripted {
    pub pending: Mutex<Vec<Pending>>,
    pub calls: AtomicUsize,
    /// Set if a call arrived while another was unanswered (single-flight broken).
    pub overlapped: AtomicUsize,
}

pub struct Pending {
    /// The access token the session held when it asked.
    pub presented_access: String,
    pub presented_refresh: Option<String>,
    reply: oneshot::Sender<Result<TokenGrant, RefreshError>>,
}

impl Scripted {
    /// Answers the `index`-th unanswered call. Returns what it presented.
    pub fn answer(&self, index: usize, result: Result<TokenGrant, RefreshError>) -> Option<(String, Option<String>)> {
        let mut pending = self.pending.lock();
        if pending.is_empty() {
            return None;
        }
        let at = index % pending.len();
        let p = pending.remove(at);
        let presented = (p.presented_access.clone(), p.presented_refresh.clone());
        let _ = p.reply.send(result);
        Some(presented)
    }

    pub fn unanswered(&self) -> usize {
        self.pending.lock().len()
    }

    pub fn calls(&self) -> usize {
        self.calls.load(Ordering::SeqCst)
    }
}

#[async_trait]
impl Refresher for Scripted {
    async fn refresh(&self, _server: &ServerInfo, tokens: &Tokens) -> Result<TokenGrant, RefreshError> {
        self.calls.fetch_add(1, Ordering::SeqCst);
        let (tx, rx) = oneshot::channel();
        {
            let mut pending = self.pending.lock();
            if !pending.is_empty() {
                self.overlapped.fetch_add(1, Ordering::SeqCst);
            }
            pending.push(Pending {
                presented_access: tokens.access.expose().to_owned(),
                presented_refresh: tokens.refresh.as_ref().map(|r| r.expose().to_owned()),
                reply: tx,
            });
        }
        rx.await.unwrap_or(Err(RefreshError::transient(TransientKind::Cancelled)))
    }
}

/// A refresher that counts calls and holds each one until released.
pub struct Gated {
    pub calls: AtomicUsize,
    pub gate: Notify,
    pub result: Mutex<Result<TokenGrant, RefreshError>>,
}

impl Gated {
    pub fn new(result: Result<TokenGrant, RefreshError>) -> Arc<Self> {
        Arc::new(Self { calls: AtomicUsize::new(0), gate: Notify::new(), result: Mutex::new(result) })
    }

    pub fn release(&self) {
        self.gate.notify_one();
    }

    pub fn calls(&self) -> usize {
        self.calls.load(Ordering::SeqCst)
    }
}

#[async_trait]
impl Refresher for Gated {
    async fn refresh(&self, _server: &ServerInfo, _tokens: &Tokens) -> Result<TokenGrant, RefreshError> {
        self.calls.fetch_add(1, Ordering::SeqCst);
        self.gate.notified().await;
        self.result.lock().clone()
    }
}

pub struct Harness {
    pub manager: ServerManager,
    pub secrets: MemoryStore,
    pub kv: MemoryStore,
    pub clock: ManualClock,
}

/// A manager over fresh memory stores, a manual clock, no backoff delay.
pub fn harness(refresher: Arc<dyn Refresher>) -> Harness {
    let secrets = MemoryStore::new();
    let kv = MemoryStore::new();
    let clock = ManualClock::at_epoch();
    let manager = reopen(&secrets, &kv, &clock, refresher);
    Harness { manager, secrets, kv, clock }
}

pub fn reopen(
    secrets: &MemoryStore,
    kv: &MemoryStore,
    clock: &ManualClock,
    refresher: Arc<dyn Refresher>,
) -> ServerManager {
    let config = ManagerConfig::new(Arc::new(secrets.clone()), Arc::new(kv.clone()))
        .with_clock(Arc::new(clock.clone()))
        .with_backoff(BackoffPolicy { initial: time::Duration::ZERO, max: time::Duration::ZERO })
        .with_refreshers(Arc::new(Fixed(refresher)));
    match ServerManager::open(config) {
        Ok(m) => m,
        Err(e) => panic!("open failed: {e}"),
    }
}
