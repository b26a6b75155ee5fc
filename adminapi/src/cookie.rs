//! The refresh-token cookie of browser sessions (the web console).
//!
//! ```text
//! proisp_refresh=<token>; Path=/api/v1/auth/refresh; Max-Age=<ttl>; HttpOnly; Secure; SameSite=Strict
//! ```
//!
//! - `HttpOnly`: no script in the page, an injected one included, can read the token;
//! - `SameSite=Strict`: no request started from another site carries it;
//! - `Path`: it goes to the refresh route only, not with every API call;
//! - `Secure`: browsers keep it over HTTPS, and over plain HTTP only from a loopback
//!   address (a secure context). A console served over plain HTTP from elsewhere keeps
//!   its session until the access token expires, not across a reload.
//!
//! The refresh route also takes only a JSON body, which a cross-site form cannot send
//! and a cross-site script can send only after a CORS preflight this server never grants.

use std::time::Duration;

use actix_web::HttpRequest;
use actix_web::http::header;

/// The cookie's name.
pub const NAME: &str = "proisp_refresh";
/// The one path it is sent to.
pub const PATH: &str = "/api/v1/auth/refresh";

/// `Set-Cookie` value that hands `token` to the browser for `ttl`.
pub fn set(token: &str, ttl: Duration) -> String {
    format!(
        "{NAME}={token}; Path={PATH}; Max-Age={}; HttpOnly; Secure; SameSite=Strict",
        ttl.as_secs()
    )
}

/// `Set-Cookie` value that makes the browser drop the cookie (logout).
pub fn clear() -> String {
    format!("{NAME}=; Path={PATH}; Max-Age=0; HttpOnly; Secure; SameSite=Strict")
}

/// The refresh token in the request's cookie, if one is there and non-empty.
pub fn read(req: &HttpRequest) -> Option<String> {
    req.headers()
        .get_all(header::COOKIE)
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(';'))
        .filter_map(|pair| pair.trim().split_once('='))
        .find(|(name, value)| *name == NAME && !value.is_empty())
        .map(|(_, value)| value.to_owned())
}

#[cfg(test)]
mod tests {
    use super::*;
    use actix_web::test::TestRequest;

    #[test]
    fn the_cookie_is_http_only_strict_secure_and_scoped_to_refresh() {
        let c = set("abc", Duration::from_secs(60));
        assert_eq!(
            c,
            "proisp_refresh=abc; Path=/api/v1/auth/refresh; Max-Age=60; HttpOnly; Secure; \
             SameSite=Strict"
        );
        assert!(clear().contains("Max-Age=0"));
    }

    #[test]
    fn read_finds_the_cookie_among_others_and_ignores_an_empty_one() {
        let req = TestRequest::default()
            .insert_header((header::COOKIE, "a=1; proisp_refresh=tok-en_1; b=2"))
            .to_http_request();
        assert_eq!(read(&req).as_deref(), Some("tok-en_1"));
        let req = TestRequest::default()
            .insert_header((header::COOKIE, "proisp_refresh=; x=y"))
            .to_http_request();
        assert_eq!(read(&req), None);
        let req = TestRequest::default()
            .insert_header((header::COOKIE, "not_proisp_refresh=z"))
            .to_http_request();
        assert_eq!(read(&req), None);
        assert_eq!(read(&TestRequest::default().to_http_request()), None);
    }
}
