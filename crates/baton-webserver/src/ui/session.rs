//! The UI's login session: a cookie that stands in for the Basic credentials, so a browser
//! logs in once through a form and its pages, `fetch` calls and `EventSource` streams (which
//! cannot send an `Authorization` header) are all accepted.
//!
//! The cookie is stateless: `<expiry in Unix seconds>.<hex HMAC-SHA256>` where the MAC covers
//! the user name and the expiry and is keyed by the configured user name and password. Every
//! webserver replica with the same credentials accepts it, and changing the password ends
//! every session. It is `HttpOnly` and `SameSite=Strict`, so scripts cannot read it and other
//! sites cannot make a browser send it with a request (no cross-site request forgery).

use axum::http::HeaderMap;
use axum::http::header::COOKIE;
use chrono::{DateTime, Utc};
use hmac::{KeyInit, Mac};
use sha2::Sha256;

use crate::BasicAuth;

/// The cookie's name.
pub const COOKIE_NAME: &str = "baton_session";

/// How long a login lasts.
pub const LIFETIME: chrono::Duration = chrono::Duration::hours(12);

type HmacSha256 = hmac::Hmac<Sha256>;

fn mac(credentials: &BasicAuth, expiry: i64) -> HmacSha256 {
    let mut key = Vec::with_capacity(credentials.username.len() + credentials.password.len() + 1);
    key.extend_from_slice(credentials.username.as_bytes());
    key.push(0);
    key.extend_from_slice(credentials.password.as_bytes());
    let mut mac = HmacSha256::new_from_slice(&key).expect("HMAC takes a key of any length");
    mac.update(b"baton-ui-session\0");
    mac.update(credentials.username.as_bytes());
    mac.update(b"\0");
    mac.update(expiry.to_string().as_bytes());
    mac
}

/// A session value for a user who just logged in at `now`.
pub fn issue(credentials: &BasicAuth, now: DateTime<Utc>) -> String {
    let expiry = (now + LIFETIME).timestamp();
    let tag = mac(credentials, expiry).finalize().into_bytes();
    let hex: String = tag.iter().map(|byte| format!("{byte:02x}")).collect();
    format!("{expiry}.{hex}")
}

/// Whether `value` is a session issued with these credentials that has not expired at `now`.
pub fn is_valid(credentials: &BasicAuth, value: &str, now: DateTime<Utc>) -> bool {
    let Some((expiry, hex)) = value.split_once('.') else {
        return false;
    };
    let Ok(expiry) = expiry.parse::<i64>() else {
        return false;
    };
    if expiry <= now.timestamp() || hex.len() != 64 {
        return false;
    }
    let Some(tag) = (0..hex.len())
        .step_by(2)
        .map(|i| u8::from_str_radix(hex.get(i..i + 2)?, 16).ok())
        .collect::<Option<Vec<u8>>>()
    else {
        return false;
    };
    // `verify_slice` compares in constant time.
    mac(credentials, expiry).verify_slice(&tag).is_ok()
}

/// The session cookie's value among the request's cookies, if any.
pub fn from_headers(headers: &HeaderMap) -> Option<&str> {
    headers
        .get_all(COOKIE)
        .iter()
        .filter_map(|value| value.to_str().ok())
        .flat_map(|value| value.split(';'))
        .filter_map(|pair| pair.trim().split_once('='))
        .find(|(name, _)| *name == COOKIE_NAME)
        .map(|(_, value)| value)
}

/// The `Set-Cookie` value that stores `value`; `secure` adds `Secure` (the request came over
/// HTTPS through a proxy).
pub fn set_cookie(value: &str, secure: bool) -> String {
    format!(
        "{COOKIE_NAME}={value}; Path=/; HttpOnly; SameSite=Strict; Max-Age={}{}",
        LIFETIME.num_seconds(),
        if secure { "; Secure" } else { "" }
    )
}

/// The `Set-Cookie` value that ends the session.
pub fn clear_cookie() -> String {
    format!("{COOKIE_NAME}=; Path=/; HttpOnly; SameSite=Strict; Max-Age=0")
}

#[cfg(test)]
mod tests {
    use super::*;

    fn admin(password: &str) -> BasicAuth {
        BasicAuth {
            username: "admin".into(),
            password: password.into(),
        }
    }

    #[test]
    fn a_session_is_valid_until_it_expires_and_only_for_its_credentials() {
        let now = Utc::now();
        let value = issue(&admin("secret"), now);
        assert!(is_valid(&admin("secret"), &value, now));
        assert!(is_valid(
            &admin("secret"),
            &value,
            now + LIFETIME - chrono::Duration::seconds(1)
        ));
        assert!(!is_valid(&admin("secret"), &value, now + LIFETIME));
        assert!(!is_valid(&admin("other"), &value, now));
        let (expiry, tag) = value.split_once('.').unwrap();
        let later: i64 = expiry.parse::<i64>().unwrap() + 3600;
        assert!(!is_valid(&admin("secret"), &format!("{later}.{tag}"), now));
        for broken in ["", ".", "x.y", "1.", &format!("{expiry}.zz")] {
            assert!(!is_valid(&admin("secret"), broken, now), "{broken}");
        }
    }

    #[test]
    fn the_cookie_is_found_among_others() {
        let mut headers = HeaderMap::new();
        headers.insert(COOKIE, "a=1; baton_session=42.ab; b=2".parse().unwrap());
        assert_eq!(from_headers(&headers), Some("42.ab"));
        assert_eq!(from_headers(&HeaderMap::new()), None);
    }
}
