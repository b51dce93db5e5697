//! Cookie header parsing and unsigning: any bytes, split into header lines at `\n`, either give a verified id or
//! nothing, never a panic; and a value that verifies must be the signed value itself.
#![no_main]

use express_session::wire::cookie_value;
use express_session::wire::{Signer, sign};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let lines: Vec<&[u8]> = data.split(|&b| b == b'\n').collect();
    let signer = Signer::new(["keyboard cat", "an older secret"]);
    if let Some(value) = cookie_value(lines.iter().copied(), "connect.sid")
        && let Some(signed) = value.strip_prefix("s:")
        && let Some(id) = signer.unsign(signed)
    {
        let resigned = [sign(id, b"keyboard cat"), sign(id, b"an older secret")];
        assert!(resigned.iter().any(|s| s == signed), "unsign accepted a value no secret signs");
    }
    // Round trip: what we sign, we verify.
    if let Ok(text) = std::str::from_utf8(data) {
        assert_eq!(signer.unsign(&signer.sign(text)), Some(text));
    }
});
