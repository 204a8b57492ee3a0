//! authstate: client-side authentication for apps that talk to one or more servers.

pub mod cancel;
pub mod clock;
pub mod model;
pub mod storage;
