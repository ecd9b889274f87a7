//! Black-76 on the forward, with a discount rate: price and Greeks in quote-currency
//! (USD) units, Deribit conventions (docs/PRICING.md).

use std::str::FromStr;

use implied_vol::{DefaultSpecialFn, PriceBlackScholes};

use super::error::PricingError;
use super::normal::{CENTRAL_LIMIT, FRAC_1_SQRT_2PI, gaussian, norm_cdf_pair};

/// Largest accepted volatility (10 000 %): far beyond any market, small enough that
/// `σ²T/2` stays finite and meaningful.
pub const VOL_MAX: f64 = 100.0;
/// Longest accepted time to expiry, in years.
pub const YEARS_MAX: f64 = 100.0;
/// Largest accepted |rate| (continuously compounded, per year).
pub const RATE_MAX: f64 = 10.0;
/// Calendar days per year: theta is reported per calendar day.
pub const DAYS_PER_YEAR: f64 = 365.0;
/// When the textbook difference `F·N(d1) − K·N(d2)` is below `1/CANCELLATION_RATIO` of its
/// larger term, it has lost too many digits; the price then comes from Jaeckel's
/// normalised Black function, which keeps full relative accuracy deep out of the money.
pub(crate) const CANCELLATION_RATIO: f64 = 64.0;

/// Call or put.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum OptionKind {
    Call,
    Put,
}

impl OptionKind {
    pub fn is_call(self) -> bool {
        self == OptionKind::Call
    }

    /// Payoff `max(F − K, 0)` for a call, `max(K − F, 0)` for a put.
    #[inline(always)]
    pub fn intrinsic(self, forward: f64, strike: f64) -> f64 {
        match self {
            OptionKind::Call => (forward - strike).max(0.0),
            OptionKind::Put => (strike - forward).max(0.0),
        }
    }
}

impl FromStr for OptionKind {
    type Err = String;

    fn from_str(text: &str) -> Result<Self, Self::Err> {
        match text.to_ascii_lowercase().as_str() {
            "call" | "c" => Ok(OptionKind::Call),
            "put" | "p" => Ok(OptionKind::Put),
            _ => Err(format!("option kind must be 'call' or 'put', got '{text}'")),
        }
    }
}

/// One option to price. Units: `forward` and `strike` in quote currency, `years` on a
/// 365-day year, `vol` and `rate` as fractions per year (0.6 = 60 %).
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct OptionInputs {
    pub kind: OptionKind,
    pub forward: f64,
    pub strike: f64,
    pub years: f64,
    pub vol: f64,
    pub rate: f64,
}

impl OptionInputs {
    /// Checks every input against the model's domain; pricing after this never yields NaN.
    pub fn validate(&self) -> Result<(), PricingError> {
        validate_market(self.forward, self.strike, self.years, self.rate)?;
        if !(self.vol.is_finite() && (0.0..=VOL_MAX).contains(&self.vol)) {
            return Err(PricingError::InvalidVol {
                vol: self.vol,
                max: VOL_MAX,
            });
        }
        Ok(())
    }
}

/// Domain checks shared by pricing and implied volatility.
pub(crate) fn validate_market(
    forward: f64,
    strike: f64,
    years: f64,
    rate: f64,
) -> Result<(), PricingError> {
    if !(forward.is_finite() && forward > 0.0) {
        return Err(PricingError::InvalidForward(forward));
    }
    if !(strike.is_finite() && strike > 0.0) {
        return Err(PricingError::InvalidStrike(strike));
    }
    let moneyness = forward / strike;
    if !(moneyness.is_normal()) {
        return Err(PricingError::MoneynessOutOfRange(moneyness));
    }
    if !(years.is_finite() && years <= YEARS_MAX) {
        return Err(PricingError::InvalidYears {
            years,
            max: YEARS_MAX,
        });
    }
    if !(rate.is_finite() && rate.abs() <= RATE_MAX) {
        return Err(PricingError::InvalidRate {
            rate,
            max: RATE_MAX,
        });
    }
    Ok(())
}

/// Price and Greeks per contract (one unit of underlying), in quote-currency units.
#[derive(Clone, Copy, Debug, Default, PartialEq)]
pub struct Greeks {
    /// Discounted option value.
    pub price_usd: f64,
    /// ∂price/∂F (Black delta, not premium-adjusted).
    pub delta: f64,
    /// ∂²price/∂F², per unit of quote currency.
    pub gamma_per_usd: f64,
    /// Price change for +1 vol point (σ + 0.01).
    pub vega_usd: f64,
    /// Instantaneous time decay per calendar day.
    pub theta_usd_per_day: f64,
    /// Theta as Deribit reports it: never more decay than the time value left.
    pub theta_bounded_usd_per_day: f64,
    /// Price change for +1 % rate, Deribit's spot-style convention (docs/PRICING.md).
    pub rho_usd: f64,
}

/// Black-76 price and Greeks after validating the inputs.
pub fn black76(inputs: &OptionInputs) -> Result<Greeks, PricingError> {
    inputs.validate()?;
    Ok(black76_unchecked(inputs))
}

/// Black-76 discounted price only (same value as `black76(..).price_usd`).
pub fn black76_price(inputs: &OptionInputs) -> Result<f64, PricingError> {
    Ok(black76(inputs)?.price_usd)
}

/// Black-76 on validated inputs, the scalar path (libm `exp`/`ln`, lowest latency).
/// Edge cases are defined, never NaN: `years ≤ 0` gives the payoff with all Greeks 0
/// (the option has settled); `vol = 0` gives discounted intrinsic value with step delta,
/// zero gamma.
#[inline(always)]
pub(crate) fn black76_unchecked(inputs: &OptionInputs) -> Greeks {
    let OptionInputs {
        kind,
        forward,
        strike,
        years,
        vol,
        rate,
    } = *inputs;
    if years <= 0.0 {
        return Greeks {
            price_usd: kind.intrinsic(forward, strike),
            ..Greeks::default()
        };
    }
    let discount = if rate == 0.0 {
        1.0
    } else {
        (-rate * years).exp()
    };
    let sqrt_years = years.sqrt();
    let std_dev = vol * sqrt_years;
    let moneyness = forward / strike;
    let log_moneyness = moneyness.ln();

    let (d1, d2) = if std_dev > 0.0 {
        let d1 = log_moneyness / std_dev + 0.5 * std_dev;
        (d1, d1 - std_dev)
    } else {
        // σ√T = 0: the distribution is a point mass at F.
        let limit = if log_moneyness > 0.0 {
            f64::INFINITY
        } else if log_moneyness < 0.0 {
            f64::NEG_INFINITY
        } else {
            0.0
        };
        (limit, limit)
    };
    // exp(−d2²/2) = exp(−d1²/2)·F/K exactly: one Gaussian factor serves N(d1), N(d2) and
    // φ(d1) unless a tail makes the product underflow.
    let gaussian_d1 = gaussian(d1);
    let gaussian_d2 = if d1.abs() <= CENTRAL_LIMIT && d2.abs() <= CENTRAL_LIMIT {
        gaussian_d1 * moneyness
    } else {
        gaussian(d2)
    };
    let (n_d1, n_minus_d1) = norm_cdf_pair(d1, gaussian_d1);
    let (n_d2, n_minus_d2) = norm_cdf_pair(d2, gaussian_d2);

    // Price = intrinsic + time value, where the time value is that of the out-of-the-money
    // option at this strike (the same for call and put, by parity). Computed on the OTM
    // side it keeps full precision; an ITM formula would carry an error of ε·F into it.
    let otm_is_call = forward <= strike;
    let time_value = if otm_is_call {
        accurate_difference(forward * n_d1, strike * n_d2, true, inputs)
    } else {
        accurate_difference(strike * n_minus_d2, forward * n_minus_d1, false, inputs)
    };
    let price_undiscounted = kind.intrinsic(forward, strike) + time_value;
    let (delta_undiscounted, rho_factor) = match kind {
        OptionKind::Call => (n_d1, strike * n_d2),
        OptionKind::Put => (-n_minus_d1, -strike * n_minus_d2),
    };
    let pdf_d1 = FRAC_1_SQRT_2PI * gaussian_d1;
    let price_usd = discount * price_undiscounted;
    let gamma_per_usd = if std_dev > 0.0 {
        discount * pdf_d1 / (forward * std_dev)
    } else {
        0.0 // a point mass of gamma at the strike cannot be represented
    };
    let theta_usd_per_day = (-discount * forward * pdf_d1 * vol / (2.0 * sqrt_years)
        + rate * price_usd)
        / DAYS_PER_YEAR;
    let time_value_usd = (price_usd - discount * kind.intrinsic(forward, strike)).max(0.0);
    Greeks {
        price_usd,
        delta: discount * delta_undiscounted,
        gamma_per_usd,
        vega_usd: discount * forward * pdf_d1 * sqrt_years / 100.0,
        theta_usd_per_day,
        theta_bounded_usd_per_day: theta_usd_per_day.max(-time_value_usd),
        rho_usd: rho_factor * years * discount / 100.0,
    }
}

/// `long − short`, the value of the OTM option (a call when `otm_is_call`), recomputed
/// with Jaeckel's normalised Black function when the subtraction would cancel most
/// significant digits (deep out of the money).
#[inline(always)]
fn accurate_difference(long: f64, short: f64, otm_is_call: bool, inputs: &OptionInputs) -> f64 {
    let difference = (long - short).max(0.0);
    if difference * CANCELLATION_RATIO >= long || inputs.vol <= 0.0 {
        return difference;
    }
    price_deep_out_of_the_money(inputs, otm_is_call)
}

#[cold]
fn price_deep_out_of_the_money(inputs: &OptionInputs, is_call: bool) -> f64 {
    PriceBlackScholes::builder()
        .forward(inputs.forward)
        .strike(inputs.strike)
        .volatility(inputs.vol)
        .expiry(inputs.years)
        .is_call(is_call)
        .build_unchecked()
        .calculate::<DefaultSpecialFn>()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn inputs(kind: OptionKind, forward: f64, strike: f64, years: f64, vol: f64) -> OptionInputs {
        OptionInputs {
            kind,
            forward,
            strike,
            years,
            vol,
            rate: 0.0,
        }
    }

    #[test]
    fn design_reference_ticker_btc_27sep24_40000_c() {
        // docs/PRICING.md: a real Deribit ticker and its published Greeks.
        let option = inputs(OptionKind::Call, 39_165.86, 40_000.0, 0.8825, 0.6086);
        let greeks = black76(&option).expect("valid inputs");
        assert!((greeks.price_usd / option.forward - 0.2169).abs() < 5e-4);
        assert!((greeks.delta - 0.59833).abs() < 5e-4);
        assert!((greeks.vega_usd - 142.301).abs() / 142.301 < 2e-3);
        assert!((greeks.theta_usd_per_day - -13.444).abs() / 13.444 < 2e-3);
        assert!((greeks.rho_usd - 131.83).abs() / 131.83 < 2e-3);
    }

    #[test]
    fn expired_option_is_intrinsic_with_zero_greeks() {
        for years in [0.0, -0.5] {
            let call = black76(&inputs(OptionKind::Call, 110.0, 100.0, years, 0.5)).unwrap();
            assert_eq!(call.price_usd, 10.0);
            assert_eq!(call.delta, 0.0);
            assert_eq!(call.gamma_per_usd, 0.0);
            let put = black76(&inputs(OptionKind::Put, 110.0, 100.0, years, 0.5)).unwrap();
            assert_eq!(put.price_usd, 0.0);
        }
    }

    #[test]
    fn zero_vol_is_discounted_intrinsic_with_step_delta() {
        let mut option = inputs(OptionKind::Call, 120.0, 100.0, 1.0, 0.0);
        option.rate = 0.05;
        let greeks = black76(&option).unwrap();
        let discount = (-0.05f64).exp();
        assert!((greeks.price_usd - 20.0 * discount).abs() < 1e-12);
        assert!((greeks.delta - discount).abs() < 1e-15);
        assert_eq!(greeks.gamma_per_usd, 0.0);
        assert_eq!(greeks.vega_usd, 0.0);
        let at_the_money = black76(&inputs(OptionKind::Put, 100.0, 100.0, 1.0, 0.0)).unwrap();
        assert_eq!(at_the_money.price_usd, 0.0);
        assert_eq!(at_the_money.delta, -0.5);
        assert!(at_the_money.vega_usd > 0.0);
    }

    #[test]
    fn extreme_inputs_stay_finite() {
        for (strike, vol, years) in [
            (1e-6, 0.5, 1.0),
            (1e9, 0.5, 1.0),
            (100.0, 1e-9, 1e-9),
            (100.0, VOL_MAX, YEARS_MAX),
            (100.0, 0.3, 1e-12),
        ] {
            for kind in [OptionKind::Call, OptionKind::Put] {
                let greeks = black76(&inputs(kind, 100.0, strike, years, vol)).unwrap();
                for value in [
                    greeks.price_usd,
                    greeks.delta,
                    greeks.gamma_per_usd,
                    greeks.vega_usd,
                    greeks.theta_usd_per_day,
                    greeks.theta_bounded_usd_per_day,
                    greeks.rho_usd,
                ] {
                    assert!(value.is_finite(), "{kind:?} K={strike} σ={vol} T={years}");
                }
                assert!(greeks.price_usd >= 0.0);
            }
        }
    }

    #[test]
    fn bad_inputs_are_typed_errors() {
        let good = inputs(OptionKind::Call, 100.0, 100.0, 1.0, 0.5);
        let cases = [
            (
                OptionInputs {
                    forward: f64::NAN,
                    ..good
                },
                "forward",
            ),
            (
                OptionInputs {
                    forward: 0.0,
                    ..good
                },
                "forward",
            ),
            (
                OptionInputs {
                    strike: -1.0,
                    ..good
                },
                "strike",
            ),
            (
                OptionInputs {
                    strike: f64::INFINITY,
                    ..good
                },
                "strike",
            ),
            (OptionInputs { vol: -0.1, ..good }, "volatility"),
            (
                OptionInputs {
                    vol: f64::NAN,
                    ..good
                },
                "volatility",
            ),
            (
                OptionInputs {
                    years: f64::NAN,
                    ..good
                },
                "years",
            ),
            (
                OptionInputs {
                    rate: f64::NAN,
                    ..good
                },
                "rate",
            ),
            (
                OptionInputs {
                    forward: 1e300,
                    strike: 1e-300,
                    ..good
                },
                "ratio",
            ),
        ];
        for (option, needle) in cases {
            let error = black76(&option).expect_err("must be refused");
            assert!(error.to_string().contains(needle), "{error}");
        }
    }

    #[test]
    fn bounded_theta_never_exceeds_time_value() {
        // Two days to expiry, far out of the money: tiny value, large instantaneous theta.
        let option = inputs(OptionKind::Call, 100.0, 130.0, 2.0 / 365.0, 0.8);
        let greeks = black76(&option).unwrap();
        assert!(greeks.theta_usd_per_day < -greeks.price_usd);
        assert_eq!(greeks.theta_bounded_usd_per_day, -greeks.price_usd);
    }
}
