//! Route guards: may the app show this route now, or where should it go?
//!
//! A pure decision over the route, the named server's state and whether any
//! server is active. The `returnTo` it emits is always a validated
//! [`ReturnTo`]; a location that is not a safe relative path is never echoed.

use url::form_urlencoded::byte_serialize;

use crate::model::{ServerId, StateKind};
use crate::preauth::ReturnTo;

/// Route templates. `{server}` and `{return_to}` are replaced by
/// percent-encoded values.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RouteTemplates {
    /// Where to go when no server is usable, e.g. `/`.
    pub home: String,
    /// Where to send the user to sign in to one server, e.g. `/?server={server}&returnTo={return_to}`.
    pub sign_in: String,
}

/// Why a route template was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum RouteTemplateError {
    /// The route it makes is not a safe path within the app (an absolute
    /// URL, `//host`, a backslash, …): it would send users off the app.
    #[error("the {which} route {template:?} is not a relative path within the app: {why}")]
    NotRelative {
        /// `home` or `sign-in`.
        which: &'static str,
        /// The template as given.
        template: String,
        /// What the return-path rules said.
        why: String,
    },
    /// The sign-in route does not say which server to sign in to.
    #[error("the sign-in route {0:?} has no {{server}} placeholder: the sign-in screen could not know which server")]
    NoServer(String),
}

impl RouteTemplates {
    /// Checked templates: each must make a relative path within the app (the
    /// return-path rules, with the placeholders filled), and `sign_in` must
    /// hold `{server}` (`{return_to}` is optional: without it the user is not
    /// brought back after signing in).
    pub fn new(home: &str, sign_in: &str) -> Result<Self, RouteTemplateError> {
        for (which, template) in [("home", home), ("sign-in", sign_in)] {
            let example = template.replace("{server}", "s").replace("{return_to}", "r");
            if let Err(e) = ReturnTo::parse(&example) {
                return Err(RouteTemplateError::NotRelative {
                    which,
                    template: template.to_owned(),
                    why: e.to_string(),
                });
            }
        }
        if !sign_in.contains("{server}") {
            return Err(RouteTemplateError::NoServer(sign_in.to_owned()));
        }
        Ok(Self { home: home.to_owned(), sign_in: sign_in.to_owned() })
    }
}

impl Default for RouteTemplates {
    fn default() -> Self {
        Self { home: "/".into(), sign_in: "/?server={server}&returnTo={return_to}".into() }
    }
}

/// What a router should do with a navigation.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum GuardDecision {
    /// Show the route.
    Allow,
    /// Go to `to` instead.
    Redirect {
        /// The target route.
        to: String,
    },
}

/// The state of the server a route names, if it names one.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum RouteServer {
    /// The route names no server.
    None,
    /// The route names a server that the manager does not know.
    Unknown,
    /// The route names this known server, in this state.
    Known(ServerId, StateKind),
}

fn encode(value: &str) -> String {
    byte_serialize(value.as_bytes()).collect()
}

/// Decides a navigation to `location`.
///
/// Public routes pass. A route naming an `Active` server passes; one naming a
/// known server that is not `Active` goes to the sign-in route for that server
/// with `returnTo=location`; one naming an unknown server goes home. A route
/// naming no server passes while any server is active, else goes home.
pub fn decide(
    location: &str,
    server: &RouteServer,
    is_public: bool,
    any_active: bool,
    routes: &RouteTemplates,
) -> GuardDecision {
    if is_public {
        return GuardDecision::Allow;
    }
    let home = || GuardDecision::Redirect { to: routes.home.clone() };
    match server {
        RouteServer::Known(_, StateKind::Active) => GuardDecision::Allow,
        RouteServer::Known(id, _) => {
            let return_to = ReturnTo::parse(location).map(|r| r.as_str().to_owned()).unwrap_or_else(|_| "/".into());
            let to =
                routes.sign_in.replace("{server}", &encode(id.as_str())).replace("{return_to}", &encode(&return_to));
            GuardDecision::Redirect { to }
        }
        RouteServer::Unknown => home(),
        RouteServer::None if any_active => GuardDecision::Allow,
        RouteServer::None => home(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn id() -> ServerId {
        ServerId::parse("https://notes.example.com").unwrap()
    }

    fn routes() -> RouteTemplates {
        RouteTemplates::default()
    }

    #[test]
    fn public_routes_always_pass() {
        assert_eq!(decide("/about", &RouteServer::Unknown, true, false, &routes()), GuardDecision::Allow);
    }

    #[test]
    fn active_server_route_passes() {
        let s = RouteServer::Known(id(), StateKind::Active);
        assert_eq!(decide("/s/notes/room/1", &s, false, false, &routes()), GuardDecision::Allow);
    }

    #[test]
    fn expired_server_route_redirects_with_server_and_return_path() {
        let s = RouteServer::Known(id(), StateKind::Expired);
        let GuardDecision::Redirect { to } = decide("/s/notes/room/1?x=1", &s, false, true, &routes()) else {
            panic!("expected redirect")
        };
        assert_eq!(to, "/?server=https%3A%2F%2Fnotes.example.com%2F&returnTo=%2Fs%2Fnotes%2Froom%2F1%3Fx%3D1");
    }

    #[test]
    fn hostile_location_is_never_echoed() {
        let s = RouteServer::Known(id(), StateKind::NoSession);
        let GuardDecision::Redirect { to } = decide("//evil.example/x", &s, false, false, &routes()) else {
            panic!("expected redirect")
        };
        assert!(!to.contains("evil"), "{to}");
        assert!(to.ends_with("returnTo=%2F"), "{to}");
    }

    #[test]
    fn serverless_routes_need_any_active_server() {
        assert_eq!(decide("/inbox", &RouteServer::None, false, true, &routes()), GuardDecision::Allow);
        assert_eq!(
            decide("/inbox", &RouteServer::None, false, false, &routes()),
            GuardDecision::Redirect { to: "/".into() }
        );
        assert_eq!(
            decide("/s/x", &RouteServer::Unknown, false, true, &routes()),
            GuardDecision::Redirect { to: "/".into() }
        );
    }

    #[test]
    fn templates_are_checked_to_stay_within_the_app() {
        let default = RouteTemplates::default();
        assert_eq!(RouteTemplates::new(&default.home, &default.sign_in), Ok(default));
        assert!(RouteTemplates::new("/welcome", "/login/{server}?next={return_to}").is_ok());
        assert!(RouteTemplates::new("/", "/login?server={server}").is_ok(), "returnTo is optional");
        for (home, sign_in) in [
            ("https://evil.example/", "/?server={server}"),
            ("/", "//evil.example/?server={server}"),
            ("/", "https://evil.example/login?server={server}&r={return_to}"),
            ("/", "\\evil.example\\?server={server}"),
            ("welcome", "/?server={server}"),
            ("", "/?server={server}"),
        ] {
            assert!(
                matches!(RouteTemplates::new(home, sign_in), Err(RouteTemplateError::NotRelative { .. })),
                "{home:?} {sign_in:?}"
            );
        }
        assert_eq!(
            RouteTemplates::new("/", "/login?next={return_to}"),
            Err(RouteTemplateError::NoServer("/login?next={return_to}".into()))
        );
    }

    #[test]
    fn templates_are_configuration() {
        let custom = RouteTemplates { home: "/welcome".into(), sign_in: "/login/{server}?next={return_to}".into() };
        let s = RouteServer::Known(id(), StateKind::NoSession);
        assert_eq!(
            decide("/a", &s, false, false, &custom),
            GuardDecision::Redirect { to: "/login/https%3A%2F%2Fnotes.example.com%2F?next=%2Fa".into() }
        );
        assert_eq!(
            decide("/a", &RouteServer::None, false, false, &custom),
            GuardDecision::Redirect { to: "/welcome".into() }
        );
    }
}
