//! Set-Cookie writing: cookie fields assigned from arbitrary JSON (as express code may assign them) either write
//! a header with no control characters and no `;` smuggled into a value, or an error; never a panic.
#![no_main]

use express_session::wire::set_cookie_header;
use express_session::{SessionCookie, Timestamp};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Ok(value) = serde_json::from_slice::<serde_json::Value>(data) else { return };
    let Some(fields) = value.as_object() else { return };
    let mut cookie = SessionCookie::default();
    let now = Timestamp::from_millis(1_893_456_000_123);
    let mut session_value = String::from("s:id.sig");
    for (field, value) in fields {
        if field == "value" {
            session_value = value.as_str().unwrap_or_default().to_owned();
        } else {
            let _ = cookie.set_express_field(field, value, now);
        }
    }
    if let Ok(header) = set_cookie_header("connect.sid", &session_value, &cookie) {
        assert!(header.bytes().all(|b| (0x20..0x7f).contains(&b)), "non-printable byte in {header:?}");
        let (pair, _) = header.split_once("; ").unwrap_or((&header, ""));
        assert!(!pair.contains(';'), "the value broke out of its pair: {header:?}");
    }
});
