//! Flash messages, as [connect-flash] keeps them: messages set in one request, by kind, read and cleared by the
//! next one that asks for them (a "Saved." after a redirect).
//!
//! They are [`Session`] methods: [`flash`](Session::flash) adds a message, [`take_flash`](Session::take_flash)
//! reads and removes the messages of one kind, [`take_all_flash`](Session::take_all_flash) those of every kind.
//! The session stores them where connect-flash does, under the data key [`FLASH_KEY`] (`"flash"`), as an object
//! of arrays of strings by kind (`{"info": ["Saved."]}`), so a Node app using connect-flash and a Rust app sharing
//! the session read each other's messages. A flash object the Node app stored that has no Rust form (a message
//! with a lone UTF-16 surrogate, which JavaScript strings allow) is dropped, logged without its content, at the
//! first flash call that reads it: its messages are lost, and the session's flash works again.
//!
//! Unlike connect-flash, concurrent requests of one session lose no message: adding is an atomic
//! [`update`](Session::update), so two requests that each add one keep both, and taking removes exactly the
//! messages it returned, so a message another request added meanwhile stays for the next reader. Two requests
//! that take at the same time may both show a message (as with connect-flash); it is removed once.
//!
//! ```
//! # #[tokio::main(flavor = "current_thread")]
//! # async fn main() -> Result<(), express_session::SessionError> {
//! # let options = express_session::SessionOptions::new().secret("a long random secret, from your configuration");
//! # let engine = express_session::engine::Engine::new(options).expect("valid options");
//! # let session = engine.begin(express_session::engine::RequestFacts::new("/")).into_session().unwrap();
//! // POST /profile: save, then redirect.
//! session.flash("info", "Profile saved.").await?;
//! session.flash("info", "Check your email.").await?;
//!
//! // GET /profile: show what was flashed, once.
//! assert_eq!(session.take_flash("info").await?, ["Profile saved.", "Check your email."]);
//! assert!(session.take_flash("info").await?.is_empty());
//! # Ok(())
//! # }
//! ```
//!
//! [connect-flash]: https://www.npmjs.com/package/connect-flash

use serde_json::{Map, Value};

use crate::engine::session::Session;
use crate::error::SessionError;

/// The data key under which the session keeps its flash messages, connect-flash's `req.session.flash`.
pub const FLASH_KEY: &str = "flash";

/// The messages of `kind` in a stored flash object. connect-flash keeps an array per kind; a falsy value there
/// (`false`, `0`, `""`, `null`) is none, as connect-flash's `msgs[type] || []` reads it, and any other value
/// the Node app may have left there counts as one message.
fn messages(flash: &Map<String, Value>, kind: &str) -> Vec<Value> {
    match flash.get(kind) {
        Some(Value::Array(list)) => list.clone(),
        None | Some(Value::Null | Value::Bool(false)) => Vec::new(),
        Some(Value::Number(n)) if n.as_f64() == Some(0.0) => Vec::new(),
        Some(Value::String(text)) if text.is_empty() => Vec::new(),
        Some(other) => vec![other.clone()],
    }
}

/// A message as text: a message the Node app stored that is not a string (connect-flash keeps whatever it is
/// given) is its JSON text.
fn as_text(message: Value) -> String {
    match message {
        Value::String(text) => text,
        other => other.to_string(),
    }
}

/// The stored flash object, or an empty one for a value that is not an object (connect-flash would start a new
/// one where the value is falsy; a stray truthy value has no meaning as messages).
fn flash_object(value: Option<Value>) -> Map<String, Value> {
    match value {
        Some(Value::Object(map)) => map,
        _ => Map::new(),
    }
}

/// `flash` with each of `taken` removed once from the messages of `kind`; the kind is dropped when none are left,
/// as connect-flash deletes it. Messages another request added meanwhile stay.
fn without(flash: Map<String, Value>, kind: &str, taken: &[Value]) -> Map<String, Value> {
    let mut flash = flash;
    let mut left = messages(&flash, kind);
    for message in taken {
        if let Some(at) = left.iter().position(|m| m == message) {
            left.remove(at);
        }
    }
    if left.is_empty() {
        flash.shift_remove(kind);
    } else if let Some(slot) = flash.get_mut(kind) {
        *slot = Value::Array(left);
    }
    flash
}

/// Flash messages: see the [module](crate::flash).
impl Session {
    /// The stored flash object. One the Node app stored without a Rust form (a message holding a lone UTF-16
    /// surrogate, which JavaScript strings allow, or nested deeper than [`MAX_VALUE_DEPTH`]) cannot be read or
    /// updated: it is removed, its messages lost and logged without their content, rather than failing every
    /// flash call of the session until it expires.
    ///
    /// [`MAX_VALUE_DEPTH`]: crate::record::MAX_VALUE_DEPTH
    async fn stored_flash(&self) -> Result<Map<String, Value>, SessionError> {
        match self.get_value(FLASH_KEY).await {
            Ok(value) => Ok(flash_object(value)),
            Err(SessionError::Deserialize(_)) => {
                tracing::warn!(
                    target: "express_session::flash",
                    "the stored flash messages have no Rust form (a lone UTF-16 surrogate, or nested too deep); \
                     they are dropped"
                );
                match self.remove::<Value>(FLASH_KEY).await {
                    Ok(_) | Err(SessionError::Deserialize(_)) => Ok(Map::new()),
                    Err(error) => Err(error),
                }
            }
            Err(error) => Err(error),
        }
    }

    /// Adds `message` to the flash messages of `kind` (connect-flash's `req.flash(kind, message)`) and returns how
    /// many messages of that kind are waiting, this one included.
    ///
    /// Atomic across concurrent requests of the session: two requests that each add a message keep both.
    ///
    /// ```
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() -> Result<(), express_session::SessionError> {
    /// # let options = express_session::SessionOptions::new().secret("a long random secret, from your configuration");
    /// # let engine = express_session::engine::Engine::new(options).expect("valid options");
    /// # let session = engine.begin(express_session::engine::RequestFacts::new("/")).into_session().unwrap();
    /// assert_eq!(session.flash("error", "Wrong password.").await?, 1);
    /// assert_eq!(session.flash("error", "2 attempts left.").await?, 2);
    /// # Ok(())
    /// # }
    /// ```
    ///
    /// # Errors
    ///
    /// As [`update`](Self::update): the store could not load the session, or the session ended.
    pub async fn flash(&self, kind: &str, message: impl Into<String>) -> Result<usize, SessionError> {
        let (kind, message) = (kind.to_owned(), Value::String(message.into()));
        let key = kind.clone();
        // Drops a stored flash object that has no Rust form, which `update` could not read.
        self.stored_flash().await?;
        let flash = self
            .update(FLASH_KEY, move |old: Option<Value>| {
                let mut flash = flash_object(old);
                let mut list = messages(&flash, &kind);
                list.push(message.clone());
                flash.insert(kind.clone(), Value::Array(list));
                Value::Object(flash)
            })
            .await?;
        Ok(flash.get(&key).and_then(Value::as_array).map_or(0, Vec::len))
    }

    /// Reads and removes the flash messages of `kind`, oldest first (connect-flash's `req.flash(kind)`); empty
    /// when there are none, and then the session is left unchanged.
    ///
    /// Only the messages returned are removed: one that another request adds meanwhile stays for the next read.
    ///
    /// ```
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() -> Result<(), express_session::SessionError> {
    /// # let options = express_session::SessionOptions::new().secret("a long random secret, from your configuration");
    /// # let engine = express_session::engine::Engine::new(options).expect("valid options");
    /// # let session = engine.begin(express_session::engine::RequestFacts::new("/")).into_session().unwrap();
    /// session.flash("info", "Saved.").await?;
    /// session.flash("error", "One field was too long.").await?;
    /// assert_eq!(session.take_flash("info").await?, ["Saved."]);
    /// assert_eq!(session.take_flash("error").await?, ["One field was too long."]);
    /// assert!(session.take_flash("info").await?.is_empty());
    /// # Ok(())
    /// # }
    /// ```
    ///
    /// # Errors
    ///
    /// As [`update`](Self::update).
    pub async fn take_flash(&self, kind: &str) -> Result<Vec<String>, SessionError> {
        let flash = self.stored_flash().await?;
        let taken = messages(&flash, kind);
        if taken.is_empty() {
            return Ok(Vec::new());
        }
        let kind_owned = kind.to_owned();
        let removed = taken.clone();
        self.update(FLASH_KEY, move |old: Option<Value>| {
            Value::Object(without(flash_object(old), &kind_owned, &removed))
        })
        .await?;
        Ok(taken.into_iter().map(as_text).collect())
    }

    /// Reads and removes the flash messages of every kind (connect-flash's `req.flash()`), each kind with its
    /// messages oldest first, the kinds in the order they were first flashed. Empty when there are none, and then
    /// the session is left unchanged.
    ///
    /// ```
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() -> Result<(), express_session::SessionError> {
    /// # let options = express_session::SessionOptions::new().secret("a long random secret, from your configuration");
    /// # let engine = express_session::engine::Engine::new(options).expect("valid options");
    /// # let session = engine.begin(express_session::engine::RequestFacts::new("/")).into_session().unwrap();
    /// session.flash("info", "Saved.").await?;
    /// session.flash("warning", "Your card expires soon.").await?;
    /// let all = session.take_all_flash().await?;
    /// assert_eq!(all, [
    ///     ("info".to_owned(), vec!["Saved.".to_owned()]),
    ///     ("warning".to_owned(), vec!["Your card expires soon.".to_owned()]),
    /// ]);
    /// assert!(session.take_all_flash().await?.is_empty());
    /// # Ok(())
    /// # }
    /// ```
    ///
    /// # Errors
    ///
    /// As [`update`](Self::update).
    pub async fn take_all_flash(&self) -> Result<Vec<(String, Vec<String>)>, SessionError> {
        let flash = self.stored_flash().await?;
        let taken: Vec<(String, Vec<Value>)> = flash
            .keys()
            .map(|kind| (kind.clone(), messages(&flash, kind)))
            .filter(|(_, list)| !list.is_empty())
            .collect();
        if taken.is_empty() {
            return Ok(Vec::new());
        }
        let removed = taken.clone();
        self.update(FLASH_KEY, move |old: Option<Value>| {
            let mut flash = flash_object(old);
            for (kind, list) in &removed {
                flash = without(flash, kind, list);
            }
            Value::Object(flash)
        })
        .await?;
        Ok(taken.into_iter().map(|(kind, list)| (kind, list.into_iter().map(as_text).collect())).collect())
    }
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    fn map(value: Value) -> Map<String, Value> {
        flash_object(Some(value))
    }

    #[test]
    fn taking_removes_only_what_was_taken() {
        // Another request added "b" after this one read ["a"].
        let stored = map(json!({"info": ["a", "b"], "error": ["x"]}));
        assert_eq!(Value::Object(without(stored, "info", &[json!("a")])), json!({"info": ["b"], "error": ["x"]}));
    }

    #[test]
    fn a_kind_left_empty_is_dropped_in_place() {
        let stored = map(json!({"a": ["1"], "info": ["m"], "z": ["2"]}));
        let after = without(stored, "info", &[json!("m")]);
        assert_eq!(after.keys().collect::<Vec<_>>(), ["a", "z"]);
    }

    #[test]
    fn a_message_taken_twice_meanwhile_is_removed_once() {
        // Two requests took ["m"] at once; the second to save finds it already gone, and a second "m" added later
        // by a third request stays.
        let stored = map(json!({"info": ["m"]}));
        let once = without(stored, "info", &[json!("m")]);
        assert_eq!(Value::Object(once.clone()), json!({}));
        let stored = map(json!({"info": ["m"]}));
        assert_eq!(Value::Object(without(stored, "info", &[json!("m"), json!("m")])), json!({}));
        let stored = map(json!({"info": ["m", "m"]}));
        assert_eq!(Value::Object(without(stored, "info", &[json!("m")])), json!({"info": ["m"]}));
    }

    #[test]
    fn a_falsy_value_is_no_message_as_in_connect_flash() {
        // connect-flash: `msgs[type] || []`, so a kind holding a falsy value has no messages, and adding one
        // starts a new array.
        for falsy in [json!(false), json!(0), json!(0.0), json!(""), json!(null)] {
            let flash = map(json!({"info": falsy}));
            assert_eq!(messages(&flash, "info"), Vec::<Value>::new(), "{falsy} read as a message");
        }
        assert_eq!(messages(&map(json!({"info": true})), "info"), [json!(true)]);
        assert_eq!(messages(&map(json!({"info": 7})), "info"), [json!(7)]);
    }

    #[test]
    fn what_node_may_have_stored_is_read_without_errors() {
        assert_eq!(messages(&map(json!({"info": "one"})), "info"), [json!("one")]);
        assert_eq!(messages(&map(json!({"info": null})), "info"), Vec::<Value>::new());
        assert!(flash_object(Some(json!("junk"))).is_empty());
        assert!(flash_object(Some(json!([1, 2]))).is_empty());
        assert_eq!(as_text(json!({"text": "hi"})), r#"{"text":"hi"}"#);
        assert_eq!(as_text(json!("plain")), "plain");
    }
}
