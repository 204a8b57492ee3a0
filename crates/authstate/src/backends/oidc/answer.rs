//! The token endpoint's answer as the OIDC backend reads it: RFC 6749's
//! fields through `openidconnect`, except that `expires_in` is kept as the
//! server wrote it, so an integer string (`"3600"`), a decimal or an absurd
//! value gets the same reading as with the other backends
//! ([`crate::backends::answer`]) instead of failing the whole answer.
//!
//! Guarantees: [`TokenAnswer::grant`] hands out no token with a control
//! character, whitespace or a non-ASCII character, and no negative or
//! unreadable lifetime; `Debug` shows no token.

use std::fmt;

use openidconnect::core::{CoreGenderClaim, CoreIdToken, CoreJweContentEncryptionAlgorithm, CoreJwsSigningAlgorithm};
use openidconnect::{AccessToken, EmptyAdditionalClaims, RefreshToken, Scope};
use serde::{Deserialize, Serialize};
use serde_json::Value;

use crate::backends::answer::{self, AnswerError};
use crate::model::TokenGrant;

/// RFC 6749 §5.1 token response with an OpenID Connect `id_token`.
#[derive(Clone, Deserialize, Serialize)]
pub(crate) struct TokenAnswer {
    /// Empty when absent, so a missing token reads as "no access token"
    /// rather than as an unparseable answer.
    #[serde(default = "no_access_token")]
    access_token: AccessToken,
    #[serde(deserialize_with = "oauth2::helpers::deserialize_untagged_enum_case_insensitive")]
    token_type: oauth2::basic::BasicTokenType,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    expires_in: Option<Value>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    refresh_token: Option<RefreshToken>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    id_token: Option<CoreIdToken>,
}

fn no_access_token() -> AccessToken {
    AccessToken::new(String::new())
}

impl fmt::Debug for TokenAnswer {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("TokenAnswer")
            .field("token_type", &self.token_type)
            .field("expires_in", &self.expires_in)
            .field("has_refresh_token", &self.refresh_token.is_some())
            .field("has_id_token", &self.id_token.is_some())
            .finish_non_exhaustive()
    }
}

impl TokenAnswer {
    /// The tokens, checked: the access token is non-empty visible ASCII,
    /// the refresh and ID tokens too when present, and `expires_in` is read
    /// as [`answer::expires_in`] does (clamped to 10 years; `server` names
    /// the server in the clamp warning). The ID token's signature and claims
    /// are the caller's to verify.
    pub(crate) fn grant(&self, server: &impl fmt::Display) -> Result<TokenGrant, AnswerError> {
        let access = answer::access_str(self.access_token.secret())?;
        let refresh = self.refresh_token.as_ref().map(|t| answer::token("refresh token", t.secret())).transpose()?;
        let id_token = self.id_token.as_ref().map(|t| answer::token("ID token", &t.to_string())).transpose()?;
        let expires_in = answer::expires_in(server, self.expires_in.as_ref())?;
        Ok(TokenGrant { access, refresh, id_token, expires_in })
    }
}

impl openidconnect::OAuth2TokenResponse for TokenAnswer {
    type TokenType = oauth2::basic::BasicTokenType;

    fn access_token(&self) -> &AccessToken {
        &self.access_token
    }

    fn token_type(&self) -> &Self::TokenType {
        &self.token_type
    }

    /// Only a plain non-negative integer; [`TokenAnswer::grant`] reads every
    /// other spelling.
    fn expires_in(&self) -> Option<std::time::Duration> {
        self.expires_in.as_ref().and_then(Value::as_u64).map(std::time::Duration::from_secs)
    }

    fn refresh_token(&self) -> Option<&RefreshToken> {
        self.refresh_token.as_ref()
    }

    /// Granted scopes are not used: the provider decides what a token allows.
    fn scopes(&self) -> Option<&Vec<Scope>> {
        None
    }
}

impl
    openidconnect::TokenResponse<
        EmptyAdditionalClaims,
        CoreGenderClaim,
        CoreJweContentEncryptionAlgorithm,
        CoreJwsSigningAlgorithm,
    > for TokenAnswer
{
    fn id_token(&self) -> Option<&CoreIdToken> {
        self.id_token.as_ref()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(body: &str) -> Result<TokenGrant, AnswerError> {
        let answer: TokenAnswer = serde_json::from_str(body).expect("parses");
        answer.grant(&"https://id.example")
    }

    #[test]
    fn expires_in_in_any_common_spelling() {
        let base = r#""access_token": "a", "token_type": "Bearer""#;
        assert_eq!(parse(&format!("{{{base}, \"expires_in\": \"3600\"}}")).map(|g| g.expires_in), Ok(Some(3600)));
        assert_eq!(parse(&format!("{{{base}, \"expires_in\": 3600.2}}")).map(|g| g.expires_in), Ok(Some(3600)));
        let huge = parse(&format!("{{{base}, \"expires_in\": 1e30}}")).map(|g| g.expires_in);
        assert_eq!(huge, Ok(Some(answer::MAX_EXPIRES_IN)));
        assert_eq!(parse(&format!("{{{base}}}")).map(|g| g.expires_in), Ok(None));
        let missing = parse(r#"{"token_type": "Bearer", "expires_in": 60}"#).expect_err("no access token");
        assert_eq!(missing, AnswerError::NoAccessToken);
        let negative = parse(&format!("{{{base}, \"expires_in\": -1}}")).expect_err("negative");
        assert!(negative.to_string().contains("expires_in is negative"), "{negative}");
    }

    #[test]
    fn tokens_with_control_characters_are_refused() {
        let crlf = parse(r#"{"access_token": "a\r\nb", "token_type": "bearer"}"#);
        assert_eq!(crlf.err(), Some(AnswerError::TokenCharacters("access token")));
        let refresh = parse(r#"{"access_token": "a", "refresh_token": "r b", "token_type": "bearer"}"#);
        assert_eq!(refresh.err(), Some(AnswerError::TokenCharacters("refresh token")));
        let debug = format!(
            "{:?}",
            serde_json::from_str::<TokenAnswer>(r#"{"access_token": "SECRET", "token_type": "bearer"}"#)
        );
        assert!(!debug.contains("SECRET"), "{debug}");
    }
}
