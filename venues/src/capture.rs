//! Line readers for the three capture formats in `../shared/data` (see its `INDEX.md`).
//! The recordings importer reuses them, so each is a streaming iterator over any
//! [`BufRead`] that yields a typed error, with the 1-based line number, for a line it
//! cannot read, and carries on with the next line.
//!
//! - hftbacktest: `<local receive time, ns> <raw JSON>`;
//! - cryptofeed: `<url> <-> <time>` (connect), `<url> <- <time>: <json>` (outbound,
//!   skipped by the reader), `<time>: <json>` (inbound frame), `<url> -> <time>: <body>`
//!   (REST response), `configuration: <json>`; times are Unix seconds with a fraction;
//! - tickvault: one raw JSON frame per line.
//!
//! The `parse_*_line` functions do the same on one line without allocating, for
//! callers that hold the whole capture in memory.

use crate::error::{Error, clip};
use propbot_engine::model::parse_unsigned_decimal;
use propbot_engine::time::UnixNanos;
use std::io::BufRead;

/// One hftbacktest line.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct HftbacktestLine<'a> {
    /// Local receive time.
    pub received: UnixNanos,
    /// The frame as received.
    pub json: &'a str,
}

/// Parses `<ns> <json>`.
pub fn parse_hftbacktest_line(line: &str) -> Result<HftbacktestLine<'_>, String> {
    let (time, json) = line
        .split_once(' ')
        .ok_or_else(|| "expected `<ns> <json>`".to_owned())?;
    let nanos: u64 = time
        .parse()
        .map_err(|_| format!("receive time {:?} is not an integer", clip(time)))?;
    Ok(HftbacktestLine {
        received: UnixNanos(nanos),
        json,
    })
}

/// One cryptofeed line.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum CryptofeedLine<'a> {
    /// `<url> <-> <time>`: a connection was opened.
    Connected {
        /// Endpoint.
        url: &'a str,
        /// When.
        at: UnixNanos,
    },
    /// `<url> <- <time>: <json>`: a frame we sent (subscribe requests).
    Outbound {
        /// Endpoint.
        url: &'a str,
        /// When.
        at: UnixNanos,
        /// The frame.
        json: &'a str,
    },
    /// `<time>: <json>`: a frame received on the connection.
    Inbound {
        /// Receive time.
        at: UnixNanos,
        /// The frame.
        json: &'a str,
    },
    /// `<url> -> <time>: <body>`: a REST response.
    Rest {
        /// Request URL.
        url: &'a str,
        /// Receive time.
        at: UnixNanos,
        /// Response body.
        body: &'a str,
    },
    /// `configuration: <json>`: the recorder's own settings.
    Configuration {
        /// The settings.
        json: &'a str,
    },
}

/// Parses one cryptofeed line.
pub fn parse_cryptofeed_line(line: &str) -> Result<CryptofeedLine<'_>, String> {
    if let Some(json) = line.strip_prefix("configuration: ") {
        return Ok(CryptofeedLine::Configuration { json });
    }
    if line.starts_with(|c: char| c.is_ascii_digit()) {
        let (at, json) = timed_payload(line)?;
        return Ok(CryptofeedLine::Inbound { at, json });
    }
    let (url, rest) = line
        .split_once(' ')
        .ok_or_else(|| "expected `<url> <arrow> <time>`".to_owned())?;
    if let Some(time) = rest.strip_prefix("<-> ") {
        return Ok(CryptofeedLine::Connected {
            url,
            at: unix_seconds(time)?,
        });
    }
    if let Some(rest) = rest.strip_prefix("<- ") {
        let (at, json) = timed_payload(rest)?;
        return Ok(CryptofeedLine::Outbound { url, at, json });
    }
    if let Some(rest) = rest.strip_prefix("-> ") {
        let (at, body) = timed_payload(rest)?;
        return Ok(CryptofeedLine::Rest { url, at, body });
    }
    Err(format!(
        "unrecognised cryptofeed line starting {:?}",
        clip(line)
    ))
}

fn timed_payload(text: &str) -> Result<(UnixNanos, &str), String> {
    let (time, payload) = text
        .split_once(": ")
        .ok_or_else(|| "expected `<time>: <payload>`".to_owned())?;
    Ok((unix_seconds(time)?, payload))
}

/// Unix seconds with up to nine decimals, e.g. `1626992741.06217`, as nanoseconds,
/// without a float.
pub fn unix_seconds(text: &str) -> Result<UnixNanos, String> {
    parse_unsigned_decimal(text, 9)
        .map(|n| UnixNanos(n as u64))
        .map_err(|e| format!("time {:?}: {e}", clip(text)))
}

/// A numbered line read from a capture: `(line number, text without the newline)`.
struct Lines<R> {
    reader: R,
    buffer: String,
    line: u64,
    /// An I/O error other than invalid UTF-8 ends the stream after it is reported.
    failed: bool,
}

impl<R: BufRead> Lines<R> {
    fn new(reader: R) -> Lines<R> {
        Lines {
            reader,
            buffer: String::new(),
            line: 0,
            failed: false,
        }
    }

    /// The next line, or `None` at the end. I/O errors and invalid UTF-8 are reported
    /// with the line number; the reader then moves on to the next line.
    fn next_line(&mut self) -> Option<Result<u64, Error>> {
        if self.failed {
            return None;
        }
        self.buffer.clear();
        self.line += 1;
        match self.reader.read_line(&mut self.buffer) {
            Ok(0) => None,
            Ok(_) => {
                let trimmed = self.buffer.trim_end_matches(['\n', '\r']).len();
                self.buffer.truncate(trimmed);
                Some(Ok(self.line))
            }
            Err(source) => {
                // `read_line` consumed an invalid UTF-8 line, so reading goes on after
                // it; any other I/O error ends the stream.
                self.failed = source.kind() != std::io::ErrorKind::InvalidData;
                Some(Err(Error::CaptureIo {
                    line: self.line,
                    source,
                }))
            }
        }
    }
}

/// A record of an hftbacktest capture.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct HftbacktestRecord {
    /// 1-based line number.
    pub line: u64,
    /// Local receive time.
    pub received: UnixNanos,
    /// The frame as received.
    pub json: String,
}

/// Streams an hftbacktest capture line by line; empty lines are skipped.
pub struct HftbacktestReader<R> {
    lines: Lines<R>,
}

impl<R: BufRead> HftbacktestReader<R> {
    /// Reads from `reader` (for `.gz` files, wrap a gzip decoder in a `BufReader`).
    pub fn new(reader: R) -> Self {
        HftbacktestReader {
            lines: Lines::new(reader),
        }
    }
}

impl<R: BufRead> Iterator for HftbacktestReader<R> {
    type Item = Result<HftbacktestRecord, Error>;

    fn next(&mut self) -> Option<Self::Item> {
        loop {
            let line = match self.lines.next_line()? {
                Ok(line) => line,
                Err(e) => return Some(Err(e)),
            };
            let text = &self.lines.buffer;
            if text.is_empty() {
                continue;
            }
            return Some(
                parse_hftbacktest_line(text)
                    .map(|l| HftbacktestRecord {
                        line,
                        received: l.received,
                        json: l.json.to_owned(),
                    })
                    .map_err(|reason| Error::CaptureLine { line, reason }),
            );
        }
    }
}

/// A record of a cryptofeed capture (outbound frames are skipped).
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum CryptofeedRecord {
    /// A connection was opened.
    Connected {
        /// 1-based line number.
        line: u64,
        /// Endpoint.
        url: String,
        /// When.
        at: UnixNanos,
    },
    /// A frame received on the connection.
    Inbound {
        /// 1-based line number.
        line: u64,
        /// Receive time.
        at: UnixNanos,
        /// The frame.
        json: String,
    },
    /// A REST response.
    Rest {
        /// 1-based line number.
        line: u64,
        /// Request URL.
        url: String,
        /// Receive time.
        at: UnixNanos,
        /// Response body.
        body: String,
    },
    /// The recorder's settings.
    Configuration {
        /// 1-based line number.
        line: u64,
        /// The settings.
        json: String,
    },
}

/// Streams a cryptofeed capture (`.ws.*`, `.http.*` or REST `.0` files); outbound
/// frames and empty lines are skipped.
pub struct CryptofeedReader<R> {
    lines: Lines<R>,
}

impl<R: BufRead> CryptofeedReader<R> {
    /// Reads from `reader`.
    pub fn new(reader: R) -> Self {
        CryptofeedReader {
            lines: Lines::new(reader),
        }
    }
}

impl<R: BufRead> Iterator for CryptofeedReader<R> {
    type Item = Result<CryptofeedRecord, Error>;

    fn next(&mut self) -> Option<Self::Item> {
        loop {
            let line = match self.lines.next_line()? {
                Ok(line) => line,
                Err(e) => return Some(Err(e)),
            };
            let text = &self.lines.buffer;
            if text.is_empty() {
                continue;
            }
            let record = match parse_cryptofeed_line(text) {
                Err(reason) => return Some(Err(Error::CaptureLine { line, reason })),
                Ok(CryptofeedLine::Outbound { .. }) => continue,
                Ok(CryptofeedLine::Connected { url, at }) => CryptofeedRecord::Connected {
                    line,
                    url: url.to_owned(),
                    at,
                },
                Ok(CryptofeedLine::Inbound { at, json }) => CryptofeedRecord::Inbound {
                    line,
                    at,
                    json: json.to_owned(),
                },
                Ok(CryptofeedLine::Rest { url, at, body }) => CryptofeedRecord::Rest {
                    line,
                    url: url.to_owned(),
                    at,
                    body: body.to_owned(),
                },
                Ok(CryptofeedLine::Configuration { json }) => CryptofeedRecord::Configuration {
                    line,
                    json: json.to_owned(),
                },
            };
            return Some(Ok(record));
        }
    }
}

/// A record of a raw JSONL capture.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct JsonlRecord {
    /// 1-based line number.
    pub line: u64,
    /// The frame.
    pub json: String,
}

/// Streams a raw JSONL capture (tickvault): one frame per line; empty lines skipped.
pub struct JsonlReader<R> {
    lines: Lines<R>,
}

impl<R: BufRead> JsonlReader<R> {
    /// Reads from `reader`.
    pub fn new(reader: R) -> Self {
        JsonlReader {
            lines: Lines::new(reader),
        }
    }
}

impl<R: BufRead> Iterator for JsonlReader<R> {
    type Item = Result<JsonlRecord, Error>;

    fn next(&mut self) -> Option<Self::Item> {
        loop {
            let line = match self.lines.next_line()? {
                Ok(line) => line,
                Err(e) => return Some(Err(e)),
            };
            let text = self.lines.buffer.trim();
            if text.is_empty() {
                continue;
            }
            if !text.starts_with('{') {
                return Some(Err(Error::CaptureLine {
                    line,
                    reason: format!("expected a JSON object, found {:?}", clip(text)),
                }));
            }
            return Some(Ok(JsonlRecord {
                line,
                json: text.to_owned(),
            }));
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hftbacktest_lines() {
        let l = parse_hftbacktest_line("1723161255030314667 {\"a\":1}").unwrap();
        assert_eq!(l.received, UnixNanos(1_723_161_255_030_314_667));
        assert_eq!(l.json, "{\"a\":1}");
        assert!(parse_hftbacktest_line("{\"a\":1}").is_err());
        assert!(parse_hftbacktest_line("12x {}").is_err());
    }

    #[test]
    fn cryptofeed_lines() {
        let url = "wss://ws.okx.com:8443/ws/v5/public";
        assert_eq!(
            parse_cryptofeed_line(&format!("{url} <-> 1652459224.5300605")),
            Ok(CryptofeedLine::Connected {
                url,
                at: UnixNanos(1_652_459_224_530_060_500)
            })
        );
        assert!(matches!(
            parse_cryptofeed_line(&format!("{url} <- 1652459225.2987883: {{\"op\":1}}")),
            Ok(CryptofeedLine::Outbound {
                json: "{\"op\":1}",
                ..
            })
        ));
        assert_eq!(
            parse_cryptofeed_line("1626992741.06217: {\"x\": \"a: b\"}"),
            Ok(CryptofeedLine::Inbound {
                at: UnixNanos(1_626_992_741_062_170_000),
                json: "{\"x\": \"a: b\"}"
            })
        );
        assert!(matches!(
            parse_cryptofeed_line("https://x/y?z=1 -> 1.5: {}"),
            Ok(CryptofeedLine::Rest {
                url: "https://x/y?z=1",
                body: "{}",
                ..
            })
        ));
        assert!(matches!(
            parse_cryptofeed_line("configuration: {}"),
            Ok(CryptofeedLine::Configuration { json: "{}" })
        ));
        for bad in [
            "garbage",
            "1.5 no colon",
            "url <=> 1",
            "url -> notatime: {}",
        ] {
            assert!(parse_cryptofeed_line(bad).is_err(), "{bad:?}");
        }
    }

    #[test]
    fn readers_number_lines_and_continue_after_a_bad_one() {
        let text: &[u8] = b"1 {}\nbad\n\n3 {\"x\":1}\n";
        let records: Vec<_> = HftbacktestReader::new(text).collect();
        assert_eq!(records.len(), 3);
        assert!(matches!(
            &records[1],
            Err(Error::CaptureLine { line: 2, .. })
        ));
        assert_eq!(records[2].as_ref().unwrap().line, 4);

        let text: &[u8] = b"u <-> 1.0\nu <- 1.1: {}\n1.2: {\"a\":1}\nu -> 1.3: {}\n\xff\xfe\n";
        let records: Vec<_> = CryptofeedReader::new(text).collect();
        assert_eq!(records.len(), 4, "{records:?}");
        assert!(matches!(
            records[1],
            Ok(CryptofeedRecord::Inbound { line: 3, .. })
        ));
        assert!(matches!(records[3], Err(Error::CaptureIo { line: 5, .. })));

        let text: &[u8] = b"{\"a\":1}\r\nnot json\n";
        let records: Vec<_> = JsonlReader::new(text).collect();
        assert_eq!(records[0].as_ref().unwrap().json, "{\"a\":1}");
        assert!(matches!(
            records[1],
            Err(Error::CaptureLine { line: 2, .. })
        ));
    }
}
