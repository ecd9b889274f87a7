//! Interned identifiers and the limits on them. Venue names map to these ids through the
//! journaled `InstrumentDefined` / `AccountDefined` events, so replay needs nothing else.

use rkyv::{Archive, Deserialize, Serialize};

/// Most instruments one engine tracks (ids are `0..INSTRUMENTS_MAX`).
pub const INSTRUMENTS_MAX: u32 = 1 << 16;
/// Most accounts one engine tracks (ids are `0..ACCOUNTS_MAX`).
pub const ACCOUNTS_MAX: u32 = 1 << 16;
/// Most underlyings (BTC, ETH, …); ids are `0..UNDERLYINGS_MAX`.
pub const UNDERLYINGS_MAX: u16 = 64;
/// Bytes of a venue name carried in a definition event (UTF-8, zero-padded).
pub const NAME_MAX_BYTES: usize = 32;

#[derive(
    Archive,
    Serialize,
    Deserialize,
    serde::Serialize,
    serde::Deserialize,
    Clone,
    Copy,
    Debug,
    PartialEq,
    Eq,
    PartialOrd,
    Ord,
    Hash,
)]
#[rkyv(derive(Debug))]
pub struct InstrumentId(pub u32);

#[derive(
    Archive,
    Serialize,
    Deserialize,
    serde::Serialize,
    serde::Deserialize,
    Clone,
    Copy,
    Debug,
    PartialEq,
    Eq,
    PartialOrd,
    Ord,
    Hash,
)]
#[rkyv(derive(Debug))]
pub struct AccountId(pub u32);

/// An underlying asset (and, for inverse contracts, the settlement coin): 0 = BTC,
/// 1 = ETH by convention of the definitions in use; the name travels in the definition.
#[derive(
    Archive,
    Serialize,
    Deserialize,
    serde::Serialize,
    serde::Deserialize,
    Clone,
    Copy,
    Debug,
    PartialEq,
    Eq,
    PartialOrd,
    Ord,
    Hash,
)]
#[rkyv(derive(Debug))]
pub struct UnderlyingId(pub u16);

/// A venue name in a fixed-size field.
#[derive(Archive, Serialize, Deserialize, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
#[rkyv(derive(Debug))]
pub struct Name(pub [u8; NAME_MAX_BYTES]);

impl Name {
    /// `None` if `text` is longer than [`NAME_MAX_BYTES`] or contains a NUL.
    pub fn new(text: &str) -> Option<Name> {
        let bytes = text.as_bytes();
        if bytes.len() > NAME_MAX_BYTES || bytes.contains(&0) {
            return None;
        }
        let mut name = [0u8; NAME_MAX_BYTES];
        name[..bytes.len()].copy_from_slice(bytes);
        Some(Name(name))
    }

    /// The name as text (invalid UTF-8 shows replacement characters).
    pub fn as_text(&self) -> String {
        let end = self
            .0
            .iter()
            .position(|&b| b == 0)
            .unwrap_or(NAME_MAX_BYTES);
        String::from_utf8_lossy(&self.0[..end]).into_owned()
    }
}

impl std::fmt::Debug for Name {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{:?}", self.as_text())
    }
}

impl serde::Serialize for Name {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.serialize_str(&self.as_text())
    }
}

impl<'de> serde::Deserialize<'de> for Name {
    fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let text = String::deserialize(deserializer)?;
        Name::new(&text).ok_or_else(|| {
            serde::de::Error::custom(format!(
                "name longer than {NAME_MAX_BYTES} bytes or containing NUL: {text:?}"
            ))
        })
    }
}
