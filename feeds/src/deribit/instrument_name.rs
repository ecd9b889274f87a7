//! Deribit instrument names: `BTC-PERPETUAL`, `BTC-28JUN24` (future),
//! `BTC-28JUN24-70000-C` (option), `ETH_USDC-PERPETUAL` (linear). Expiries are 08:00 UTC.

use keel_engine::pricing::OptionKind;

/// What a name says.
#[derive(Clone, Debug, PartialEq)]
pub struct DeribitName {
    /// Underlying coin, upper case ("BTC").
    pub coin: String,
    /// Quote-settled (`_USDC`, `_USDT`): linear; otherwise coin-settled (inverse).
    pub linear: bool,
    pub contract: NamedContract,
}

#[derive(Clone, Copy, Debug, PartialEq)]
pub enum NamedContract {
    Perpetual,
    Future {
        expiry_ms: i64,
    },
    Option {
        expiry_ms: i64,
        strike: f64,
        kind: OptionKind,
    },
}

/// Parses a name; `None` when it is not one of the shapes above.
pub fn parse_name(name: &str) -> Option<DeribitName> {
    let mut parts = name.split('-');
    let currency = parts.next()?;
    let (coin, linear) = match currency.split_once('_') {
        Some((coin, _quote)) => (coin, true),
        None => (currency, false),
    };
    if coin.is_empty() || !coin.chars().all(|c| c.is_ascii_alphanumeric()) {
        return None;
    }
    let second = parts.next()?;
    let contract = match (second, parts.next(), parts.next(), parts.next()) {
        ("PERPETUAL", None, None, None) => NamedContract::Perpetual,
        (date, None, None, None) => NamedContract::Future {
            expiry_ms: expiry_ms(date)?,
        },
        (date, Some(strike), Some(right), None) => NamedContract::Option {
            expiry_ms: expiry_ms(date)?,
            // Deribit writes decimal strikes with a 'd' ("0d5").
            strike: strike
                .replace('d', ".")
                .parse::<f64>()
                .ok()
                .filter(|k| k.is_finite() && *k > 0.0)?,
            kind: match right {
                "C" => OptionKind::Call,
                "P" => OptionKind::Put,
                _ => return None,
            },
        },
        _ => return None,
    };
    Some(DeribitName {
        coin: coin.to_ascii_uppercase(),
        linear,
        contract,
    })
}

/// Expiry of a date part (`5JUN20`) at 08:00 UTC, in ms since the epoch.
pub fn expiry_ms(date: &str) -> Option<i64> {
    let split = date.find(|c: char| c.is_ascii_alphabetic())?;
    let day: i64 = date.get(..split)?.parse().ok()?;
    const MONTHS: [&str; 12] = [
        "JAN", "FEB", "MAR", "APR", "MAY", "JUN", "JUL", "AUG", "SEP", "OCT", "NOV", "DEC",
    ];
    let month = MONTHS
        .iter()
        .position(|m| Some(*m) == date.get(split..split + 3))? as i64
        + 1;
    let year = 2000
        + date
            .get(split + 3..)?
            .parse::<i64>()
            .ok()
            .filter(|y| *y < 100)?;
    if !(1..=31).contains(&day) {
        return None;
    }
    Some((days_from_civil(year, month, day) * 86_400 + 8 * 3_600) * 1_000)
}

/// Days since 1970-01-01 of a proleptic Gregorian date (Howard Hinnant's algorithm).
pub fn days_from_civil(year: i64, month: i64, day: i64) -> i64 {
    let y = if month <= 2 { year - 1 } else { year };
    let era = y.div_euclid(400);
    let yoe = y - era * 400;
    let mp = (month + 9) % 12;
    let doy = (153 * mp + 2) / 5 + day - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    era * 146_097 + doe - 719_468
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_every_shape_and_refuses_others() {
        let perp = parse_name("BTC-PERPETUAL").unwrap();
        assert_eq!((perp.coin.as_str(), perp.linear), ("BTC", false));
        assert_eq!(perp.contract, NamedContract::Perpetual);
        // 2024-06-28T08:00:00Z
        assert_eq!(
            parse_name("BTC-28JUN24").unwrap().contract,
            NamedContract::Future {
                expiry_ms: 1_719_561_600_000
            }
        );
        let option = parse_name("ETH-5JUN20-250d5-P").unwrap();
        assert!(matches!(
            option.contract,
            NamedContract::Option { strike, kind: OptionKind::Put, .. } if strike == 250.5
        ));
        assert!(parse_name("ETH_USDC-PERPETUAL").unwrap().linear);
        for bad in [
            "",
            "BTC",
            "BTC-",
            "BTC-28JUN24-70000-X",
            "BTC-99XYZ24",
            "BTC-1JU",
            "BTC-32JAN24",
        ] {
            assert!(parse_name(bad).is_none(), "{bad}");
        }
    }
}
