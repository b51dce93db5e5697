//! Reading express-session's options as JSON (`merge_express_json`, `from_express_json`), as a Node app
//! configures them: how a configuration is shared with a Node app, and what the conformance harness uses.

use serde_json::Value;

use crate::cookie::{priority_from_json, same_site_from_json, truthy};
use crate::time::Timestamp;

use super::cookie_options::{CookieOptions, Lifetime, SameSiteSetting, Secure};
use super::error::ConfigError;
use super::secret::Secret;
use super::session_options::SessionOptions;
use super::unset::Unset;

impl CookieOptions {
    /// Reads express's `cookie` option object as JSON (`maxAge`, `expires` as an ISO string, `domain`, `path`,
    /// `httpOnly`, `secure` (`"auto"` or any value, by JavaScript truthiness), `sameSite`, `partitioned`, `priority`;
    /// a falsy value is unset as in express: `path: null` or `false` gives no `Path`), keeping the spelling
    /// express would store (`"sameSite": true`, `"priority": "High"`). Keys are applied in order, so the later of
    /// `maxAge` and `expires` wins as in express. Unknown keys are ignored, as express ignores them.
    ///
    /// This is how a configuration can be shared with a Node app, and what the conformance harness uses.
    ///
    /// ```
    /// use express_session::CookieOptions;
    /// let options = CookieOptions::from_express_json(&serde_json::json!({
    ///     "maxAge": 60000, "sameSite": "Lax", "secure": "auto"
    /// })).unwrap();
    /// # let _ = options;
    /// ```
    ///
    /// # Errors
    ///
    /// [`ConfigError`] for a value express would reject (`maxAge` not a number, an unknown `sameSite`, ...).
    pub fn from_express_json(value: &Value) -> Result<Self, ConfigError> {
        let Value::Object(obj) = value else {
            return Err(ConfigError::express_json("cookie options must be a JSON object"));
        };
        let mut out = Self::new();
        for (key, value) in obj {
            match key.as_str() {
                // Every field goes by JavaScript truthiness, as express-session's `Cookie` and cookie 0.7's
                // `serialize` do (an empty environment variable gives `""`).
                "maxAge" => match value {
                    Value::Number(n) => {
                        let ms = n.as_i64().or_else(|| n.as_f64().map(|f| f as i64)).unwrap_or(0);
                        out.lifetime = Some(Lifetime::MaxAge(ms));
                    }
                    // `maxAge: ""` makes `expires` the same falsy value: a browser-session cookie.
                    v if !truthy(v) => out.lifetime = None,
                    _ => return Err(ConfigError::express_json("cookie maxAge must be a number of milliseconds")),
                },
                "expires" => match value {
                    Value::String(s) if !s.is_empty() => {
                        let t = Timestamp::parse_json(s)
                            .ok_or_else(|| ConfigError::express_json("cookie expires must be an ISO 8601 date"))?;
                        out.lifetime = Some(Lifetime::Expires(t));
                    }
                    // A number is what the `maxAge` getter then returns, which becomes `originalMaxAge`: the first
                    // touch makes it a max age (`expires: 0` sends a cookie that expires at once, as in express).
                    Value::Number(n) => {
                        let ms = n.as_i64().or_else(|| n.as_f64().map(|f| f as i64)).unwrap_or(0);
                        out.lifetime = Some(Lifetime::MaxAge(ms));
                    }
                    v if !truthy(v) => out.lifetime = None,
                    _ => return Err(ConfigError::express_json("cookie expires must be an ISO 8601 date")),
                },
                "domain" => out.domain = value.as_str().map(str::to_owned),
                "path" => match value {
                    Value::String(p) => out.path = p.clone(),
                    // `path: null` or `false`: cookie 0.7 writes no `Path`, and the gate is `/` (`path || '/'`),
                    // which is what the empty path does here.
                    v if !truthy(v) => out.path = String::new(),
                    _ => {}
                },
                "httpOnly" => out.http_only = truthy(value),
                "partitioned" => out.partitioned = (!value.is_null()).then(|| truthy(value)),
                "secure" => {
                    out.secure = match value {
                        Value::String(s) if s == "auto" => Some(Secure::Auto),
                        Value::Null => None,
                        v if truthy(v) => Some(Secure::Always),
                        _ => Some(Secure::Never),
                    }
                }
                "sameSite" => {
                    out.same_site = match value {
                        Value::String(s) if s == "auto" => Some(SameSiteSetting::Auto),
                        other => same_site_from_json(other)
                            .map_err(|()| ConfigError::express_json(format!("cookie sameSite {other} is invalid")))?
                            .map(SameSiteSetting::Fixed),
                    }
                }
                "priority" => {
                    out.priority = priority_from_json(value)
                        .map_err(|()| ConfigError::express_json(format!("cookie priority {value} is invalid")))?
                }
                _ => {}
            }
        }
        Ok(out)
    }
}

impl SessionOptions {
    /// Reads express-session's options object as JSON: `secret` (string or array), `name`, `resave`, `rolling`,
    /// `saveUninitialized`, `unset`, `proxy`, and `cookie` (see [`CookieOptions::from_express_json`]). Keys that
    /// are absent keep **this crate's** defaults; call `.resave(true).save_uninitialized(true)` first to get
    /// express's implicit ones.
    ///
    /// ```
    /// use express_session::SessionOptions;
    /// let options = SessionOptions::new()
    ///     .merge_express_json(&serde_json::json!({"secret": ["new", "old"], "rolling": true}))
    ///     .unwrap();
    /// # let _ = options;
    /// ```
    ///
    /// # Errors
    ///
    /// [`ConfigError`] for values express rejects (`unset` other than `keep`/`destroy`, an empty secret array...).
    pub fn merge_express_json(mut self, value: &Value) -> Result<Self, ConfigError> {
        let Value::Object(obj) = value else {
            return Err(ConfigError::express_json("session options must be a JSON object"));
        };
        let truthy = |v: &Value| match v {
            Value::Null | Value::Bool(false) => false,
            Value::Number(n) => n.as_f64() != Some(0.0),
            Value::String(s) => !s.is_empty(),
            _ => true,
        };
        for (key, value) in obj {
            match key.as_str() {
                "secret" => {
                    self.secrets = match value {
                        Value::String(s) => vec![Secret::from(s.as_bytes())],
                        Value::Array(items) => items
                            .iter()
                            .map(|i| {
                                i.as_str().map(|s| Secret::from(s.as_bytes())).ok_or_else(|| {
                                    ConfigError::express_json("secret option array must contain only strings")
                                })
                            })
                            .collect::<Result<_, _>>()?,
                        Value::Null => Vec::new(),
                        _ => return Err(ConfigError::express_json("secret option must be a string or an array")),
                    }
                }
                "name" => {
                    if let Some(name) = value.as_str().filter(|n| !n.is_empty()) {
                        self.name = name.to_owned();
                    }
                }
                "resave" => self.resave = truthy(value),
                "rolling" => self.rolling = truthy(value),
                "saveUninitialized" => self.save_uninitialized = truthy(value),
                "proxy" => self.proxy = value.as_bool(),
                "unset" => {
                    self.unset = match value {
                        Value::String(s) if s == "destroy" => Unset::Destroy,
                        Value::String(s) if s == "keep" => Unset::Keep,
                        v if !truthy(v) => Unset::Keep,
                        _ => return Err(ConfigError::express_json("unset option must be \"destroy\" or \"keep\"")),
                    }
                }
                "cookie" => {
                    let allow = self.cookie.allow_insecure_attributes;
                    self.cookie = CookieOptions::from_express_json(value)?.allow_insecure_attributes(allow);
                }
                _ => {}
            }
        }
        Ok(self)
    }
}
