//! Syslog over a stream (RFC 6587): each frame is either octet-counted
//! (`<length> <message>`) or ends at a newline. Senders pick one method,
//! and rsyslog tells them apart frame by frame, as we do: a frame that
//! starts with digits and a space is counted, anything else is a line.
//!
//! Frames longer than the limit are cut at it and flagged; the rest of
//! such a frame is read and thrown away, so the stream stays in step.

/// One message from the stream.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Frame {
    pub bytes: Vec<u8>,
    pub truncated: bool,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Mode {
    /// Between frames.
    Start,
    /// Reading the digits of an octet count (kept in `cur`).
    Count,
    /// Inside a counted frame with this many bytes left.
    Counted(usize),
    /// Inside a newline-ended frame.
    Line,
}

/// An incremental frame splitter.
#[derive(Debug)]
pub struct FrameDecoder {
    max: usize,
    mode: Mode,
    cur: Vec<u8>,
    truncated: bool,
}

/// Octet counts longer than this many digits are not counts.
const MAX_COUNT_DIGITS: usize = 10;

impl FrameDecoder {
    /// A decoder cutting frames at `max` bytes.
    pub fn new(max: usize) -> Self {
        FrameDecoder {
            max: max.max(1),
            mode: Mode::Start,
            cur: Vec::new(),
            truncated: false,
        }
    }

    /// True when a frame is partly read (the peer is mid-message).
    pub fn in_frame(&self) -> bool {
        self.mode != Mode::Start
    }

    fn keep(&mut self, bytes: &[u8]) {
        let room = self.max.saturating_sub(self.cur.len());
        if bytes.len() > room {
            self.truncated = true;
        }
        self.cur.extend_from_slice(&bytes[..bytes.len().min(room)]);
    }

    fn emit(&mut self, out: &mut Vec<Frame>) {
        let bytes = std::mem::take(&mut self.cur);
        let truncated = std::mem::take(&mut self.truncated);
        self.mode = Mode::Start;
        if !bytes.is_empty() || truncated {
            out.push(Frame { bytes, truncated });
        }
    }

    /// Feeds bytes read from the stream; complete frames go to `out`.
    pub fn push(&mut self, mut data: &[u8], out: &mut Vec<Frame>) {
        while !data.is_empty() {
            match self.mode {
                Mode::Start => {
                    let c = data[0];
                    if matches!(c, b'\n' | b'\r' | 0) {
                        data = &data[1..];
                    } else if c.is_ascii_digit() {
                        self.mode = Mode::Count;
                    } else {
                        self.mode = Mode::Line;
                    }
                }
                Mode::Count => {
                    let c = data[0];
                    if c.is_ascii_digit() && self.cur.len() < MAX_COUNT_DIGITS {
                        self.cur.push(c);
                        data = &data[1..];
                    } else if c == b' ' && !self.cur.is_empty() {
                        let n = std::str::from_utf8(&self.cur)
                            .ok()
                            .and_then(|s| s.parse::<usize>().ok())
                            .unwrap_or(0);
                        self.cur.clear();
                        data = &data[1..];
                        self.mode = Mode::Counted(n);
                        if n == 0 {
                            self.emit(out);
                        }
                    } else {
                        // Not a count: the digits begin a line.
                        self.mode = Mode::Line;
                    }
                }
                Mode::Counted(left) => {
                    let take = left.min(data.len());
                    self.keep(&data[..take]);
                    data = &data[take..];
                    if take == left {
                        self.emit(out);
                    } else {
                        self.mode = Mode::Counted(left - take);
                    }
                }
                Mode::Line => match memchr(b'\n', data) {
                    Some(i) => {
                        let mut line = &data[..i];
                        if line.last() == Some(&b'\r') && self.cur.len() + line.len() <= self.max {
                            line = &line[..line.len() - 1];
                        }
                        self.keep(line);
                        data = &data[i + 1..];
                        self.emit(out);
                    }
                    None => {
                        self.keep(data);
                        data = &[];
                    }
                },
            }
        }
    }

    /// At the end of the stream: a last line without its newline is still a
    /// message; a counted frame cut short is kept and flagged.
    pub fn finish(&mut self, out: &mut Vec<Frame>) {
        match self.mode {
            Mode::Start => {}
            Mode::Counted(_) => {
                self.truncated = true;
                self.emit(out);
            }
            Mode::Count | Mode::Line => self.emit(out),
        }
    }
}

fn memchr(needle: u8, haystack: &[u8]) -> Option<usize> {
    haystack.iter().position(|b| *b == needle)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn frames(max: usize, chunks: &[&[u8]]) -> Vec<(String, bool)> {
        let mut d = FrameDecoder::new(max);
        let mut out = Vec::new();
        for c in chunks {
            d.push(c, &mut out);
        }
        d.finish(&mut out);
        out.into_iter()
            .map(|f| (String::from_utf8_lossy(&f.bytes).into_owned(), f.truncated))
            .collect()
    }

    #[test]
    fn newline_and_counted_mixed() {
        let got = frames(1024, &[b"<13>a line\r\n11 <13>counted12 <13>\nwith nl\n"]);
        assert_eq!(
            got,
            vec![
                ("<13>a line".into(), false),
                ("<13>counted".into(), false),
                ("<13>\nwith nl".into(), false),
            ]
        );
    }

    #[test]
    fn split_anywhere_gives_the_same_frames() {
        let stream: &[u8] = b"5 hello<14>one\n2026-11-25 starts with digits\n3 abc";
        let whole = frames(1024, &[stream]);
        for cut in 0..stream.len() {
            assert_eq!(
                frames(1024, &[&stream[..cut], &stream[cut..]]),
                whole,
                "cut at {cut}"
            );
        }
        assert_eq!(whole[2], ("2026-11-25 starts with digits".into(), false));
    }

    #[test]
    fn oversized_frames_are_cut_and_flagged_and_the_stream_stays_in_step() {
        let got = frames(4, &[b"abcdefgh\n10 0123456789ok\n"]);
        assert_eq!(
            got,
            vec![
                ("abcd".into(), true),
                ("0123".into(), true),
                ("ok".into(), false)
            ]
        );
    }

    #[test]
    fn a_stream_ending_mid_frame() {
        assert_eq!(
            frames(64, &[b"no newline"]),
            vec![("no newline".into(), false)]
        );
        assert_eq!(frames(64, &[b"10 short"]), vec![("short".into(), true)]);
    }

    proptest::proptest! {
        #[test]
        fn never_panics_and_respects_the_limit(
            chunks in proptest::collection::vec(proptest::collection::vec(proptest::num::u8::ANY, 0..40), 0..8),
            max in 1usize..32,
        ) {
            let mut d = FrameDecoder::new(max);
            let mut out = Vec::new();
            for c in &chunks {
                d.push(c, &mut out);
            }
            d.finish(&mut out);
            for f in out {
                proptest::prop_assert!(f.bytes.len() <= max);
            }
        }
    }
}
