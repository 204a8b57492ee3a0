//! Abandoning a login (issue #16) over a secret store that fails: the
//! pending login is kept, the error says storage, and once the store heals
//! the abandon goes through. A panicking store is contained the same way.

mod common;

use std::sync::Arc;

use authstate::http::{HttpConfig, build_client};
use authstate::{Authenticator, Backends, LoginError, ManagerConfig, ManualClock, ServerManager};
use common::fake_idp::FakeIdp;
use common::faulty::{Fault, Faulty, Op};

#[tokio::test]
async fn a_store_that_cannot_save_keeps_the_pending_login_until_it_heals() {
    let idp = FakeIdp::start().await;
    idp.mount_discovery().await;
    let secrets = Faulty::new();
    let clock = ManualClock::at_epoch();
    let backends = Arc::new(Backends::new(build_client(HttpConfig::default()).unwrap(), Arc::new(clock.clone())));
    let config = ManagerConfig::new(Arc::new(secrets.clone()), Arc::new(Faulty::new()))
        .with_clock(Arc::new(clock))
        .with_refreshers(backends.clone());
    let manager = ServerManager::open(config).unwrap();
    manager.add_server("https://api.example", Some("api"), idp.provider()).unwrap();
    let auth = Authenticator::new(manager.clone(), backends);
    let url = auth.begin_login("api", None).await.unwrap();

    for fault in [Fault::Throw, Fault::Panic] {
        secrets.fail(fault, &[Op::Set, Op::Delete], 0, usize::MAX);
        let result = auth.abandon_login(url.as_str());
        assert!(matches!(result, Err(LoginError::Storage(_))), "{fault:?}: {result:?}");
        secrets.heal();
        assert_eq!(manager.preauth().pending(), Ok(1), "{fault:?}: nothing was abandoned");
    }
    assert_eq!(auth.abandon_login(url.as_str()), Ok(true));
    assert_eq!(manager.preauth().pending(), Ok(0));
}
