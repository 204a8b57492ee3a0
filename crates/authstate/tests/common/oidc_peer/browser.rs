//! The browser half of a login, played over HTTP with a cookie jar and the
//! provider's development interactions (no real browser).

use reqwest::header::LOCATION;
use url::Url;

use super::http_client;

const MAX_BROWSER_HOPS: usize = 16;

/// Plays the browser: follows the provider's redirects from `auth_url`, signs
/// in as `login` and consents (in whatever order, or not at all, the provider
/// asks), and returns the full callback URL it was sent to (`code`, `state`,
/// `iss`, or an `error`). The callback is recognised by the `redirect_uri` in
/// `auth_url` and is not requested.
pub async fn drive_login(auth_url: &str, login: &str) -> String {
    drive(auth_url, Answer::SignIn(login)).await
}

/// Like [`drive_login`], but the user cancels at the first interaction; the
/// callback URL carries `error=access_denied`.
pub async fn drive_login_deny(auth_url: &str) -> String {
    drive(auth_url, Answer::Abort).await
}

#[derive(Clone, Copy)]
enum Answer<'a> {
    SignIn(&'a str),
    Abort,
}

async fn drive(auth_url: &str, answer: Answer<'_>) -> String {
    let start = Url::parse(auth_url).expect("auth_url is a URL");
    let redirect_uri = start
        .query_pairs()
        .find(|(k, _)| k == "redirect_uri")
        .map(|(_, v)| v.into_owned())
        .expect("auth_url has a redirect_uri");
    let callback = Url::parse(&redirect_uri).expect("redirect_uri is a URL");
    let browser = http_client(true);

    let mut url = start;
    let mut form: Option<Vec<(&str, &str)>> = None;
    for _ in 0..MAX_BROWSER_HOPS {
        let request = match form.take() {
            Some(fields) => browser.post(url.clone()).form(&fields),
            None => browser.get(url.clone()),
        };
        let response = request.send().await.unwrap_or_else(|e| panic!("browser request to {url}: {e}"));
        let status = response.status();
        let Some(location) = response.headers().get(LOCATION).and_then(|l| l.to_str().ok()).map(str::to_owned) else {
            panic!("login stopped at {url}: HTTP {status}\n{}", response.text().await.unwrap_or_default());
        };
        let target = url.join(&location).expect("Location is a URL");
        if same_endpoint(&target, &callback) {
            return target.into();
        }
        if !target.path().starts_with("/interaction/") {
            url = target;
            continue;
        }
        match answer {
            Answer::Abort => {
                url = target.clone();
                url.set_path(&format!("{}/abort", target.path()));
            }
            Answer::SignIn(login) => {
                let page = browser.get(target.clone()).send().await.expect("GET the interaction page");
                let html = page.text().await.expect("interaction page body");
                form = Some(if html.contains(r#"name="prompt" value="login""#) {
                    vec![("prompt", "login"), ("login", login), ("password", "x")]
                } else if html.contains(r#"name="prompt" value="consent""#) {
                    vec![("prompt", "consent")]
                } else {
                    panic!("unknown interaction at {target}:\n{html}");
                });
                url = target;
            }
        }
    }
    panic!("no redirect to {redirect_uri} after {MAX_BROWSER_HOPS} hops (last: {url})");
}

fn same_endpoint(a: &Url, b: &Url) -> bool {
    a.scheme() == b.scheme()
        && a.host_str() == b.host_str()
        && a.port_or_known_default() == b.port_or_known_default()
        && a.path() == b.path()
}
