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
    pub channel: &'a str,
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
    text: &'a str,
    bytes: &'a [u8],
    at: usize,
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

    /// A number's text, checked against JSON's grammar.
    #[inline(always)]
    fn number_text(&mut self) -> Scan<&'a str> {
        self.skip_whitespace();
        let bytes = self.bytes;
        let start = self.at;
        let mut i = start;
        let digits_from = |mut i: usize| {
            while i < bytes.len() && bytes[i].is_ascii_digit() {
                i += 1;
            }
            i
        };
        if bytes.get(i) == Some(&b'-') {
            i += 1;
        }
        match bytes.get(i)? {
            b'0' => i += 1,
            b'1'..=b'9' => i = digits_from(i + 1),
            _ => return None,
        }
        if bytes.get(i) == Some(&b'.') {
            let end = digits_from(i + 1);
            if end == i + 1 {
                return None;
            }
            i = end;
        }
        if let Some(b'e' | b'E') = bytes.get(i) {
            i += 1;
            if let Some(b'+' | b'-') = bytes.get(i) {
                i += 1;
            }
            let end = digits_from(i);
            if end == i {
                return None;
            }
            i = end;
        }
        self.at = i;
        self.text.get(start..i)
    }

    /// A number as serde_json gives an f64: integers through u64/i64 (so `-0` is +0.0),
    /// others correctly rounded; out of range gives up.
    #[inline]
    fn number(&mut self) -> Scan<f64> {
        let text = self.number_text()?;
        let integer = !text.bytes().any(|b| matches!(b, b'.' | b'e' | b'E'));
        // serde_json reads a negative integer zero as -0.0.
        if integer && text.starts_with('-') && text[1..].bytes().all(|b| b == b'0') {
            return Some(-0.0);
        }
        let value = if integer && !text.starts_with('-') {
            match text.parse::<u64>() {
                Ok(value) => value as f64,
                Err(_) => text.parse::<f64>().ok()?,
            }
        } else if integer {
            match text.parse::<i64>() {
                Ok(value) => value as f64,
                Err(_) => text.parse::<f64>().ok()?,
            }
        } else {
            match exact_decimal(text) {
                Some(value) => value,
                None => text.parse::<f64>().ok()?,
            }
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
                    self.skip_whitespace();
                    match self.peek()? {
                        b',' => self.at += 1,
                        b'}' => {
                            self.at += 1;
                            return Some(());
                        }
                        _ => return None,
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
                    self.skip_whitespace();
                    match self.peek()? {
                        b',' => self.at += 1,
                        b']' => {
                            self.at += 1;
                            return Some(());
                        }
                        _ => return None,
                    }
                }
            }
            b't' => self.literal(b"true"),
            b'f' => self.literal(b"false"),
            b'n' => self.literal(b"null"),
            _ => self.number_text().map(|_| ()),
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
            self.skip_whitespace();
            match self.peek()? {
                b',' => self.at += 1,
                b'}' => {
                    self.at += 1;
                    return Some(());
                }
                _ => return None,
            }
        }
    }
}

/// Powers of ten exact in an f64.
const EXACT_POWERS_OF_TEN: [f64; 23] = [
    1e0, 1e1, 1e2, 1e3, 1e4, 1e5, 1e6, 1e7, 1e8, 1e9, 1e10, 1e11, 1e12, 1e13, 1e14, 1e15, 1e16,
    1e17, 1e18, 1e19, 1e20, 1e21, 1e22,
];

/// A JSON number (grammar already checked) whose digits fit in 2^53 and whose power of
/// ten is within ±22: both are exact doubles, so one multiplication or division gives
/// the correctly rounded value, the same bits as `str::parse` (Clinger's fast path).
/// `None` otherwise (the caller parses it the general way).
fn exact_decimal(text: &str) -> Option<f64> {
    let bytes = text.as_bytes();
    let (negative, mut at) = match bytes.first() {
        Some(b'-') => (true, 1),
        _ => (false, 0),
    };
    let mut mantissa: u64 = 0;
    let mut exponent: i64 = 0;
    let mut digits = 0;
    let mut fraction = false;
    while let Some(&b) = bytes.get(at) {
        match b {
            b'0'..=b'9' => {
                mantissa = mantissa * 10 + u64::from(b - b'0');
                digits += 1;
                if digits > 15 {
                    return None;
                }
                if fraction {
                    exponent -= 1;
                }
            }
            b'.' => fraction = true,
            _ => break,
        }
        at += 1;
    }
    if let Some(b'e' | b'E') = bytes.get(at) {
        let power: i64 = text.get(at + 1..)?.parse().ok()?;
        exponent = exponent.checked_add(power)?;
    }
    if mantissa > 1 << 53 || !(-22..=22).contains(&exponent) {
        return None;
    }
    let power = EXACT_POWERS_OF_TEN[exponent.unsigned_abs() as usize];
    let magnitude = if exponent < 0 {
        mantissa as f64 / power
    } else {
        mantissa as f64 * power
    };
    Some(if negative { -magnitude } else { magnitude })
}

/// The end of the run of plain string bytes from `at`: the first quote, backslash or
/// control byte (or the end), eight bytes at a time.
#[inline(always)]
fn plain_run_end(bytes: &[u8], mut at: usize) -> usize {
    const ONES: u64 = 0x0101_0101_0101_0101;
    const HIGHS: u64 = 0x8080_8080_8080_8080;
    let has_zero = |v: u64| v.wrapping_sub(ONES) & !v & HIGHS;
    while let Some(chunk) = bytes.get(at..at + 8) {
        let mut word = [0u8; 8];
        word.copy_from_slice(chunk);
        let v = u64::from_le_bytes(word);
        // A byte below 0x20, or equal to '"' or '\\', flags its high bit.
        let special = (v.wrapping_sub(ONES * 0x20) & !v & HIGHS)
            | has_zero(v ^ (ONES * u64::from(b'"')))
            | has_zero(v ^ (ONES * u64::from(b'\\')));
        if special != 0 {
            return at + (special.trailing_zeros() / 8) as usize;
        }
        at += 8;
    }
    while let Some(&b) = bytes.get(at) {
        if b == b'"' || b == b'\\' || b < 0x20 {
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
        match key {
            b"instrument_name" => {
                first(&mut seen, 1)?;
                ticker.instrument_name = s.plain_string()?;
            }
            b"timestamp" => {
                first(&mut seen, 2)?;
                // `-0` is a float to serde_json (-0.0), not an integer: its call.
                let text = s.number_text()?;
                if text.starts_with("-0") {
                    return None;
                }
                ticker.timestamp = text.parse::<i64>().ok()?;
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
            b"mark_iv" => {
                first(&mut seen, 16)?;
                ticker.mark_iv = s.optional_number()?;
            }
            b"underlying_price" => {
                first(&mut seen, 32)?;
                ticker.underlying_price = s.optional_number()?;
            }
            b"index_price" => {
                first(&mut seen, 64)?;
                ticker.index_price = s.optional_number()?;
            }
            b"best_bid_price" => {
                first(&mut seen, 128)?;
                ticker.best_bid_price = s.optional_number()?;
            }
            b"best_ask_price" => {
                first(&mut seen, 256)?;
                ticker.best_ask_price = s.optional_number()?;
            }
            b"open_interest" => {
                first(&mut seen, 512)?;
                ticker.open_interest = s.optional_number()?;
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
pub fn scan_ticker(text: &str) -> Option<ScannedTicker<'_>> {
    let mut scanner = Scanner {
        text,
        bytes: text.as_bytes(),
        at: 0,
    };
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
                    ticker.channel = channel;
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
    fn exact_decimals_equal_the_standard_parse_bit_for_bit() {
        let mut rng = crate::rng::SplitMix64::new(17);
        for _ in 0..200_000 {
            let digits = 1 + rng.below(15);
            let mantissa = rng.next_u64() % 10u64.pow(digits as u32);
            let point = rng.below(digits + 1) as usize;
            let mut text = mantissa.to_string();
            if point < text.len() {
                text.insert(point.max(1), '.');
            }
            if rng.below(4) == 0 {
                text.push_str(&format!("e{}", rng.below(30) as i64 - 15));
            }
            if rng.below(2) == 0 {
                text.insert(0, '-');
            }
            let expected: f64 = text.parse().expect("a number");
            if let Some(fast) = exact_decimal(&text) {
                assert_eq!(fast.to_bits(), expected.to_bits(), "{text}");
            }
        }
        assert_eq!(exact_decimal("0.03847784"), Some(0.03847784));
        assert_eq!(exact_decimal("12345678901234567"), None);
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
            let scanned = scan_ticker(line);
            assert!(scanned.is_some(), "{line}");
        }
    }
}
