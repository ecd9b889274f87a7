//! Exact decimals inside fixed-size events: `rust_decimal::Decimal` stored as its 16
//! serialized bytes. (rust_decimal's own rkyv support targets rkyv 0.7; this keeps the
//! archived form ours, fixed-size and validated like every other field.)

use std::fmt;

use rkyv::{Archive, Deserialize, Serialize};
use rust_decimal::Decimal;

/// A `Decimal` in 16 bytes (`Decimal::serialize`), `Copy` and archivable.
#[derive(Archive, Serialize, Deserialize, Clone, Copy, PartialEq, Eq, Hash, Default)]
#[rkyv(derive(Debug))]
pub struct Dec(pub [u8; 16]);

impl Dec {
    pub const ZERO: Dec = Dec([0; 16]);

    pub fn new(value: Decimal) -> Dec {
        Dec(value.serialize())
    }

    /// The value. Bytes that are not a valid `Decimal` (only possible from a damaged or
    /// forged record; our encoder never writes them) read as `None`.
    pub fn get(self) -> Option<Decimal> {
        // The scale lives in bits 16..24 of the flags word and must be ≤ 28.
        let scale = self.0[2];
        let reserved_ok = self.0[0] == 0 && self.0[1] == 0 && (self.0[3] & 0x7F) == 0;
        (scale <= 28 && reserved_ok).then(|| Decimal::deserialize(self.0))
    }
}

impl From<Decimal> for Dec {
    fn from(value: Decimal) -> Dec {
        Dec::new(value)
    }
}

impl fmt::Debug for Dec {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.get() {
            Some(value) => write!(f, "{value}"),
            None => write!(f, "<invalid decimal {:02x?}>", self.0),
        }
    }
}

impl fmt::Display for Dec {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Debug::fmt(self, f)
    }
}

/// Accepts exact decimal text ("0.2170") or a JSON number (converted exactly from its
/// text when possible).
impl<'de> serde::Deserialize<'de> for Dec {
    fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        #[derive(serde::Deserialize)]
        #[serde(untagged)]
        enum Text {
            String(String),
            Integer(i64),
            Float(f64),
        }
        let value = match Text::deserialize(deserializer)? {
            Text::String(text) => text.parse::<Decimal>().map_err(serde::de::Error::custom)?,
            Text::Integer(integer) => Decimal::from(integer),
            Text::Float(float) => Decimal::try_from(float).map_err(serde::de::Error::custom)?,
        };
        Ok(Dec::new(value))
    }
}

/// Exact decimal text in JSON (a float would lose digits).
impl serde::Serialize for Dec {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.collect_str(self)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::str::FromStr;

    #[test]
    fn round_trips_and_rejects_invalid_bytes() {
        for text in [
            "0",
            "-1.5",
            "39165.86",
            "0.00000001",
            "79228162514264337593543950335",
        ] {
            let value = Decimal::from_str(text).expect("decimal");
            assert_eq!(Dec::new(value).get(), Some(value));
        }
        let mut bad = Dec::new(Decimal::ONE);
        bad.0[2] = 29; // scale beyond 28
        assert_eq!(bad.get(), None);
        let mut reserved = Dec::new(Decimal::ONE);
        reserved.0[0] = 1;
        assert_eq!(reserved.get(), None);
    }
}
