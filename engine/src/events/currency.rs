//! Ledger currencies: a coin (what inverse contracts settle in) or the quote currency
//! (USD/USDC, what linear contracts settle in). A type of its own, so a currency cannot be
//! confused with an underlying id.

use rkyv::{Archive, Deserialize, Serialize};

use super::ids::{UNDERLYINGS_MAX, UnderlyingId};

/// A ledger currency. Orders coins by underlying id, then the quote currency last.
#[derive(
    Archive, Serialize, Deserialize, Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash,
)]
#[rkyv(derive(Debug))]
pub enum Currency {
    /// The coin of an underlying (BTC for BTC inverse contracts).
    Coin(UnderlyingId),
    /// The quote currency, USD or USDC (one ledger: Keel does not distinguish them).
    Quote,
}

/// How the quote currency is written in JSON (`"USDC"` and `"quote"` are accepted too).
pub const QUOTE_CURRENCY_NAME: &str = "USD";

/// Ledger slots: one per underlying's coin, then the quote currency.
pub const CURRENCIES_MAX: usize = UNDERLYINGS_MAX as usize + 1;

impl Currency {
    /// Dense index `0..CURRENCIES_MAX`; `None` for a coin id out of range.
    pub fn slot(self) -> Option<usize> {
        match self {
            Currency::Coin(id) if id.0 < UNDERLYINGS_MAX => Some(usize::from(id.0)),
            Currency::Coin(_) => None,
            Currency::Quote => Some(UNDERLYINGS_MAX as usize),
        }
    }

    /// A stable number: the coin's underlying id, or `UNDERLYINGS_MAX` for the quote
    /// currency (the state hash and fixed-size layouts use it).
    pub fn code(self) -> u16 {
        match self {
            Currency::Coin(id) => id.0,
            Currency::Quote => UNDERLYINGS_MAX,
        }
    }

    /// The currency in slot `slot` (the inverse of [`Currency::slot`]).
    pub fn from_slot(slot: usize) -> Option<Currency> {
        match u16::try_from(slot).ok()? {
            id if id < UNDERLYINGS_MAX => Some(Currency::Coin(UnderlyingId(id))),
            UNDERLYINGS_MAX => Some(Currency::Quote),
            _ => None,
        }
    }
}

impl serde::Serialize for Currency {
    /// A coin as its underlying id (a number), the quote currency as `"USD"`.
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        match self {
            Currency::Coin(id) => serializer.serialize_u16(id.0),
            Currency::Quote => serializer.serialize_str(QUOTE_CURRENCY_NAME),
        }
    }
}

impl<'de> serde::Deserialize<'de> for Currency {
    fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        #[derive(serde::Deserialize)]
        #[serde(untagged)]
        enum Written {
            Coin(u16),
            Name(String),
        }
        match Written::deserialize(deserializer)? {
            Written::Coin(id) => Ok(Currency::Coin(UnderlyingId(id))),
            Written::Name(name) if ["USD", "USDC", "quote"].contains(&name.as_str()) => {
                Ok(Currency::Quote)
            }
            Written::Name(name) => Err(serde::de::Error::custom(format!(
                "unknown currency {name:?}: a coin is its underlying id (a number), the quote currency is \"USD\""
            ))),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn json_round_trip_and_refusal() {
        for currency in [Currency::Coin(UnderlyingId(3)), Currency::Quote] {
            let text = serde_json::to_string(&currency).unwrap();
            assert_eq!(serde_json::from_str::<Currency>(&text).unwrap(), currency);
        }
        assert_eq!(serde_json::to_string(&Currency::Quote).unwrap(), "\"USD\"");
        assert_eq!(
            serde_json::from_str::<Currency>("\"USDC\"").unwrap(),
            Currency::Quote
        );
        let error = serde_json::from_str::<Currency>("\"EUR\"").unwrap_err();
        assert!(error.to_string().contains("unknown currency"), "{error}");
    }

    #[test]
    fn quote_sorts_after_every_coin_and_slots_are_dense() {
        let last_coin = Currency::Coin(UnderlyingId(UNDERLYINGS_MAX - 1));
        assert!(last_coin < Currency::Quote);
        assert_eq!(last_coin.slot(), Some(CURRENCIES_MAX - 2));
        assert_eq!(Currency::Quote.slot(), Some(CURRENCIES_MAX - 1));
        assert_eq!(Currency::Coin(UnderlyingId(UNDERLYINGS_MAX)).slot(), None);
    }
}
