//! What a multi-device server says about this device's session: which
//! session it is, and how many others the account has (the "signed in on N
//! other devices" banner). Never holds a token or a session key.

use serde::{Deserialize, Serialize};

/// This device's session at an OpaqueToken server, as the server last
/// described it (at sign-in, password change, or a device-session listing).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct DeviceSummary {
    /// The server's id for this device's session, if it gave one.
    pub session_id: Option<i64>,
    /// The server's label for this device ("Mac", "iPhone"), if any.
    pub device_label: Option<String>,
    /// How many other active sessions the account has.
    pub other_sessions: u32,
    /// Whether the account is signed in on more than one device.
    pub multi_device: bool,
}

/// One device session of the account, as a device-session listing returns it.
/// The server never sends its key, and none is kept here.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct DeviceSession {
    /// The server's id for the session (to revoke it).
    pub id: i64,
    /// The server's label for the device, if any.
    pub device_label: Option<String>,
    /// When the session was created, as the server wrote it.
    pub created_at: Option<String>,
    /// When the session was last used, as the server wrote it.
    pub last_seen_at: Option<String>,
    /// Whether this is the session of the token this device holds.
    pub is_current: bool,
}
