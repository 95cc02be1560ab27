//! gzip for responses, which Prometheus always asks for.
//!
//! Setting up a deflate state allocates a few hundred kilobytes, several times the cost of
//! compressing a scrape, so each worker thread keeps one and resets it; the gzip header and
//! trailer (RFC 1952) are written here around the raw deflate stream.

use std::cell::RefCell;

use flate2::{Compress, Compression, FlushCompress, Status};

thread_local! {
    static DEFLATE: RefCell<Compress> = RefCell::new(Compress::new(Compression::fast(), false));
}

/// Bodies shorter than this go out uncompressed even when gzip is accepted: they fit in one
/// TCP segment on a 1500-byte MTU either way, so compressing them would cost both ends CPU
/// and save no packet. A single target's `/probe` answer is this small.
pub const MIN_LENGTH: usize = 1400;

/// Whether an `Accept-Encoding` header allows gzip: `gzip` or `x-gzip` with q > 0, or else `*`
/// with q > 0 when gzip is not named (RFC 9110: `*` stands for the codings not listed, so
/// `gzip;q=0, *` refuses gzip).
pub fn accepted(accept_encoding: Option<&str>) -> bool {
    let Some(header) = accept_encoding else {
        return false;
    };
    let mut named = None;
    let mut wildcard = None;
    for coding in header.split(',') {
        let mut parts = coding.split(';').map(str::trim);
        let name = parts.next().unwrap_or("").to_ascii_lowercase();
        let quality = parts
            .filter_map(|parameter| parameter.split_once('='))
            .find(|(key, _)| key.trim().eq_ignore_ascii_case("q"))
            .map(|(_, value)| value.trim().parse::<f32>().unwrap_or(0.0))
            .unwrap_or(1.0);
        let allowed = quality > 0.0;
        match name.as_str() {
            "gzip" | "x-gzip" => named = Some(named.unwrap_or(false) || allowed),
            "*" => wildcard = Some(wildcard.unwrap_or(false) || allowed),
            _ => {}
        }
    }
    named.or(wildcard).unwrap_or(false)
}

/// `data` as a complete gzip member, or `None` if deflate failed (then the caller sends the
/// data uncompressed, never a gzip label on an empty body).
pub fn compress(data: &[u8]) -> Option<Vec<u8>> {
    // ID1 ID2, deflate, no flags, no mtime, no extra flags, OS unknown.
    const HEADER: [u8; 10] = [0x1f, 0x8b, 8, 0, 0, 0, 0, 0, 0, 0xff];
    let mut out = Vec::with_capacity(HEADER.len() + data.len() / 3 + 64);
    out.extend_from_slice(&HEADER);
    DEFLATE.with(|deflate| {
        let mut deflate = deflate.borrow_mut();
        deflate.reset();
        loop {
            let consumed = deflate.total_in() as usize;
            if out.capacity() - out.len() < 64 {
                out.reserve(out.capacity().max(256));
            }
            match deflate.compress_vec(&data[consumed..], &mut out, FlushCompress::Finish) {
                Ok(Status::StreamEnd) => break,
                Ok(Status::Ok | Status::BufError) => {}
                // In-memory deflate of a byte slice has no failure mode; an error would be a
                // bug in the library.
                Err(_) => return None,
            }
        }
        Some(())
    })?;
    out.extend_from_slice(&crc32fast::hash(data).to_le_bytes());
    out.extend_from_slice(&(data.len() as u32).to_le_bytes());
    Some(out)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::Read;

    fn gunzip(data: &[u8]) -> Vec<u8> {
        let mut out = Vec::new();
        flate2::read::GzDecoder::new(data)
            .read_to_end(&mut out)
            .expect("valid gzip");
        out
    }

    #[test]
    fn output_is_gzip_that_decodes_to_the_input_every_time() {
        let large: Vec<u8> = (0..200_000u32).flat_map(|n| n.to_le_bytes()).collect();
        for input in [&b""[..], b"syseng_up 1\n", &large, b"syseng_up 0\n"] {
            assert_eq!(gunzip(&compress(input).unwrap()), input);
        }
    }

    #[test]
    fn gzip_is_used_only_when_the_client_accepts_it() {
        for header in [
            "gzip",
            "gzip, deflate",
            "br;q=1, GZIP;q=0.5",
            "*",
            "x-gzip",
            "br;q=0, *",
        ] {
            assert!(accepted(Some(header)), "{header}");
        }
        for header in [
            "",
            "identity",
            "deflate, br",
            "gzip;q=0",
            "gzip;q=x",
            "gzipped",
            "gzip;q=0, *",
            "*, gzip;q=0",
            "x-gzip;q=0, *;q=1",
        ] {
            assert!(!accepted(Some(header)), "{header}");
        }
        assert!(!accepted(None));
    }
}
