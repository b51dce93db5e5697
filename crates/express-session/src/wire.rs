//! express-session's wire format, for tests and tools: the helpers that sign a session id, frame it as a cookie
//! value and read it back, byte for byte as express-session (with `cookie-signature` and `cookie` 0.7.2) does.
//!
//! **None of this is needed to use sessions**: the layer signs, writes and reads the cookie itself. These
//! helpers are for tests that build a cookie by hand (a Node app's session, a forged or tampered cookie), for
//! fuzzing, and for tools that inspect cookies.
//!
//! A session cookie's value is `"s:" + sign(id, secret)`, percent-encoded as JavaScript's `encodeURIComponent`:
//!
//! ```
//! use express_session::wire::{cookie_value, encode_uri_component, sign, unsign};
//!
//! let signed = sign("foo", b"keyboard cat");
//! let header = format!("connect.sid={}", encode_uri_component(&format!("s:{signed}")));
//! assert_eq!(header, "connect.sid=s%3Afoo.76RrO0t1oL7AidII1OjH3iZCM6d0WH2GTCWnWuRqVdQ");
//!
//! let value = cookie_value([header.as_bytes()], "connect.sid").unwrap();
//! assert_eq!(unsign(value.strip_prefix("s:").unwrap(), b"keyboard cat"), Some("foo"));
//! ```

pub use crate::cookie::header::{cookie_value, decode_uri_component, encode_uri_component};
pub use crate::cookie::set_cookie::set_cookie_header;
pub use crate::signature::{Signer, sign, unsign};
