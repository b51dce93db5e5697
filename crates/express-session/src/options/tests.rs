use std::time::Duration;

use super::*;
use crate::cookie::SameSite;

fn build(options: SessionOptions) -> Result<(), ConfigError> {
    options.validate()
}

#[test]
fn a_secret_is_required() {
    assert_eq!(build(SessionOptions::new()), Err(ConfigError::MissingSecret));
    let err = build(SessionOptions::new()).unwrap_err();
    assert!(err.to_string().contains(".secret("), "{err}");
    assert_eq!(build(SessionOptions::new().secrets(Vec::<String>::new())), Err(ConfigError::MissingSecret));
    assert_eq!(build(SessionOptions::new().secret("")), Err(ConfigError::EmptySecret));
}

#[test]
fn bad_cookie_names_paths_and_domains_are_refused() {
    let base = || SessionOptions::new().secret("s").allow_short_secret(true);
    assert!(matches!(build(base().name("a b")), Err(ConfigError::InvalidName { name }) if name == "a b"));
    assert!(matches!(build(base().name("")), Err(ConfigError::InvalidName { .. })));
    assert!(matches!(
        build(base().cookie(CookieOptions::new().path("/a;b"))),
        Err(ConfigError::InvalidPath { path }) if path == "/a;b"
    ));
    assert!(matches!(
        build(base().cookie(CookieOptions::new().domain("bad domain"))),
        Err(ConfigError::InvalidDomain { domain }) if domain == "bad domain"
    ));
    assert!(build(base().cookie(CookieOptions::new().domain(".example.com"))).is_ok());
}

#[test]
fn same_site_none_and_partitioned_need_secure() {
    let base = || SessionOptions::new().secret("s").allow_short_secret(true);
    let err = build(base().cookie(CookieOptions::new().same_site(SameSite::None))).unwrap_err();
    assert_eq!(err, ConfigError::SameSiteNoneWithoutSecure);
    assert!(err.to_string().contains("Secure"), "{err}");
    assert_eq!(
        build(base().cookie(CookieOptions::new().partitioned(true))),
        Err(ConfigError::PartitionedWithoutSecure)
    );
    assert!(build(base().cookie(CookieOptions::new().same_site(SameSite::None).secure(Secure::Always))).is_ok());
    assert!(
        build(base().cookie(CookieOptions::new().same_site(SameSite::None).allow_insecure_attributes(true))).is_ok()
    );
}

#[test]
fn cookie_prefixes_are_checked() {
    let base = || SessionOptions::new().secret("s").allow_short_secret(true);
    assert!(matches!(build(base().name("__Host-id")), Err(ConfigError::HostPrefix { .. })));
    assert!(build(base().name("__Host-id").cookie(CookieOptions::new().secure(Secure::Always))).is_ok());
    assert!(matches!(
        build(base().name("__Host-id").cookie(CookieOptions::new().secure(Secure::Always).domain("a.com"))),
        Err(ConfigError::HostPrefix { .. })
    ));
    assert!(
        matches!(build(base().name("__Secure-id")), Err(ConfigError::SecurePrefix { name }) if name == "__Secure-id")
    );
}

/// Each variant's message is the one the layer gave before the variants existed.
#[test]
fn messages_say_how_to_fix_it() {
    let base = || SessionOptions::new().secret("s").allow_short_secret(true);
    for (options, expected) in [
        (
            base().name("a b"),
            "express-session configuration: cookie name \"a b\" is invalid: use letters, digits and !#$%&'*+-.^_`|~ only",
        ),
        (
            base().cookie(CookieOptions::new().domain("a b")),
            "express-session configuration: cookie domain \"a b\" is invalid: use a host name such as \"example.com\" or \".example.com\"",
        ),
        (
            base().name("__Host-x"),
            "express-session configuration: a cookie named \"__Host-x\" must be Secure, have path \"/\" and no domain",
        ),
        (base().store_timeout(Duration::ZERO), "express-session configuration: store_timeout must be more than zero"),
        (
            base().store_circuit_breaker(Some(CircuitBreaker::new().probe_interval(Duration::ZERO))),
            "express-session configuration: the circuit breaker's probe_interval must be between 1 ms and 60 s (got 0ns): shorter probes a dead store all the time, longer keeps answering 503 long after the store is back",
        ),
    ] {
        assert_eq!(build(options).unwrap_err().to_string(), expected);
    }
}

#[test]
fn express_json_maps_every_option() {
    let options = SessionOptions::new()
        .merge_express_json(&serde_json::json!({
            "secret": ["a", "b"], "name": "x", "resave": true, "rolling": true,
            "saveUninitialized": true, "unset": "destroy", "proxy": true,
            "cookie": {"maxAge": 1000, "sameSite": true, "priority": "High", "secure": "auto"}
        }))
        .unwrap();
    assert_eq!(options.secrets.len(), 2);
    assert_eq!(options.name, "x");
    assert!(options.resave && options.rolling && options.save_uninitialized);
    assert_eq!(options.unset, Unset::Destroy);
    assert_eq!(options.proxy, Some(true));
    assert_eq!(options.cookie.lifetime, Some(Lifetime::MaxAge(1000)));
    assert_eq!(options.cookie.secure, Some(Secure::Auto));
    let err = SessionOptions::new().merge_express_json(&serde_json::json!({"unset": "bogus"})).unwrap_err();
    assert!(matches!(err, ConfigError::ExpressJson { .. }), "{err}");
    let err = SessionOptions::new().merge_express_json(&serde_json::json!({"cookie": {"maxAge": "42"}})).unwrap_err();
    assert_eq!(err.to_string(), "express-session configuration: cookie maxAge must be a number of milliseconds");
}

#[test]
fn later_of_max_age_and_expires_wins() {
    let a = CookieOptions::from_express_json(&serde_json::json!({
        "expires": "2030-06-15T12:34:56.789Z", "maxAge": 60000
    }))
    .unwrap();
    assert_eq!(a.lifetime, Some(Lifetime::MaxAge(60000)));
    let b = CookieOptions::new().max_age(Duration::from_secs(1)).expires(crate::time::Timestamp::from_millis(5));
    assert_eq!(b.lifetime, Some(Lifetime::Expires(crate::time::Timestamp::from_millis(5))));
}

#[test]
fn short_secrets_need_an_explicit_opt_in() {
    let err = build(SessionOptions::new().secret("keyboard cat")).unwrap_err();
    assert_eq!(err, ConfigError::ShortSecret);
    assert!(err.to_string().contains("allow_short_secret"), "{err}");
    assert!(build(SessionOptions::new().secret("keyboard cat").allow_short_secret(true)).is_ok());
    assert!(build(SessionOptions::new().secret([7u8; 32])).is_ok());
    let secrets = SessionOptions::new().secrets([&[7u8; 32][..], b"short"]);
    assert_eq!(build(secrets), Err(ConfigError::ShortSecret), "every secret counts");
}

#[test]
fn debug_hides_secrets() {
    let text = format!("{:?}", SessionOptions::new().secret("hunter2-hunter2"));
    assert!(!text.contains("hunter2"), "{text}");
}
