//! The fast path for the message that dominates a Deribit feed: a `ticker.*`
//! notification. One pass over the bytes, no allocation, reading only the fields Keel
//! uses and checking the JSON grammar of everything it skips.
//!
//! It is a shortcut, never a second set of rules: it either returns exactly what the
//! serde path would (same fields, same f64 bits) or gives up with `None`, and the message
//! goes through the serde path, which decides (and reports any error). It gives up on
//! anything unusual: another channel or shape, keys in another order than "channel
//! before data", a duplicate or escaped key it needs, a wrong type, a number out of
//! range, nesting deeper than [`DEPTH_MAX`], trailing bytes. A test checks on mutated
//! messages that both paths agree.

/// Deepest nesting the scanner follows (serde_json's own limit is 128).
pub const DEPTH_MAX: usize = 64;

/// What the fast path reads from a ticker message (the serde path's `TickerData`).
#[derive(Clone, Copy, Debug, Default, PartialEq)]
pub struct ScannedTicker<'a> {
    pub instrument_name: &'a str,
    pub timestamp: i64,
    pub state: Option<&'a str>,
    pub mark_price: f64,
    pub mark_iv: Option<f64>,
    pub underlying_price: Option<f64>,
    pub index_price: Option<f64>,
    pub best_bid_price: Option<f64>,
    pub best_ask_price: Option<f64>,
    pub open_interest: Option<f64>,
    /// delta, gamma, vega, theta (a missing one is 0, as in the serde path).
    pub greeks: Option<[f64; 4]>,
}

struct Scanner<'a> {
    bytes: &'a [u8],
    at: usize,
}

/// A number as scanned: its text, and when its digits fit in 15 (and its exponent is
/// small), the exact decimal `mantissa × 10^exponent`.
struct NumberParts<'a> {
    /// The number's bytes (ASCII, checked by the grammar).
    raw: &'a [u8],
    integer: bool,
    negative: bool,
    exact: Option<(u64, i64)>,
}

/// `None`: not for the fast path (the serde path decides).
type Scan<T> = Option<T>;

impl<'a> Scanner<'a> {
    #[inline]
    fn peek(&self) -> Scan<u8> {
        self.bytes.get(self.at).copied()
    }

    #[inline(always)]
    fn skip_whitespace(&mut self) {
        while let Some(b' ' | b'\n' | b'\r' | b'\t') = self.bytes.get(self.at) {
            self.at += 1;
        }
    }

    #[inline(always)]
    fn expect(&mut self, byte: u8) -> Scan<()> {
        self.skip_whitespace();
        (self.peek()? == byte).then(|| self.at += 1)
    }

    /// A string; `Some((bytes, escaped))` with the raw bytes between the quotes.
    #[inline(always)]
    fn raw_string(&mut self) -> Scan<(&'a [u8], bool)> {
        self.expect(b'"')?;
        let start = self.at;
        let mut escaped = false;
        loop {
            self.at = plain_run_end(self.bytes, self.at);
            let byte = *self.bytes.get(self.at)?;
            match byte {
                b'"' => {
                    let raw = &self.bytes[start..self.at];
                    self.at += 1;
                    return Some((raw, escaped));
                }
                b'\\' => {
                    escaped = true;
                    match *self.bytes.get(self.at + 1)? {
                        b'"' | b'\\' | b'/' | b'b' | b'f' | b'n' | b'r' | b't' => self.at += 2,
                        b'u' => {
                            let hex = self.bytes.get(self.at + 2..self.at + 6)?;
                            if !hex.iter().all(u8::is_ascii_hexdigit) {
                                return None;
                            }
                            // Surrogates need pairing rules: the serde path judges them.
                            if matches!(hex[0], b'd' | b'D') {
                                return None;
                            }
                            self.at += 6;
                        }
                        _ => return None,
                    }
                }
                0..0x20 => return None,
                0x80.. => {
                    // Validated here, not by a pass over the whole line: JSON has
                    // non-ASCII bytes only inside strings.
                    let width = match byte {
                        0xC2..=0xDF => 2,
                        0xE0..=0xEF => 3,
                        0xF0..=0xF4 => 4,
                        _ => return None,
                    };
                    std::str::from_utf8(self.bytes.get(self.at..self.at + width)?).ok()?;
                    self.at += width;
                }
                _ => self.at += 1,
            }
        }
    }

    /// A string Keel reads as text: unescaped (serde borrows only unescaped strings).
    #[inline]
    fn plain_string(&mut self) -> Scan<&'a str> {
        let (raw, escaped) = self.raw_string()?;
        if escaped {
            return None;
        }
        std::str::from_utf8(raw).ok()
    }

    /// A key, as bytes; unescaped (an escaped key could spell a needed name).
    #[inline(always)]
    fn key(&mut self) -> Scan<&'a [u8]> {
        let (key, escaped) = self.raw_string()?;
        if escaped {
            return None;
        }
        self.expect(b':')?;
        Some(key)
    }

    /// A number, checked against JSON's grammar, scanned once.
    #[inline(always)]
    fn number_parts(&mut self) -> Scan<NumberParts<'a>> {
        self.skip_whitespace();
        let bytes = self.bytes;
        let start = self.at;
        let mut i = start;
        let mut mantissa: u64 = 0;
        let mut digits = 0u32;
        let mut exponent: i64 = 0;
        let negative = bytes.get(i) == Some(&b'-');
        if negative {
            i += 1;
        }
        // Integer part.
        match bytes.get(i)? {
            b'0' => {
                i += 1;
                digits = 1;
            }
            b'1'..=b'9' => {
                while let Some(&b) = bytes.get(i).filter(|b| b.is_ascii_digit()) {
                    mantissa = mantissa.wrapping_mul(10).wrapping_add(u64::from(b - b'0'));
                    digits += 1;
                    i += 1;
                }
            }
            _ => return None,
        }
        let mut integer = true;
        if bytes.get(i) == Some(&b'.') {
            integer = false;
            i += 1;
            let from = i;
            while let Some(&b) = bytes.get(i).filter(|b| b.is_ascii_digit()) {
                mantissa = mantissa.wrapping_mul(10).wrapping_add(u64::from(b - b'0'));
                digits += 1;
                exponent -= 1;
                i += 1;
            }
            if i == from {
                return None;
            }
        }
        let mut small_exponent = true;
        if let Some(b'e' | b'E') = bytes.get(i) {
            integer = false;
            i += 1;
            let sign = match bytes.get(i) {
                Some(b'-') => {
                    i += 1;
                    -1
                }
                Some(b'+') => {
                    i += 1;
                    1
                }
                _ => 1,
            };
            let from = i;
            let mut power: i64 = 0;
            while let Some(&b) = bytes.get(i).filter(|b| b.is_ascii_digit()) {
                power = power.saturating_mul(10).saturating_add(i64::from(b - b'0'));
                i += 1;
            }
            if i == from {
                return None;
            }
            small_exponent = power < 1_000;
            exponent = exponent.saturating_add(sign * power);
        }
        self.at = i;
        // 15 digits or fewer: below 2^53, so the mantissa is exact.
        let exact = (digits <= 15 && small_exponent).then_some((mantissa, exponent));
        Some(NumberParts {
            raw: &bytes[start..i],
            integer,
            negative,
            exact,
        })
    }

    /// A number as serde_json gives an f64: integers through u64/i64 (`-0` as -0.0),
    /// others correctly rounded; out of range gives up.
    #[inline]
    fn number(&mut self) -> Scan<f64> {
        let NumberParts {
            raw,
            integer,
            negative,
            exact,
        } = self.number_parts()?;
        // The general parsers, for what the exact paths do not cover (rare).
        let text = || std::str::from_utf8(raw).ok();
        let value = match (exact, integer) {
            // serde_json reads a negative integer zero as -0.0.
            (Some((0, _)), true) if negative => -0.0,
            (Some((mantissa, _)), true) => {
                let magnitude = mantissa as f64;
                if negative { -magnitude } else { magnitude }
            }
            // Both factors exact doubles: one operation gives the correctly rounded
            // value, the bits `str::parse` gives (Clinger's fast path).
            (Some((mantissa, exponent)), false) if (-22..=22).contains(&exponent) => {
                let power = EXACT_POWERS_OF_TEN[exponent.unsigned_abs() as usize];
                let magnitude = if exponent < 0 {
                    mantissa as f64 / power
                } else {
                    mantissa as f64 * power
                };
                if negative { -magnitude } else { magnitude }
            }
            _ if integer && !negative => match text()?.parse::<u64>() {
                Ok(value) => value as f64,
                Err(_) => text()?.parse::<f64>().ok()?,
            },
            _ if integer => match text()?.parse::<i64>() {
                Ok(value) => value as f64,
                Err(_) => text()?.parse::<f64>().ok()?,
            },
            _ => text()?.parse::<f64>().ok()?,
        };
        value.is_finite().then_some(value)
    }

    fn literal(&mut self, word: &[u8]) -> Scan<()> {
        self.skip_whitespace();
        let end = self.at + word.len();
        (self.bytes.get(self.at..end)? == word).then(|| self.at = end)
    }

    /// `null` (true) or not (false, nothing consumed).
    #[inline]
    fn null(&mut self) -> bool {
        self.skip_whitespace();
        if self.bytes[self.at..].starts_with(b"null") {
            self.at += 4;
            true
        } else {
            false
        }
    }

    #[inline]
    fn optional_number(&mut self) -> Scan<Option<f64>> {
        if self.null() {
            return Some(None);
        }
        self.number().map(Some)
    }

    /// After a member or element: `,` (true: more follow) or `close` (false: done).
    #[inline(always)]
    fn more(&mut self, close: u8) -> Scan<bool> {
        self.skip_whitespace();
        let byte = self.peek()?;
        self.at += 1;
        match byte {
            b',' => Some(true),
            _ if byte == close => Some(false),
            _ => None,
        }
    }

    /// Any value, checked and skipped.
    fn skip_value(&mut self, depth: usize) -> Scan<()> {
        if depth > DEPTH_MAX {
            return None;
        }
        self.skip_whitespace();
        match self.peek()? {
            b'"' => self.raw_string().map(|_| ()),
            b'{' => {
                self.at += 1;
                self.skip_whitespace();
                if self.peek()? == b'}' {
                    self.at += 1;
                    return Some(());
                }
                loop {
                    self.raw_string()?;
                    self.expect(b':')?;
                    self.skip_value(depth + 1)?;
                    if !self.more(b'}')? {
                        return Some(());
                    }
                }
            }
            b'[' => {
                self.at += 1;
                self.skip_whitespace();
                if self.peek()? == b']' {
                    self.at += 1;
                    return Some(());
                }
                loop {
                    self.skip_value(depth + 1)?;
                    if !self.more(b']')? {
                        return Some(());
                    }
                }
            }
            b't' => self.literal(b"true"),
            b'f' => self.literal(b"false"),
            b'n' => self.literal(b"null"),
            _ => self.number_parts().map(|_| ()),
        }
    }

    /// The members of an object: `member` reads or skips each value.
    fn object(&mut self, mut member: impl FnMut(&mut Self, &'a [u8]) -> Scan<()>) -> Scan<()> {
        self.expect(b'{')?;
        self.skip_whitespace();
        if self.peek()? == b'}' {
            self.at += 1;
            return Some(());
        }
        loop {
            let key = self.key()?;
            member(self, key)?;
            if !self.more(b'}')? {
                return Some(());
            }
        }
    }
}

/// Powers of ten exact in an f64.
const EXACT_POWERS_OF_TEN: [f64; 23] = [
    1e0, 1e1, 1e2, 1e3, 1e4, 1e5, 1e6, 1e7, 1e8, 1e9, 1e10, 1e11, 1e12, 1e13, 1e14, 1e15, 1e16,
    1e17, 1e18, 1e19, 1e20, 1e21, 1e22,
];

/// The end of the run of plain string bytes from `at`: the first quote, backslash,
/// control or non-ASCII byte (or the end), eight bytes at a time.
#[inline(always)]
fn plain_run_end(bytes: &[u8], mut at: usize) -> usize {
    const ONES: u64 = 0x0101_0101_0101_0101;
    const HIGHS: u64 = 0x8080_8080_8080_8080;
    let has_zero = |v: u64| v.wrapping_sub(ONES) & !v & HIGHS;
    while let Some(chunk) = bytes.get(at..at + 8) {
        let mut word = [0u8; 8];
        word.copy_from_slice(chunk);
        let v = u64::from_le_bytes(word);
        // A byte below 0x20 or above 0x7F, or equal to '"' or '\\', flags its high bit.
        let special = (v.wrapping_sub(ONES * 0x20) & !v & HIGHS)
            | (v & HIGHS)
            | has_zero(v ^ (ONES * u64::from(b'"')))
            | has_zero(v ^ (ONES * u64::from(b'\\')));
        if special != 0 {
            return at + (special.trailing_zeros() / 8) as usize;
        }
        at += 8;
    }
    while let Some(&b) = bytes.get(at) {
        if b == b'"' || b == b'\\' || !(0x20..0x80).contains(&b) {
            break;
        }
        at += 1;
    }
    at
}

/// Marks a field read; a second one gives up (serde refuses duplicates).
fn first(seen: &mut u32, bit: u32) -> Scan<()> {
    (*seen & bit == 0).then(|| *seen |= bit)
}

fn ticker_data<'a>(scanner: &mut Scanner<'a>, ticker: &mut ScannedTicker<'a>) -> Scan<()> {
    let mut seen = 0u32;
    scanner.object(|s, key| {
        // The optional numbers, each with its bit in `seen`.
        let optional = match key {
            b"mark_iv" => Some((&mut ticker.mark_iv, 16)),
            b"underlying_price" => Some((&mut ticker.underlying_price, 32)),
            b"index_price" => Some((&mut ticker.index_price, 64)),
            b"best_bid_price" => Some((&mut ticker.best_bid_price, 128)),
            b"best_ask_price" => Some((&mut ticker.best_ask_price, 256)),
            b"open_interest" => Some((&mut ticker.open_interest, 512)),
            _ => None,
        };
        if let Some((field, bit)) = optional {
            first(&mut seen, bit)?;
            *field = s.optional_number()?;
            return Some(());
        }
        match key {
            b"instrument_name" => {
                first(&mut seen, 1)?;
                ticker.instrument_name = s.plain_string()?;
            }
            b"timestamp" => {
                first(&mut seen, 2)?;
                ticker.timestamp = match s.number_parts()? {
                    // `-0` is a float to serde_json (-0.0), not an integer: its call.
                    NumberParts { raw, .. } if raw.starts_with(b"-0") => return None,
                    NumberParts {
                        integer: true,
                        negative: false,
                        exact: Some((mantissa, _)),
                        ..
                    } => mantissa as i64,
                    NumberParts { raw, .. } => std::str::from_utf8(raw).ok()?.parse().ok()?,
                };
            }
            b"state" => {
                first(&mut seen, 4)?;
                ticker.state = if s.null() {
                    None
                } else {
                    Some(s.plain_string()?)
                };
            }
            b"mark_price" => {
                first(&mut seen, 8)?;
                ticker.mark_price = s.number()?;
            }
            b"greeks" => {
                first(&mut seen, 1024)?;
                ticker.greeks = if s.null() {
                    None
                } else {
                    let mut greeks = [0.0; 4];
                    let mut seen_greeks = 0u32;
                    s.object(|s, key| {
                        let slot = match key {
                            b"delta" => 0,
                            b"gamma" => 1,
                            b"vega" => 2,
                            b"theta" => 3,
                            _ => return s.skip_value(2),
                        };
                        first(&mut seen_greeks, 1 << slot)?;
                        greeks[slot] = s.number()?;
                        Some(())
                    })?;
                    Some(greeks)
                };
            }
            _ => s.skip_value(1)?,
        }
        Some(())
    })?;
    // Required by the serde path: the instrument, the time, the mark.
    (seen & (1 | 2 | 8) == (1 | 2 | 8)).then_some(())
}

/// The ticker of a `ticker.*` notification, or `None` (the serde path decides).
pub fn scan_ticker(bytes: &[u8]) -> Option<ScannedTicker<'_>> {
    let mut scanner = Scanner { bytes, at: 0 };
    let mut ticker = ScannedTicker::default();
    let (mut method_seen, mut params_seen) = (false, false);
    scanner.object(|s, key| match key {
        b"method" => {
            if std::mem::replace(&mut method_seen, true) {
                return None;
            }
            (s.plain_string()? == "subscription").then_some(())
        }
        b"params" => {
            if std::mem::replace(&mut params_seen, true) {
                return None;
            }
            let mut channel_seen = false;
            let mut data_seen = false;
            s.object(|s, key| match key {
                b"channel" => {
                    if std::mem::replace(&mut channel_seen, true) {
                        return None;
                    }
                    let channel = s.plain_string()?;
                    let kind = channel.split('.').next().unwrap_or_default();
                    if !matches!(kind, "ticker" | "incremental_ticker") {
                        return None;
                    }
                    Some(())
                }
                b"data" if channel_seen && !data_seen => {
                    data_seen = true;
                    ticker_data(s, &mut ticker)
                }
                b"data" => None,
                _ => s.skip_value(2),
            })?;
            data_seen.then_some(())
        }
        // Responses, errors and the like belong to the serde path.
        b"result" | b"error" | b"usOut" => None,
        _ => s.skip_value(1),
    })?;
    scanner.skip_whitespace();
    (method_seen && params_seen && scanner.at == scanner.bytes.len()).then_some(ticker)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn numbers_read_exactly_as_serde_json_reads_them() {
        let mut rng = crate::rng::SplitMix64::new(17);
        let mut texts: Vec<String> = [
            "-0",
            "0",
            "-0.0",
            "1e22",
            "1e23",
            "123456789012345678901",
            "-9223372036854775809",
            "18446744073709551616",
            "4.9e-324",
            "1e-400",
            "0.1",
            "90343.17",
            "1E+2",
            "-1.5e-7",
            "0.25e-99999999999999999999",
            "12.5e99999999999999999999",
        ]
        .iter()
        .map(|t| t.to_string())
        .collect();
        for _ in 0..200_000 {
            let digits = 1 + rng.below(19);
            let mantissa = rng.next_u64() % 10u64.pow(digits as u32);
            let point = rng.below(digits + 1) as usize;
            let mut text = mantissa.to_string();
            if point < text.len() && rng.below(3) > 0 {
                text.insert(point.max(1), '.');
            }
            if rng.below(4) == 0 {
                text.push_str(&format!("e{}", rng.below(60) as i64 - 30));
            }
            if rng.below(2) == 0 {
                text.insert(0, '-');
            }
            texts.push(text);
        }
        for text in texts {
            let expected = serde_json::from_str::<f64>(&text)
                .ok()
                .filter(|v| v.is_finite());
            let mut scanner = Scanner {
                bytes: text.as_bytes(),
                at: 0,
            };
            let got = scanner.number();
            assert_eq!(got.map(f64::to_bits), expected.map(f64::to_bits), "{text}");
        }
    }

    #[test]
    fn non_ascii_is_checked_inside_strings() {
        let line = crate::deribit::session::session(3, 40)
            .into_iter()
            .find(|l| l.contains("\"channel\":\"ticker.BTC-"))
            .expect("a ticker");
        let accented = line.replace(
            "\"state\":\"open\"",
            "\"state\":\"open\",\"note\":\"épée €\"",
        );
        assert!(scan_ticker(accented.as_bytes()).is_some());
        let mut invalid = line
            .replace("\"state\":\"open\"", "\"state\":\"open\",\"note\":\"ab\"")
            .into_bytes();
        let at = invalid
            .windows(4)
            .position(|w| w == b"\"ab\"")
            .expect("note")
            + 1;
        invalid[at] = 0xFF;
        assert!(scan_ticker(&invalid).is_none());
        invalid[at] = 0xC3; // a lead byte without its continuation
        assert!(scan_ticker(&invalid).is_none());
    }

    #[test]
    fn the_session_tickers_take_the_fast_path() {
        let lines = crate::deribit::session::session(3, 400);
        let tickers: Vec<&String> = lines
            .iter()
            .filter(|l| l.contains("\"channel\":\"ticker."))
            .collect();
        assert!(tickers.len() > 200);
        for line in tickers {
            let scanned = scan_ticker(line.as_bytes());
            assert!(scanned.is_some(), "{line}");
        }
    }
}
