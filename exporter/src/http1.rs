//! The HTTP/1.1 client side of one `/stats` exchange, as pure functions of bytes: the request
//! we send, the response head we accept, and how its body is framed. The I/O lives in
//! [`crate::upstream`]; keeping the parsing here lets it be tested byte by byte.

use std::fmt::Write as _;

/// Most headers a response may carry; the service sends about five.
const MAX_HEADERS: usize = 64;
/// Longest response head accepted, status line and headers together.
pub const MAX_HEAD_BYTES: usize = 16 * 1024;

/// The request for `target` (the path, or the whole URI when the request goes to a proxy) on
/// `authority` (`host:port` as the URI wrote it), with `extra_headers` (lines ending in CRLF).
pub fn request(authority: &str, target: &str, user_agent: &str, extra_headers: &str) -> Vec<u8> {
    let mut text =
        String::with_capacity(128 + authority.len() + target.len() + extra_headers.len());
    let _ = write!(
        text,
        "GET {target} HTTP/1.1\r\nHost: {authority}\r\nAccept: application/json\r\n\
         User-Agent: {user_agent}\r\n{extra_headers}\r\n"
    );
    text.into_bytes()
}

/// How the body after a response head ends.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Framing {
    /// `Content-Length: n`.
    Length(u64),
    /// `Transfer-Encoding: chunked`.
    Chunked,
    /// Neither: the body runs until the server closes the connection.
    UntilClose,
}

/// A parsed response head.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Head {
    pub status: u16,
    pub framing: Framing,
    /// Whether the connection may carry another request after this response.
    pub reusable: bool,
    /// Bytes of the buffer the head took; the body starts there.
    pub length: usize,
}

/// Why a response could not be read.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ResponseError {
    /// Not HTTP/1.x, or framing we cannot trust (two lengths, an unknown transfer coding).
    Malformed(String),
    /// The head is longer than [`MAX_HEAD_BYTES`].
    HeadTooLarge,
}

impl std::fmt::Display for ResponseError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            ResponseError::Malformed(detail) => write!(f, "malformed HTTP response: {detail}"),
            ResponseError::HeadTooLarge => {
                write!(f, "response head longer than {MAX_HEAD_BYTES} bytes")
            }
        }
    }
}

/// Parses a response head from the start of `buffer`: `Ok(None)` while it is incomplete.
pub fn parse_head(buffer: &[u8]) -> Result<Option<Head>, ResponseError> {
    let mut headers = [httparse::EMPTY_HEADER; MAX_HEADERS];
    let mut response = httparse::Response::new(&mut headers);
    let length = match response.parse(buffer) {
        Ok(httparse::Status::Complete(length)) => length,
        Ok(httparse::Status::Partial) if buffer.len() > MAX_HEAD_BYTES => {
            return Err(ResponseError::HeadTooLarge);
        }
        Ok(httparse::Status::Partial) => return Ok(None),
        Err(error) => return Err(ResponseError::Malformed(error.to_string())),
    };
    if length > MAX_HEAD_BYTES {
        return Err(ResponseError::HeadTooLarge);
    }
    let status = response.code.unwrap_or(0);
    let http10 = response.version == Some(0);
    let mut content_length: Option<u64> = None;
    let mut chunked = false;
    let mut close = false;
    let mut keep_alive = false;
    for header in response.headers.iter() {
        let value = std::str::from_utf8(header.value)
            .map_err(|_| ResponseError::Malformed(format!("{} is not text", header.name)))?
            .trim();
        if header.name.eq_ignore_ascii_case("content-length") {
            let parsed = parse_content_length(value).ok_or_else(|| {
                ResponseError::Malformed(format!("Content-Length {value:?} is not a length"))
            })?;
            if content_length.is_some_and(|previous| previous != parsed) {
                return Err(ResponseError::Malformed(
                    "two different Content-Length headers".into(),
                ));
            }
            content_length = Some(parsed);
        } else if header.name.eq_ignore_ascii_case("transfer-encoding") {
            // Only "chunked" alone (or last, after identity) is a framing we can read.
            let codings: Vec<&str> = value
                .split(',')
                .map(str::trim)
                .filter(|coding| !coding.is_empty() && !coding.eq_ignore_ascii_case("identity"))
                .collect();
            match codings.as_slice() {
                [] => {}
                [coding] if coding.eq_ignore_ascii_case("chunked") => chunked = true,
                _ => {
                    return Err(ResponseError::Malformed(format!(
                        "Transfer-Encoding {value:?} is not supported"
                    )));
                }
            }
        } else if header.name.eq_ignore_ascii_case("connection") {
            for option in value.split(',').map(str::trim) {
                close |= option.eq_ignore_ascii_case("close");
                keep_alive |= option.eq_ignore_ascii_case("keep-alive");
            }
        }
    }
    // RFC 9112 6.3: chunked wins over a Content-Length, but a message with both was made by a
    // confused or hostile sender; do not reuse the connection after it.
    let framing = match (chunked, content_length) {
        (true, Some(_)) => {
            close = true;
            Framing::Chunked
        }
        (true, None) => Framing::Chunked,
        (false, Some(length)) => Framing::Length(length),
        (false, None) => Framing::UntilClose,
    };
    let reusable = !close && (!http10 || keep_alive) && framing != Framing::UntilClose;
    Ok(Some(Head {
        status,
        framing,
        reusable,
        length,
    }))
}

fn parse_content_length(value: &str) -> Option<u64> {
    if value.is_empty() || !value.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    value.parse().ok()
}

/// Decodes a chunked body as its bytes arrive, into a buffer of at most `limit` bytes.
#[derive(Debug)]
pub struct ChunkedDecoder {
    state: ChunkState,
    limit: usize,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum ChunkState {
    /// Reading the hexadecimal size line; `digits` seen so far, `in_extension` after a `;`.
    Size {
        size: u64,
        digits: u8,
        in_extension: bool,
    },
    /// The `\n` of a size line.
    SizeLineEnd {
        size: u64,
    },
    /// `remaining` bytes of chunk data.
    Data {
        remaining: u64,
    },
    /// The `\r\n` after chunk data; `seen_cr` once `\r` has arrived.
    DataEnd {
        seen_cr: bool,
    },
    /// Trailer lines after the last chunk; `line_length` bytes of the current line so far.
    Trailer {
        line_length: usize,
        seen_cr: bool,
    },
    Done,
}

/// Progress of a body decoder.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Decoded {
    /// Consumed all input; more is needed.
    NeedMore,
    /// The body is complete after this many bytes of the input; the rest belongs to the
    /// next response.
    Complete { consumed: usize },
}

/// A chunked body that cannot be decoded.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ChunkError {
    Malformed(&'static str),
    /// The decoded body would pass the limit.
    TooLarge,
}

/// Longest trailer line accepted; trailers are not used, only skipped.
const MAX_TRAILER_LINE: usize = 4096;

impl ChunkedDecoder {
    pub fn new(limit: usize) -> Self {
        Self {
            state: ChunkState::Size {
                size: 0,
                digits: 0,
                in_extension: false,
            },
            limit,
        }
    }

    /// Feeds `input`, appending chunk data to `body`.
    pub fn feed(&mut self, input: &[u8], body: &mut Vec<u8>) -> Result<Decoded, ChunkError> {
        let mut at = 0;
        while at < input.len() {
            let byte = input[at];
            self.state = match self.state {
                ChunkState::Size {
                    size,
                    digits,
                    in_extension,
                } => match byte {
                    b'\r' if digits > 0 => ChunkState::SizeLineEnd { size },
                    b'\n' if digits > 0 => self.after_size_line(size, body)?,
                    // Extensions are skipped; a bare CR or LF in one ends the line above.
                    _ if in_extension => ChunkState::Size {
                        size,
                        digits,
                        in_extension,
                    },
                    b';' | b' ' | b'\t' if digits > 0 => ChunkState::Size {
                        size,
                        digits,
                        in_extension: true,
                    },
                    _ => {
                        let digit = (byte as char)
                            .to_digit(16)
                            .ok_or(ChunkError::Malformed("chunk size is not hexadecimal"))?;
                        if digits >= 15 {
                            return Err(ChunkError::TooLarge);
                        }
                        ChunkState::Size {
                            size: size * 16 + u64::from(digit),
                            digits: digits + 1,
                            in_extension: false,
                        }
                    }
                },
                ChunkState::SizeLineEnd { size } => {
                    if byte != b'\n' {
                        return Err(ChunkError::Malformed("chunk size line without LF"));
                    }
                    self.after_size_line(size, body)?
                }
                ChunkState::Data { remaining } => {
                    let available = (input.len() - at) as u64;
                    let take = remaining.min(available) as usize;
                    body.extend_from_slice(&input[at..at + take]);
                    at += take;
                    let remaining = remaining - take as u64;
                    self.state = if remaining == 0 {
                        ChunkState::DataEnd { seen_cr: false }
                    } else {
                        ChunkState::Data { remaining }
                    };
                    continue;
                }
                ChunkState::DataEnd { seen_cr } => match (byte, seen_cr) {
                    (b'\r', false) => ChunkState::DataEnd { seen_cr: true },
                    (b'\n', _) => ChunkState::Size {
                        size: 0,
                        digits: 0,
                        in_extension: false,
                    },
                    _ => return Err(ChunkError::Malformed("chunk data longer than its size")),
                },
                ChunkState::Trailer {
                    line_length,
                    seen_cr,
                } => match byte {
                    b'\n' if line_length == 0 => {
                        self.state = ChunkState::Done;
                        return Ok(Decoded::Complete { consumed: at + 1 });
                    }
                    b'\n' => ChunkState::Trailer {
                        line_length: 0,
                        seen_cr: false,
                    },
                    b'\r' if !seen_cr => ChunkState::Trailer {
                        line_length,
                        seen_cr: true,
                    },
                    _ if line_length >= MAX_TRAILER_LINE => {
                        return Err(ChunkError::Malformed("trailer line too long"));
                    }
                    _ => ChunkState::Trailer {
                        line_length: line_length + 1,
                        seen_cr: false,
                    },
                },
                ChunkState::Done => return Ok(Decoded::Complete { consumed: at }),
            };
            at += 1;
        }
        Ok(match self.state {
            ChunkState::Done => Decoded::Complete { consumed: at },
            _ => Decoded::NeedMore,
        })
    }

    fn after_size_line(&self, size: u64, body: &[u8]) -> Result<ChunkState, ChunkError> {
        if size == 0 {
            return Ok(ChunkState::Trailer {
                line_length: 0,
                seen_cr: false,
            });
        }
        if body.len() as u64 + size > self.limit as u64 {
            return Err(ChunkError::TooLarge);
        }
        Ok(ChunkState::Data { remaining: size })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn head(text: &str) -> Result<Option<Head>, ResponseError> {
        parse_head(text.as_bytes())
    }

    #[test]
    fn the_request_is_one_get_with_host_and_accept() {
        let request = String::from_utf8(request("10.0.0.1:8080", "/stats", "ua/1", "")).unwrap();
        assert_eq!(
            request,
            "GET /stats HTTP/1.1\r\nHost: 10.0.0.1:8080\r\nAccept: application/json\r\n\
             User-Agent: ua/1\r\n\r\n"
        );
    }

    #[test]
    fn heads_give_status_framing_and_reuse() {
        let cases = [
            (
                "HTTP/1.1 200 OK\r\nContent-Length: 12\r\n\r\n",
                200,
                Framing::Length(12),
                true,
            ),
            (
                "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n",
                200,
                Framing::Chunked,
                true,
            ),
            ("HTTP/1.1 200 OK\r\n\r\n", 200, Framing::UntilClose, false),
            (
                "HTTP/1.1 500 Oops\r\nContent-Length: 0\r\nConnection: close\r\n\r\n",
                500,
                Framing::Length(0),
                false,
            ),
            (
                "HTTP/1.0 200 OK\r\nContent-Length: 3\r\n\r\n",
                200,
                Framing::Length(3),
                false,
            ),
            (
                "HTTP/1.0 200 OK\r\nContent-Length: 3\r\nConnection: Keep-Alive\r\n\r\n",
                200,
                Framing::Length(3),
                true,
            ),
            (
                "HTTP/1.1 200 OK\r\nContent-Length: 5\r\nTransfer-Encoding: chunked\r\n\r\n",
                200,
                Framing::Chunked,
                false,
            ),
            (
                "HTTP/1.1 200 OK\r\nContent-Length: 4\r\ncontent-length: 4\r\n\r\n",
                200,
                Framing::Length(4),
                true,
            ),
        ];
        for (text, status, framing, reusable) in cases {
            let parsed = head(text).unwrap().unwrap();
            assert_eq!(
                (parsed.status, parsed.framing, parsed.reusable),
                (status, framing, reusable),
                "{text:?}"
            );
            assert_eq!(parsed.length, text.len());
        }
    }

    #[test]
    fn incomplete_heads_wait_and_bad_ones_are_refused() {
        assert_eq!(head("HTTP/1.1 200 OK\r\nContent-Len"), Ok(None));
        assert_eq!(head(""), Ok(None));
        for bad in [
            "HTTP/2 200 OK\r\n\r\n",
            "SSH-2.0-OpenSSH\r\n\r\n",
            "HTTP/1.1 200 OK\r\nContent-Length: -1\r\n\r\n",
            "HTTP/1.1 200 OK\r\nContent-Length: +5\r\n\r\n",
            "HTTP/1.1 200 OK\r\nContent-Length: 1, 2\r\n\r\n",
            "HTTP/1.1 200 OK\r\nContent-Length: 3\r\nContent-Length: 4\r\n\r\n",
            "HTTP/1.1 200 OK\r\nTransfer-Encoding: gzip\r\n\r\n",
            "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked, gzip\r\n\r\n",
        ] {
            assert!(
                matches!(head(bad), Err(ResponseError::Malformed(_))),
                "{bad:?}"
            );
        }
        let endless = format!("HTTP/1.1 200 OK\r\nX: {}", "a".repeat(MAX_HEAD_BYTES));
        assert_eq!(head(&endless), Err(ResponseError::HeadTooLarge));
    }

    fn decode_in_pieces(
        input: &[u8],
        piece: usize,
        limit: usize,
    ) -> Result<(Vec<u8>, usize), ChunkError> {
        let mut decoder = ChunkedDecoder::new(limit);
        let mut body = Vec::new();
        let mut offset = 0;
        for part in input.chunks(piece) {
            if let Decoded::Complete { consumed } = decoder.feed(part, &mut body)? {
                return Ok((body, offset + consumed));
            }
            offset += part.len();
        }
        Err(ChunkError::Malformed("incomplete"))
    }

    #[test]
    fn chunked_bodies_decode_whatever_the_read_boundaries() {
        let input = b"5\r\nhello\r\n7;ext=1\r\n, world\r\n0\r\nTrailer: x\r\n\r\nNEXT";
        for piece in 1..input.len() {
            let (body, consumed) = decode_in_pieces(input, piece, 1024).unwrap();
            assert_eq!(body, b"hello, world", "pieces of {piece}");
            assert_eq!(&input[consumed..], b"NEXT", "pieces of {piece}");
        }
        let (body, _) = decode_in_pieces(b"A\n0123456789\n0\n\n", 3, 1024).unwrap();
        assert_eq!(body, b"0123456789");
    }

    #[test]
    fn chunked_bodies_are_bounded_and_checked() {
        assert_eq!(
            decode_in_pieces(b"10\r\n0123456789abcdef\r\n0\r\n\r\n", 4, 15),
            Err(ChunkError::TooLarge)
        );
        assert_eq!(
            decode_in_pieces(b"ffffffffffffffffff\r\n", 4, 15),
            Err(ChunkError::TooLarge)
        );
        for bad in [
            &b"zz\r\n"[..],
            b"\r\n",
            b"3\r\nabcd\r\n",
            b"3\rX",
            b";x\r\n",
        ] {
            assert!(
                matches!(
                    decode_in_pieces(bad, 2, 1024),
                    Err(ChunkError::Malformed(_))
                ),
                "{bad:?}"
            );
        }
    }
}
