//! Market events: instrument definitions, index prices and tickers (marks are checked on
//! arrival and priced at the batch end).

use super::*;

impl ShardState {
    pub(super) fn define_instrument(&mut self, definition: &InstrumentDefinition) -> Outcome {
        if definition.id.0 >= INSTRUMENTS_MAX || definition.underlying.0 >= UNDERLYINGS_MAX {
            return Outcome::Rejected(RejectReason::IdOutOfRange);
        }
        let (Some(size), Some(strike)) = (definition.contract_size.get(), definition.strike.get())
        else {
            return Outcome::Rejected(RejectReason::InvalidDefinition);
        };
        let is_option = definition.kind == InstrumentKind::Option;
        let dated = matches!(
            definition.kind,
            InstrumentKind::Option | InstrumentKind::Future
        );
        if size <= Decimal::ZERO
            || (is_option && strike <= Decimal::ZERO)
            || (dated && definition.expiry_ns == 0)
        {
            return Outcome::Rejected(RejectReason::InvalidDefinition);
        }
        if let Some(existing) = self.instruments.get(&definition.id) {
            return if existing.definition == *definition {
                Outcome::Applied // a repeat (e.g. after a gateway restart) changes nothing
            } else {
                Outcome::Rejected(RejectReason::ConflictingDefinition)
            };
        }
        if self.instrument_ids_by_name.contains_key(&definition.name) {
            return Outcome::Rejected(RejectReason::DuplicateName);
        }
        self.instrument_ids_by_name
            .insert(definition.name, definition.id);
        self.instruments.insert(
            definition.id,
            InstrumentState {
                definition: *definition,
                contract_size: decimal_to_f64(&size),
                strike: decimal_to_f64(&strike),
                mark: None,
                risk: ContractRisk::ZERO,
                risk_current: true, // no mark yet: nothing to value
                risk_mark: None,
                risk_ns: 0,
                traded_in_step: false,
                margin: ContractMargin::default(),
                mark_seq: 0,
                dirty: false,
                settled: false,
                mark_source: MarkSource::Venue,
                mark_suspect: false,
                holders: SortedVecMap::new(),
            },
        );
        if is_option {
            self.surface.add_option(definition);
        }
        // Every instrument can be marked in one batch (model marks mark a whole expiry
        // at once): the queue never grows at a batch end.
        let instruments = self.instruments.len();
        self.dirty
            .reserve(instruments.saturating_sub(self.dirty.len()));
        self.release_parked();
        Outcome::Applied
    }

    pub(super) fn index_price(
        &mut self,
        timestamp_ns: u64,
        underlying: UnderlyingId,
        price: f64,
    ) -> Outcome {
        if underlying.0 >= UNDERLYINGS_MAX {
            return Outcome::Rejected(RejectReason::IdOutOfRange);
        }
        let last = self.index_prices.get(&underlying).copied();
        if last.is_some_and(|(last_ns, _)| timestamp_ns < last_ns) {
            return Outcome::Rejected(RejectReason::StaleMark);
        }
        if let Err(reason) = validation::index_move_ok(timestamp_ns, price, last) {
            return Outcome::Rejected(reason);
        }
        self.index_prices.insert(underlying, (timestamp_ns, price));
        let seq = self.seq;
        match self.index_moves.iter_mut().find(|(u, _)| *u == underlying) {
            Some(entry) => entry.1 = seq,
            None => self.index_moves.push((underlying, seq)),
        }
        Outcome::Applied
    }

    pub(super) fn ticker(&mut self, timestamp_ns: u64, ticker: &Ticker) -> Outcome {
        let now_ns = self.now_ns;
        let Some(instrument) = self.instruments.get_mut(&ticker.instrument) else {
            return Outcome::Rejected(RejectReason::UnknownInstrument);
        };
        if instrument.settled {
            return Outcome::Rejected(RejectReason::ExpiredInstrument);
        }
        if instrument.definition.kind == InstrumentKind::Option {
            if let Err(reason) = validation::option_mark_iv_ok(ticker.mark_iv) {
                return Outcome::Rejected(reason);
            }
        }
        let index = self
            .index_prices
            .get(&instrument.definition.underlying)
            .map(|&(_, price)| price);
        let consistent =
            validation::ticker_consistent(&instrument.definition, instrument.strike, ticker, index);
        if let Err(reason) = consistent {
            return Outcome::Rejected(reason);
        }
        // Finite, signed and bounded values were checked by validation (apply_at).
        if instrument
            .mark
            .is_some_and(|mark| timestamp_ns < mark.timestamp_ns)
        {
            return Outcome::Rejected(RejectReason::StaleMark);
        }
        let mark = Mark {
            timestamp_ns,
            mark_price: ticker.mark_price,
            mark_iv: ticker.mark_iv,
            forward: ticker.forward,
        };
        // Refuse a mark the model cannot price rather than carry it to the batch end (the
        // domain checks alone: it is priced once, at the batch end).
        if !contract_priceable(
            &instrument.definition,
            instrument.contract_size,
            instrument.strike,
            &mark,
            now_ns,
        ) {
            return Outcome::Rejected(RejectReason::UnpricedMark);
        }
        let first_venue_mark =
            instrument.mark.is_none() || instrument.mark_source == MarkSource::Model;
        instrument.mark = Some(mark);
        instrument.mark_source = MarkSource::Venue;
        instrument.mark_seq = self.seq;
        if instrument.definition.kind == InstrumentKind::Option {
            let key = (
                instrument.definition.underlying,
                instrument.definition.expiry_ns,
            );
            let bad = self.surface.is_bad_mark(
                key.0,
                key.1,
                instrument.strike,
                ticker.forward,
                ticker.mark_iv,
            );
            instrument.mark_suspect = bad == Some(true);
            self.surface.bad_marks += u64::from(instrument.mark_suspect);
            self.surface.mark_due(key, first_venue_mark);
        }
        if !instrument.dirty {
            instrument.dirty = true;
            self.dirty.push(ticker.instrument);
        }
        Outcome::Applied
    }
}
