//! Any Accept and Accept-Encoding header: negotiation must not panic, and gzip must decode
//! back to the input.
#![no_main]

use std::io::Read;

use libfuzzer_sys::fuzz_target;
use syseng_exporter::exposition::Negotiated;
use syseng_exporter::gzip;

fuzz_target!(|input: (&str, &str, &[u8])| {
    let (accept, accept_encoding, body) = input;
    let _ = Negotiated::from_accept(Some(accept)).content_type();
    let _ = gzip::accepted(Some(accept_encoding));
    let compressed = gzip::compress(body).expect("deflate of a byte slice does not fail");
    let mut decoded = Vec::new();
    flate2_check(&compressed, &mut decoded);
    assert_eq!(decoded, body);
});

fn flate2_check(compressed: &[u8], decoded: &mut Vec<u8>) {
    flate2::read::GzDecoder::new(compressed)
        .read_to_end(decoded)
        .expect("valid gzip");
}
