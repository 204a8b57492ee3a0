//! What a server's token answer may hold, for every backend: token strings
//! that can travel in an `Authorization` header, and an `expires_in` read
//! the way servers really write it.
//!
//! Guarantees:
//!
//! - a token (access, refresh, ID) with a control character, whitespace or a
//!   non-ASCII character is refused, never handed to the host; the error
//!   names the token, never quotes it;
//! - `expires_in` may be an integer, an integer written as a string
//!   (`"3600"`) or a decimal (rounded to whole seconds); a negative value, or
//!   anything else, is refused with an error naming `expires_in`; a value
//!   over [`MAX_EXPIRES_IN`] (10 years) is clamped to it, with a warning.

use std::fmt;

use serde_json::Value;

use crate::model::Secret;

/// The longest access-token lifetime believed: 10 years, in seconds. Longer
/// lifetimes (`1e30`, 2⁶³) are clamped to it.
pub const MAX_EXPIRES_IN: i64 = 10 * 365 * 24 * 60 * 60;

/// Why a 2xx token answer cannot be used. Never holds a token.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum AnswerError {
    /// The body is not a JSON object.
    #[error("the server's answer is not a JSON object")]
    NotJson,
    /// There is no access token, or it is empty.
    #[error("the server's answer has no access token")]
    NoAccessToken,
    /// `expires_in` is negative or not a number of seconds.
    #[error("the server's answer is invalid: expires_in {0}")]
    ExpiresIn(String),
    /// A token is not a string.
    #[error("the server's answer is invalid: the {0} is not a string")]
    NotAString(&'static str),
    /// A token holds a control character, whitespace or a non-ASCII
    /// character: it cannot be sent in a header as it is.
    #[error(
        "the server's answer is invalid: the {0} contains a control character, whitespace or a non-ASCII character"
    )]
    TokenCharacters(&'static str),
}

/// `value` as the token called `name` (`"access token"`, …): visible ASCII
/// only (RFC 6750 `b64token` and RFC 6749 `VSCHAR` without the space).
pub(crate) fn token(name: &'static str, value: &str) -> Result<Secret, AnswerError> {
    if value.bytes().all(|b| b.is_ascii_graphic()) {
        Ok(Secret::new(value))
    } else {
        Err(AnswerError::TokenCharacters(name))
    }
}

/// An optional token field: absent, `null` or `""` is `None`; a string is
/// checked with [`token`]; anything else is refused.
pub(crate) fn optional_token(name: &'static str, value: Option<&Value>) -> Result<Option<Secret>, AnswerError> {
    match value {
        None | Some(Value::Null) => Ok(None),
        Some(Value::String(s)) if s.is_empty() => Ok(None),
        Some(Value::String(s)) => token(name, s).map(Some),
        Some(_) => Err(AnswerError::NotAString(name)),
    }
}

/// The access token `value`: non-empty, visible ASCII.
pub(crate) fn access_str(value: &str) -> Result<Secret, AnswerError> {
    if value.is_empty() { Err(AnswerError::NoAccessToken) } else { token("access token", value) }
}

/// The access token in `value`: a non-empty string of visible ASCII.
pub(crate) fn access_token(value: Option<&Value>) -> Result<Secret, AnswerError> {
    match value {
        None | Some(Value::Null) => Err(AnswerError::NoAccessToken),
        Some(Value::String(s)) if s.is_empty() => Err(AnswerError::NoAccessToken),
        Some(Value::String(s)) => token("access token", s),
        Some(_) => Err(AnswerError::NotAString("access token")),
    }
}

/// The access token's lifetime in whole seconds from `expires_in`, clamped
/// to [`MAX_EXPIRES_IN`]; `None` when absent or `null`.
pub(crate) fn expires_in(server: &impl fmt::Display, value: Option<&Value>) -> Result<Option<i64>, AnswerError> {
    let seconds = match value {
        None | Some(Value::Null) => return Ok(None),
        Some(Value::Number(n)) => n.as_f64(),
        Some(Value::String(s)) if is_decimal(s) => s.parse::<f64>().ok(),
        Some(Value::String(_)) => return Err(AnswerError::ExpiresIn("is a string that is not a number".into())),
        Some(Value::Bool(_)) => return Err(AnswerError::ExpiresIn("is a boolean, not a number".into())),
        Some(Value::Array(_) | Value::Object(_)) => {
            return Err(AnswerError::ExpiresIn("is not a number of seconds".into()));
        }
    };
    let Some(seconds) = seconds.filter(|s| s.is_finite()) else {
        return Err(AnswerError::ExpiresIn("is not a finite number".into()));
    };
    lifetime(server, seconds).map(Some)
}

/// A lifetime of `seconds` (rounded), refused when negative and clamped to
/// [`MAX_EXPIRES_IN`].
pub(crate) fn lifetime(server: &impl fmt::Display, seconds: f64) -> Result<i64, AnswerError> {
    let rounded = seconds.round();
    if rounded < 0.0 {
        return Err(AnswerError::ExpiresIn(format!("is negative ({})", shown(seconds))));
    }
    if rounded > MAX_EXPIRES_IN as f64 {
        tracing::warn!(server = %server, expires_in = %shown(seconds), max = MAX_EXPIRES_IN, "access-token lifetime over 10 years clamped");
        return Ok(MAX_EXPIRES_IN);
    }
    // In 0..=MAX_EXPIRES_IN, so the conversion is exact.
    Ok(rounded as i64)
}

/// A number as it would be written, short: `3600`, `-5`, `1e30`.
fn shown(seconds: f64) -> String {
    if seconds.abs() < 1e15 && seconds.fract() == 0.0 { format!("{seconds:.0}") } else { format!("{seconds:e}") }
}

/// An optionally signed decimal number with at most one point and no
/// exponent: `3600`, `-5`, `3600.0`. (`f64::from_str` also takes `inf`,
/// `NaN` and `1e3`, which no server means as a lifetime.)
fn is_decimal(s: &str) -> bool {
    let digits = s.strip_prefix('-').unwrap_or(s);
    let (whole, fraction) = digits.split_once('.').unwrap_or((digits, ""));
    !whole.is_empty()
        && whole.len() <= 32
        && whole.bytes().all(|b| b.is_ascii_digit())
        && fraction.bytes().all(|b| b.is_ascii_digit())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::ServerId;
    use serde_json::json;

    fn read(value: Value) -> Result<Option<i64>, AnswerError> {
        let server = ServerId::parse("https://api.example").expect("server");
        expires_in(&server, Some(&value))
    }

    #[test]
    fn expires_in_is_read_as_servers_write_it() {
        assert_eq!(read(json!(3600)), Ok(Some(3600)));
        assert_eq!(read(json!("3600")), Ok(Some(3600)));
        assert_eq!(read(json!(3599.6)), Ok(Some(3600)));
        assert_eq!(read(json!("3600.0")), Ok(Some(3600)));
        assert_eq!(read(json!(0)), Ok(Some(0)));
        assert_eq!(read(json!(-0.2)), Ok(Some(0)));
        assert_eq!(read(Value::Null), Ok(None));
    }

    #[test]
    fn absurd_lifetimes_are_clamped_to_ten_years() {
        assert_eq!(read(json!(1e30)), Ok(Some(MAX_EXPIRES_IN)));
        assert_eq!(read(json!(9_223_372_036_854_775_808_u64)), Ok(Some(MAX_EXPIRES_IN)));
        assert_eq!(read(json!(u64::MAX)), Ok(Some(MAX_EXPIRES_IN)));
        assert_eq!(read(json!("99999999999999999999")), Ok(Some(MAX_EXPIRES_IN)));
        assert_eq!(read(json!(MAX_EXPIRES_IN)), Ok(Some(MAX_EXPIRES_IN)));
    }

    #[test]
    fn negative_and_non_numeric_lifetimes_are_refused_by_name() {
        for bad in
            [json!(-5), json!("-5"), json!(-1e30), json!("soon"), json!("1e3"), json!("inf"), json!(true), json!([1])]
        {
            let error = read(bad.clone()).expect_err("refused");
            assert!(error.to_string().contains("expires_in"), "{bad}: {error}");
        }
        assert_eq!(read(json!(-5)), Err(AnswerError::ExpiresIn("is negative (-5)".into())));
    }

    #[test]
    fn tokens_are_visible_ascii_and_never_quoted() {
        assert!(token("access token", "eyJ.a-b_c~+/=").is_ok());
        for bad in ["a\r\nSet-Cookie: x", "a b", "a\tb", "tök", "a\u{0}", "a\u{7f}", "a\u{200b}"] {
            let error = token("access token", bad).expect_err("refused");
            assert_eq!(error, AnswerError::TokenCharacters("access token"));
            assert!(!error.to_string().contains(bad), "{error}");
        }
        assert_eq!(access_token(Some(&json!(""))), Err(AnswerError::NoAccessToken));
        assert_eq!(access_token(Some(&json!(5))), Err(AnswerError::NotAString("access token")));
        assert_eq!(optional_token("refresh token", Some(&json!(""))), Ok(None));
        assert_eq!(optional_token("refresh token", Some(&json!({}))), Err(AnswerError::NotAString("refresh token")));
    }
}
