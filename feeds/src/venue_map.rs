//! Venue names → Keel ids. Venues name things (`BTC-27JUN25-100000-C`, an account
//! "main"); the engine works on dense ids. The map gives each new name the next free id
//! and writes the definition event that journals the choice, so replay needs no map: the
//! journal carries every definition before its first use. A continued run rebuilds the
//! map from the recovered state ([`VenueMap::from_definitions`]).
//!
//! Underlyings: BTC is 0 and ETH is 1 (Keel's convention, which the built-in margin
//! parameters follow); other coins take the next free id in order of first sight.

use std::collections::{BTreeMap, HashMap};

use keel_engine::events::ids::{ACCOUNTS_MAX, INSTRUMENTS_MAX, UNDERLYINGS_MAX};
use keel_engine::events::{
    AccountDefinition, AccountId, Event, EventBody, InstrumentDefinition, InstrumentId,
    InstrumentKind, MarginModel, Name, OptionRight, RiskParams, Settlement, UnderlyingId,
};
use keel_engine::margin::PmParams;
use keel_engine::pricing::OptionKind;
use rust_decimal::Decimal;

use crate::deribit::jsonrpc::ns_of_ms;
use crate::deribit::{DeribitName, NamedContract, parse_name};
use crate::feed::{Refusal, Skip};

/// What the map keeps of an instrument to decode fills on it: its journaled definition,
/// and the contract size decoded once (every fill and position divides by it).
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Mapped {
    pub definition: InstrumentDefinition,
    pub contract_size: Decimal,
}

/// FNV-1a for the name map: one lookup per message, on short names; the map is never
/// iterated, so its order cannot reach the state. (A feed could pick names that collide,
/// but only ones the venue lists: the names are the venue's, not the public's.)
#[derive(Clone, Copy, Debug)]
pub struct NameHasher(u64);

impl Default for NameHasher {
    fn default() -> Self {
        NameHasher(0xcbf2_9ce4_8422_2325)
    }
}

impl std::hash::Hasher for NameHasher {
    fn finish(&self) -> u64 {
        self.0
    }

    fn write(&mut self, bytes: &[u8]) {
        for &byte in bytes {
            self.0 = (self.0 ^ u64::from(byte)).wrapping_mul(0x0000_0100_0000_01b3);
        }
    }
}

type NameMap<V> = HashMap<Box<str>, V, std::hash::BuildHasherDefault<NameHasher>>;

#[derive(Clone, Debug, Default)]
pub struct VenueMap {
    instruments: NameMap<Mapped>,
    underlyings: BTreeMap<Box<str>, UnderlyingId>,
    accounts: BTreeMap<Box<str>, AccountId>,
    next_instrument: u32,
    next_account: u32,
}

/// The coin of an underlying or index name: `BTC-PERPETUAL`, `btc_usd`, `ETH_USDC…` → the
/// upper-case text before the first `-` or `_`.
pub fn coin_of(name: &str) -> &str {
    name.split(['-', '_']).next().unwrap_or_default()
}

impl VenueMap {
    pub fn new() -> VenueMap {
        VenueMap::default()
    }

    /// The map of a journal's recovered state: its instrument definitions and accounts.
    pub fn from_definitions<'a>(
        instruments: impl IntoIterator<Item = &'a InstrumentDefinition>,
        accounts: impl IntoIterator<Item = (AccountId, String)>,
    ) -> VenueMap {
        let mut map = VenueMap::new();
        for definition in instruments {
            let name = definition.name.as_text();
            let coin = coin_of(&name).to_ascii_uppercase();
            map.underlyings
                .entry(coin.into_boxed_str())
                .or_insert(definition.underlying);
            map.next_instrument = map.next_instrument.max(definition.id.0 + 1);
            map.instruments.insert(
                name.into_boxed_str(),
                Mapped {
                    definition: *definition,
                    contract_size: definition.contract_size.get().unwrap_or_default(),
                },
            );
        }
        for (id, name) in accounts {
            map.next_account = map.next_account.max(id.0 + 1);
            map.accounts.insert(name.into_boxed_str(), id);
        }
        map
    }

    pub fn instrument(&self, name: &str) -> Option<&Mapped> {
        self.instruments.get(name)
    }

    /// The coin of an underlying id ("BTC"), as first seen.
    pub fn coin(&self, underlying: UnderlyingId) -> Option<&str> {
        self.underlyings
            .iter()
            .find(|(_, id)| **id == underlying)
            .map(|(coin, _)| &**coin)
    }

    /// The id of a coin (upper case), assigned on first sight. A new BTC or ETH also gets
    /// Deribit's published portfolio-margin parameters (an event into `out`): without
    /// parameters an underlying has no portfolio margin. Other coins need theirs sent as
    /// `risk_params` events (docs/FEEDS.md).
    pub fn underlying(
        &mut self,
        coin: &str,
        timestamp_ns: u64,
        out: &mut Vec<Event>,
    ) -> Result<UnderlyingId, Refusal> {
        if let Some(id) = self.underlyings.get(coin) {
            return Ok(*id);
        }
        if coin.is_empty() || !coin.bytes().all(|b| b.is_ascii_alphanumeric()) {
            return Err(Refusal::BadInstrumentName);
        }
        let fixed = match coin {
            "BTC" => Some(0),
            "ETH" => Some(1),
            _ => None,
        };
        let id = match fixed {
            Some(id) => id,
            None => (2..UNDERLYINGS_MAX)
                .find(|id| !self.underlyings.values().any(|u| u.0 == *id))
                .ok_or(Refusal::TooManyIds)?,
        };
        self.underlyings
            .insert(coin.to_owned().into_boxed_str(), UnderlyingId(id));
        let params = match coin {
            "BTC" => Some(PmParams::BTC),
            "ETH" => Some(PmParams::ETH),
            _ => None,
        };
        if let Some(params) = params {
            out.push(Event {
                timestamp_ns,
                body: EventBody::RiskParams(RiskParams {
                    underlying: UnderlyingId(id),
                    params,
                }),
            });
        }
        Ok(UnderlyingId(id))
    }

    /// The id of an account by name, defined (an event into `out`) on first use.
    pub fn account(
        &mut self,
        name: &str,
        timestamp_ns: u64,
        out: &mut Vec<Event>,
    ) -> Result<AccountId, Refusal> {
        if let Some(id) = self.accounts.get(name) {
            return Ok(*id);
        }
        let venue_name = Name::new(name).ok_or(Refusal::BadInstrumentName)?;
        if self.next_account >= ACCOUNTS_MAX {
            return Err(Refusal::TooManyIds);
        }
        let id = AccountId(self.next_account);
        self.next_account += 1;
        self.accounts.insert(name.to_owned().into_boxed_str(), id);
        out.push(Event {
            timestamp_ns,
            body: EventBody::AccountDefined(AccountDefinition {
                id,
                name: venue_name,
                margin_model: MarginModel::default(),
            }),
        });
        Ok(id)
    }

    /// Defines an instrument from venue terms (`id` is assigned here), or checks them
    /// against the journaled definition of the same name.
    pub fn define(
        &mut self,
        terms: InstrumentTerms<'_>,
        timestamp_ns: u64,
        out: &mut Vec<Event>,
    ) -> Result<Mapped, crate::feed::Dropped> {
        let underlying = self.underlying(&terms.coin.to_ascii_uppercase(), timestamp_ns, out)?;
        let name = Name::new(terms.name).ok_or(Refusal::BadInstrumentName)?;
        let ok = |d: Decimal| d > Decimal::ZERO;
        if !ok(terms.contract_size) || (terms.kind == InstrumentKind::Option && !ok(terms.strike)) {
            return Err(Refusal::BadNumber.into());
        }
        let definition = InstrumentDefinition {
            id: InstrumentId(self.next_instrument),
            name,
            kind: terms.kind,
            settlement: terms.settlement,
            underlying,
            expiry_ns: terms.expiry_ns,
            strike: terms.strike.into(),
            right: terms.right,
            contract_size: terms.contract_size.into(),
        };
        if let Some(known) = self.instruments.get(terms.name) {
            let same = InstrumentDefinition {
                id: known.definition.id,
                ..definition
            };
            return if same == known.definition {
                Err(Skip::KnownDefinition.into())
            } else {
                Err(Refusal::DefinitionConflict.into())
            };
        }
        if self.next_instrument >= INSTRUMENTS_MAX {
            return Err(Refusal::TooManyIds.into());
        }
        let event = Event {
            timestamp_ns,
            body: EventBody::InstrumentDefined(definition),
        };
        // Never record a definition the engine would refuse (a strike of 1e30).
        if keel_engine::state::validation::fields_ok(&event).is_err() {
            return Err(Refusal::OutOfRange.into());
        }
        self.next_instrument += 1;
        let mapped = Mapped {
            definition,
            contract_size: terms.contract_size,
        };
        self.instruments
            .insert(terms.name.to_owned().into_boxed_str(), mapped);
        out.push(event);
        Ok(mapped)
    }

    /// The instrument of a venue name, defined from the name alone on first sight
    /// (Deribit's naming: see [`terms_from_name`]).
    pub fn instrument_by_name(
        &mut self,
        name: &str,
        timestamp_ns: u64,
        out: &mut Vec<Event>,
    ) -> Result<Mapped, crate::feed::Dropped> {
        if let Some(mapped) = self.instruments.get(name) {
            return Ok(*mapped);
        }
        let terms = terms_from_name(name)?;
        self.define(terms, timestamp_ns, out)
    }
}

/// An instrument's terms as a venue states them.
#[derive(Clone, Copy, Debug)]
pub struct InstrumentTerms<'a> {
    pub name: &'a str,
    pub coin: &'a str,
    pub kind: InstrumentKind,
    pub settlement: Settlement,
    pub expiry_ns: u64,
    pub strike: Decimal,
    pub right: OptionRight,
    pub contract_size: Decimal,
}

/// Whether a Deribit name is a combo: its second part is a tag of letters (`STRD`, `FS`,
/// `CSR12`, `PS`…) where a date or `PERPETUAL` would be.
pub fn is_combo_name(name: &str) -> bool {
    let mut parts = name.split('-');
    let (Some(_), Some(second)) = (parts.next(), parts.next()) else {
        return false;
    };
    second != "PERPETUAL"
        && second
            .bytes()
            .next()
            .is_some_and(|b| b.is_ascii_alphabetic())
}

/// Terms of a Deribit instrument from its name alone. The contract size is not in the
/// name: Keel knows it only for inverse contracts on BTC and ETH (options 1 coin; futures
/// and perpetuals 10 USD on BTC, 1 USD on ETH). Anything else needs the venue's
/// definition (`public/get_instruments`) and is refused until one arrives.
pub fn terms_from_name(name: &str) -> Result<InstrumentTerms<'_>, crate::feed::Dropped> {
    let Some(DeribitName {
        coin,
        linear,
        contract,
    }) = parse_name(name)
    else {
        return Err(if is_combo_name(name) {
            Skip::Combo.into()
        } else {
            Refusal::BadInstrumentName.into()
        });
    };
    let coin_text = coin_of(name);
    if linear || !matches!(coin.as_str(), "BTC" | "ETH") {
        return Err(Refusal::ContractSizeUnknown.into());
    }
    let futures_size = if coin == "BTC" {
        Decimal::TEN
    } else {
        Decimal::ONE
    };
    let mut terms = InstrumentTerms {
        name,
        coin: coin_text,
        kind: InstrumentKind::Perpetual,
        settlement: Settlement::Inverse,
        expiry_ns: 0,
        strike: Decimal::ZERO,
        right: OptionRight::Call,
        contract_size: futures_size,
    };
    match contract {
        NamedContract::Perpetual => {}
        NamedContract::Future { expiry_ms } => {
            terms.kind = InstrumentKind::Future;
            terms.expiry_ns = ns_of_ms(expiry_ms)?;
        }
        NamedContract::Option {
            expiry_ms,
            strike,
            kind,
        } => {
            terms.kind = InstrumentKind::Option;
            terms.expiry_ns = ns_of_ms(expiry_ms)?;
            terms.strike = Decimal::try_from(strike).map_err(|_| Refusal::BadNumber)?;
            terms.right = match kind {
                OptionKind::Call => OptionRight::Call,
                OptionKind::Put => OptionRight::Put,
            };
            terms.contract_size = Decimal::ONE;
        }
    }
    Ok(terms)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::feed::Dropped;

    #[test]
    fn names_define_once_with_dense_ids_and_conventional_underlyings() {
        let mut map = VenueMap::new();
        let mut out = Vec::new();
        let eth = map
            .instrument_by_name("ETH-PERPETUAL", 1, &mut out)
            .expect("defined");
        let btc = map
            .instrument_by_name("BTC-27JUN25-100000-C", 2, &mut out)
            .expect("defined");
        assert_eq!((eth.definition.id.0, btc.definition.id.0), (0, 1));
        assert_eq!(eth.definition.underlying, UnderlyingId(1));
        assert_eq!(btc.definition.underlying, UnderlyingId(0));
        assert_eq!(eth.contract_size, Decimal::ONE);
        // ETH's and BTC's margin parameters, then each definition.
        assert_eq!(out.len(), 4);
        assert!(matches!(out[0].body, EventBody::RiskParams(p) if p.params == PmParams::ETH));
        // Known: no new event.
        map.instrument_by_name("ETH-PERPETUAL", 3, &mut out)
            .expect("known");
        assert_eq!(out.len(), 4);
        assert_eq!(
            map.instrument_by_name("BTC-STRD-30SEP22-20000", 4, &mut out),
            Err(Dropped::Skipped(Skip::Combo))
        );
        assert_eq!(
            map.instrument_by_name("MATIC_USDC-9MAR24-1d02-C", 4, &mut out),
            Err(Dropped::Refused(Refusal::ContractSizeUnknown))
        );
        assert_eq!(
            map.instrument_by_name("BTC-99ZZZ24-1-C", 4, &mut out),
            Err(Dropped::Refused(Refusal::BadInstrumentName))
        );
        // Rebuilt from the definitions journaled: same ids, next id continues.
        let definitions: Vec<InstrumentDefinition> = out
            .iter()
            .filter_map(|e| match e.body {
                EventBody::InstrumentDefined(d) => Some(d),
                _ => None,
            })
            .collect();
        let mut rebuilt = VenueMap::from_definitions(&definitions, [(AccountId(4), "main".into())]);
        assert_eq!(
            rebuilt.instrument("ETH-PERPETUAL").map(|m| m.definition.id),
            Some(eth.definition.id)
        );
        assert_eq!(rebuilt.coin(UnderlyingId(1)), Some("ETH"));
        let mut more = Vec::new();
        let next = rebuilt
            .instrument_by_name("BTC-PERPETUAL", 5, &mut more)
            .expect("defined");
        assert_eq!(next.definition.id.0, 2);
        assert_eq!(rebuilt.account("main", 5, &mut more), Ok(AccountId(4)));
        assert_eq!(rebuilt.account("hedge", 5, &mut more), Ok(AccountId(5)));
        assert_eq!(more.len(), 2);
        assert_eq!(rebuilt.underlying("SOL", 5, &mut more), Ok(UnderlyingId(2)));
        assert_eq!(more.len(), 2, "no parameters for SOL");
    }
}
