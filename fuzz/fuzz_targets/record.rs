//! Record decoding: any text either decodes to a record that survives a round trip through express's JSON, or
//! is refused; never a panic.
#![no_main]

use express_session::Record;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else { return };
    if let Ok(record) = Record::from_json(text) {
        let json = record.to_json();
        let again = Record::from_json(&json).expect("our own JSON decodes");
        assert_eq!(again.to_json(), json, "round trip changed the record");
    }
});
