//! Stress vols on the volatility surface (issue 15): with `SmileDynamics::Surface` an
//! option's vol moves along its expiry's fitted smile to its new moneyness, the vol shock
//! is applied to the smile, and the shocked total variance never falls below a shorter
//! expiry's at the same moneyness. An unmoved market changes no mark.

use keel_engine::events::{InstrumentKind, UnderlyingId};
use keel_engine::state::ShardState;
use keel_engine::state::contract_risk::YEAR_NS;
use keel_engine::stress::{Shock, VolShock, stressed_mark};
use keel_engine::surface::ExpirySmile;

const DAY_NS: f64 = 86_400e9;

fn state() -> ShardState {
    keel_tests::synthetic_state(11, 40_000)
}

/// Live options with a mark whose expiry has an accepted smile, with that smile.
fn options_on_smiles(state: &ShardState) -> Vec<(u32, ExpirySmile)> {
    state
        .instruments
        .values()
        .filter(|i| {
            i.definition.kind == InstrumentKind::Option
                && !i.settled
                && i.mark.is_some()
                && i.definition.expiry_ns > state.now_ns + 86_400_000_000_000
        })
        .filter_map(|i| {
            let key = (i.definition.underlying, i.definition.expiry_ns);
            Some((i.definition.id.0, *state.surface.surface.smiles.get(&key)?))
        })
        .collect()
}

fn vol_at(smile: &ExpirySmile, k: f64) -> f64 {
    smile.implied_vol_at(k).expect("a vol")
}

#[test]
fn an_unmoved_market_changes_no_mark_on_the_surface() {
    let state = state();
    let surface = &state.surface.surface;
    let options = options_on_smiles(&state);
    assert!(options.len() > 100, "{} options", options.len());
    for (id, _) in options {
        let instrument = &state.instruments[&keel_engine::events::InstrumentId(id)];
        let mark = instrument.mark.expect("marked");
        let same = stressed_mark(
            instrument,
            &Shock::default(),
            state.now_ns,
            0,
            Some(surface),
        )
        .expect("stressed");
        assert_eq!(same.mark_iv.to_bits(), mark.mark_iv.to_bits());
        assert_eq!(same.mark_price.to_bits(), mark.mark_price.to_bits());
    }
}

#[test]
fn a_spot_move_moves_vols_along_the_smile() {
    let state = state();
    let surface = &state.surface.surface;
    let shock = Shock {
        spot_move: -0.2,
        vol: VolShock::default(),
    };
    let (mut checked, mut moved) = (0, 0);
    for (id, smile) in options_on_smiles(&state) {
        let instrument = &state.instruments[&keel_engine::events::InstrumentId(id)];
        let mark = instrument.mark.expect("marked");
        let sticky = stressed_mark(instrument, &shock, state.now_ns, 0, None).expect("stressed");
        assert_eq!(sticky.mark_iv, mark.mark_iv, "sticky strike keeps the IV");
        let on_surface =
            stressed_mark(instrument, &shock, state.now_ns, 0, Some(surface)).expect("stressed");
        let k_now = (instrument.strike / mark.forward).ln();
        let k_moved = (instrument.strike / (mark.forward * 0.8)).ln();
        let along = mark.mark_iv + vol_at(&smile, k_moved) - vol_at(&smile, k_now);
        // Equal unless a shorter expiry's smile lifts it (the calendar floor): never below.
        assert!(
            on_surface.mark_iv >= along - 1e-12,
            "{id}: {on_surface:?} vs {along}"
        );
        checked += 1;
        if (on_surface.mark_iv - along).abs() < 1e-12 {
            moved += usize::from((on_surface.mark_iv - mark.mark_iv).abs() > 1e-4);
        }
    }
    assert!(checked > 100);
    // A 20 % fall raises every strike's moneyness: on a skewed smile vols move.
    assert!(
        moved * 2 > checked,
        "{moved} of {checked} moved along the smile"
    );
}

/// A shock far larger at short tenors (+100 vol points at one day, decaying as 1/DTE)
/// would, applied strike by strike, leave short expiries with more total variance than
/// longer ones at the same moneyness; on the surface it is floored so it cannot.
#[test]
fn a_steep_tenor_shock_leaves_no_calendar_arbitrage_on_the_surface() {
    let state = state();
    let surface = &state.surface.surface;
    let shock = Shock {
        spot_move: 0.0,
        vol: VolShock {
            points: 100.0,
            reference_days: 1.0,
            tenor_power: 1.0,
            ..VolShock::default()
        },
    };
    let (mut checked, mut sticky_violations) = (0, 0);
    for (id, _) in options_on_smiles(&state) {
        let instrument = &state.instruments[&keel_engine::events::InstrumentId(id)];
        let mark = instrument.mark.expect("marked");
        let underlying: UnderlyingId = instrument.definition.underlying;
        let expiry_ns = instrument.definition.expiry_ns;
        let k = (instrument.strike / mark.forward).ln();
        let years = |e: u64| (e as f64 - state.now_ns as f64) / YEAR_NS;
        let days = |e: u64| (e as f64 - state.now_ns as f64) / DAY_NS;
        // The largest shocked total variance of a shorter expiry at this moneyness.
        let shorter = surface
            .smiles
            .range((underlying, state.now_ns + 1)..(underlying, expiry_ns))
            .map(|(&(_, e), s)| shock.vol.apply(vol_at(s, k), days(e)).powi(2) * years(e))
            .fold(0.0, f64::max);
        let total_variance = |iv: f64| iv * iv * years(expiry_ns);
        let on_surface =
            stressed_mark(instrument, &shock, state.now_ns, 0, Some(surface)).expect("stressed");
        let sticky = stressed_mark(instrument, &shock, state.now_ns, 0, None).expect("stressed");
        // The option's mark IV and its smile differ by the fit error (a few hundredths
        // of a vol point on this market): the tolerance.
        let tolerance = 1e-3 * shorter.max(1e-6);
        assert!(
            total_variance(on_surface.mark_iv) >= shorter - tolerance,
            "{id}: {} < {shorter}",
            total_variance(on_surface.mark_iv)
        );
        sticky_violations += usize::from(total_variance(sticky.mark_iv) < shorter - tolerance);
        checked += 1;
    }
    assert!(checked > 100);
    // The floor matters: strike by strike, the same shock crosses the shorter expiries.
    assert!(
        sticky_violations > 0,
        "no sticky-strike violation to repair"
    );
    println!("{checked} options; {sticky_violations} would cross a shorter expiry sticky-strike");
}
