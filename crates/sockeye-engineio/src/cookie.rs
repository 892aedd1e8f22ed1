//! The sticky-session cookie (Node's `cookie` option).

use std::time::Duration;

use http::HeaderValue;

/// The `SameSite` attribute of the session cookie.
///
/// # Examples
/// ```
/// use sockeye_engineio::{Cookie, SameSite};
/// let cookie = Cookie::new("io").same_site(SameSite::Strict);
/// assert_eq!(cookie.to_header("abc"), "io=abc; Path=/; HttpOnly; SameSite=Strict");
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
#[non_exhaustive]
pub enum SameSite {
    /// `SameSite=Strict`.
    Strict,
    /// `SameSite=Lax`, the default.
    #[default]
    Lax,
    /// `SameSite=None` (browsers require `Secure` with it).
    None,
}

/// The cookie the engine sets to the session id on the response that creates a session, so
/// that a load balancer can send a client's later requests to the server that holds its
/// session (sticky sessions; see the cluster guide). Node's `cookie` option, with Node's
/// defaults: name `io`, `Path=/`, `HttpOnly`, `SameSite=Lax`.
///
/// As Node's engine does, the cookie is set on the polling handshake (the `GET` that opens a
/// session) and not on a session opened directly over WebSocket (a WebSocket stays on the
/// server it reached, and its session id is made after the `101`), nor on later requests.
/// The attributes come in the order of Node's `cookie` package: `Max-Age`, `Domain`, `Path`,
/// `HttpOnly`, `Secure`, `Partitioned`, `SameSite`.
///
/// # Examples
/// ```
/// use std::time::Duration;
/// use sockeye_engineio::Cookie;
/// // Node's `cookie: true`
/// assert_eq!(Cookie::default().to_header("abc"), "io=abc; Path=/; HttpOnly; SameSite=Lax");
/// // Node's `cookie: { name: "sticky", maxAge: 3600, secure: true }`
/// let cookie = Cookie::new("sticky").max_age(Duration::from_secs(3600)).secure(true);
/// assert_eq!(
///     cookie.to_header("abc"),
///     "sticky=abc; Max-Age=3600; Path=/; HttpOnly; Secure; SameSite=Lax"
/// );
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Cookie {
    name: String,
    max_age: Option<u64>,
    domain: Option<String>,
    path: Option<String>,
    http_only: bool,
    secure: bool,
    partitioned: bool,
    same_site: Option<SameSite>,
}

impl Default for Cookie {
    /// Node's `cookie: true`: `io=<sid>; Path=/; HttpOnly; SameSite=Lax`.
    fn default() -> Self {
        Cookie::new("io")
    }
}

impl Cookie {
    /// A cookie named `name`, with Node's defaults (`Path=/`, `HttpOnly`, `SameSite=Lax`).
    ///
    /// # Panics
    /// When `name` is not a cookie name (RFC 6265: visible ASCII without separators such as
    /// `=`, `;`, `,`, spaces or quotes), as Node's engine throws for one.
    ///
    /// # Examples
    /// ```
    /// let cookie = sockeye_engineio::Cookie::new("sticky");
    /// assert_eq!(cookie.name(), "sticky");
    /// ```
    pub fn new(name: impl Into<String>) -> Cookie {
        let name = name.into();
        assert!(
            !name.is_empty() && name.bytes().all(is_token_byte),
            "invalid cookie name {name:?}"
        );
        Cookie {
            name,
            max_age: None,
            domain: None,
            path: Some("/".to_owned()),
            http_only: true,
            secure: false,
            partitioned: false,
            same_site: Some(SameSite::Lax),
        }
    }

    /// The cookie's name.
    pub fn name(&self) -> &str {
        &self.name
    }

    /// `Max-Age`, in whole seconds (Node's `maxAge`, in seconds too). Default: none (the
    /// cookie lasts as long as the browser session).
    ///
    /// # Examples
    /// ```
    /// let cookie = sockeye_engineio::Cookie::new("io").max_age(std::time::Duration::from_secs(60));
    /// assert!(cookie.to_header("x").contains("; Max-Age=60;"));
    /// ```
    #[must_use]
    pub fn max_age(mut self, age: Duration) -> Cookie {
        self.max_age = Some(age.as_secs());
        self
    }

    /// `Domain`. Default: none.
    ///
    /// # Panics
    /// When `domain` has a control character or `;`.
    ///
    /// # Examples
    /// ```
    /// let cookie = sockeye_engineio::Cookie::new("io").domain("example.com");
    /// assert!(cookie.to_header("x").contains("; Domain=example.com;"));
    /// ```
    #[must_use]
    pub fn domain(mut self, domain: impl Into<String>) -> Cookie {
        let domain = domain.into();
        assert!(
            is_attribute_value(&domain),
            "invalid cookie domain {domain:?}"
        );
        self.domain = Some(domain);
        self
    }

    /// `Path`. Default `/`.
    ///
    /// # Panics
    /// When `path` has a control character or `;`.
    ///
    /// # Examples
    /// ```
    /// let cookie = sockeye_engineio::Cookie::new("io").path("/app");
    /// assert!(cookie.to_header("x").contains("; Path=/app;"));
    /// ```
    #[must_use]
    pub fn path(mut self, path: impl Into<String>) -> Cookie {
        let path = path.into();
        assert!(is_attribute_value(&path), "invalid cookie path {path:?}");
        self.path = Some(path);
        self
    }

    /// No `Path` attribute (Node's `path: false`).
    ///
    /// # Examples
    /// ```
    /// let cookie = sockeye_engineio::Cookie::new("io").without_path();
    /// assert_eq!(cookie.to_header("x"), "io=x; HttpOnly; SameSite=Lax");
    /// ```
    #[must_use]
    pub fn without_path(mut self) -> Cookie {
        self.path = None;
        self
    }

    /// `HttpOnly` (the page's scripts cannot read the cookie). Default true.
    ///
    /// # Examples
    /// ```
    /// let cookie = sockeye_engineio::Cookie::new("io").http_only(false);
    /// assert_eq!(cookie.to_header("x"), "io=x; Path=/; SameSite=Lax");
    /// ```
    #[must_use]
    pub fn http_only(mut self, on: bool) -> Cookie {
        self.http_only = on;
        self
    }

    /// `Secure` (sent over HTTPS only). Default false.
    ///
    /// # Examples
    /// ```
    /// let cookie = sockeye_engineio::Cookie::new("io").secure(true);
    /// assert!(cookie.to_header("x").contains("; Secure;"));
    /// ```
    #[must_use]
    pub fn secure(mut self, on: bool) -> Cookie {
        self.secure = on;
        self
    }

    /// `Partitioned` (CHIPS). Default false.
    ///
    /// # Examples
    /// ```
    /// let cookie = sockeye_engineio::Cookie::new("io").secure(true).partitioned(true);
    /// assert!(cookie.to_header("x").contains("; Secure; Partitioned;"));
    /// ```
    #[must_use]
    pub fn partitioned(mut self, on: bool) -> Cookie {
        self.partitioned = on;
        self
    }

    /// `SameSite`. Default [`SameSite::Lax`].
    ///
    /// # Examples
    /// ```
    /// use sockeye_engineio::{Cookie, SameSite};
    /// let cookie = Cookie::new("io").same_site(SameSite::None).secure(true);
    /// assert!(cookie.to_header("x").ends_with("; Secure; SameSite=None"));
    /// ```
    #[must_use]
    pub fn same_site(mut self, same_site: SameSite) -> Cookie {
        self.same_site = Some(same_site);
        self
    }

    /// No `SameSite` attribute (Node's `sameSite: false`).
    ///
    /// # Examples
    /// ```
    /// let cookie = sockeye_engineio::Cookie::new("io").without_same_site();
    /// assert_eq!(cookie.to_header("x"), "io=x; Path=/; HttpOnly");
    /// ```
    #[must_use]
    pub fn without_same_site(mut self) -> Cookie {
        self.same_site = None;
        self
    }

    /// The `Set-Cookie` value for session `sid`.
    ///
    /// # Examples
    /// ```
    /// assert_eq!(
    ///     sockeye_engineio::Cookie::default().to_header("Gmvy-cQD8atNofWsAAAP"),
    ///     "io=Gmvy-cQD8atNofWsAAAP; Path=/; HttpOnly; SameSite=Lax"
    /// );
    /// ```
    pub fn to_header(&self, sid: &str) -> String {
        use std::fmt::Write;
        let mut s = format!("{}={sid}", self.name);
        if let Some(age) = self.max_age {
            let _ = write!(s, "; Max-Age={age}");
        }
        if let Some(domain) = &self.domain {
            let _ = write!(s, "; Domain={domain}");
        }
        if let Some(path) = &self.path {
            let _ = write!(s, "; Path={path}");
        }
        if self.http_only {
            s.push_str("; HttpOnly");
        }
        if self.secure {
            s.push_str("; Secure");
        }
        if self.partitioned {
            s.push_str("; Partitioned");
        }
        match self.same_site {
            Some(SameSite::Strict) => s.push_str("; SameSite=Strict"),
            Some(SameSite::Lax) => s.push_str("; SameSite=Lax"),
            Some(SameSite::None) => s.push_str("; SameSite=None"),
            None => {}
        }
        s
    }

    /// The header value; every part was checked when it was set, and a session id is
    /// URL-safe base64.
    pub(crate) fn header_value(&self, sid: &str) -> Option<HeaderValue> {
        HeaderValue::from_str(&self.to_header(sid)).ok()
    }
}

/// RFC 6265's cookie-name: an RFC 7230 token.
fn is_token_byte(b: u8) -> bool {
    b.is_ascii_graphic() && !b"()<>@,;:\\\"/[]?={}".contains(&b)
}

fn is_attribute_value(v: &str) -> bool {
    !v.is_empty() && v.bytes().all(|b| (0x20..0x7f).contains(&b) && b != b';')
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The strings Node's engine (engine.io 6.6, `cookie` 0.7.2) sets for the same options.
    #[test]
    fn same_text_as_node() {
        let sid = "9TRYpUmoRDJJvaH0AAAA";
        let cases = [
            (Cookie::default(), "io=9TRYpUmoRDJJvaH0AAAA; Path=/; HttpOnly; SameSite=Lax"),
            (
                Cookie::new("e2e")
                    .max_age(Duration::from_millis(600_900))
                    .domain("example.com")
                    .path("/app")
                    .secure(true)
                    .partitioned(true)
                    .same_site(SameSite::Strict),
                "e2e=9TRYpUmoRDJJvaH0AAAA; Max-Age=600; Domain=example.com; Path=/app; HttpOnly; Secure; Partitioned; SameSite=Strict",
            ),
            (
                Cookie::new("x").http_only(false).without_same_site(),
                "x=9TRYpUmoRDJJvaH0AAAA; Path=/",
            ),
        ];
        for (cookie, want) in cases {
            assert_eq!(cookie.to_header(sid), want);
            assert!(cookie.header_value(sid).is_some());
        }
    }

    #[test]
    #[should_panic(expected = "invalid cookie name")]
    fn separators_are_not_a_name() {
        let _ = Cookie::new("a=b");
    }

    #[test]
    #[should_panic(expected = "invalid cookie path")]
    fn no_semicolon_in_attributes() {
        let _ = Cookie::new("io").path("/; Domain=evil.example");
    }
}
