//! Standard normal density and distribution function, accurate to about 1e-15 relative
//! over the whole double-precision range.
//!
//! `N(x)` is `erfc(-x/√2)/2` with W. J. Cody's rational Chebyshev approximations of
//! `erfc` (Math. Comp. 22, 1969; netlib `specfun/CALERF`), in plain arithmetic (no FMA,
//! so results do not depend on the target's instruction set). The Gaussian factor
//! `exp(-x²/2)` is evaluated from `x` itself with `x²` carried exactly, so the rounding
//! of `x²` is not amplified in the lower tail.

use super::fast_math::exact_square;

/// `1/√(2π)`.
pub const FRAC_1_SQRT_2PI: f64 = 0.398_942_280_401_432_7;
const FRAC_1_SQRT_PI: f64 = 0.564_189_583_547_756_3;

/// Below this `|y|` (the `erfc` argument) the series for `erf` is used.
const ERF_SERIES_LIMIT: f64 = 0.468_75;
/// Beyond this `|y|`, `erfc(y)` underflows to zero.
const ERFC_UNDERFLOW: f64 = 26.543;

/// Cody's rational for `erf(y)/y` on `|y| ≤ 0.46875`, in `z = y²`, as degree-8 Horner
/// rows padded with leading zeros (which leave every operation's result unchanged), so
/// that it shares one evaluation with the mid-range rational below.
#[allow(clippy::excessive_precision)]
const SERIES_NUM: [f64; 9] = [
    0.0,
    0.0,
    0.0,
    0.0,
    0.185_777_706_184_603_153,
    3.161_123_743_870_565_6,
    113.864_154_151_050_156,
    377.485_237_685_302_021,
    3_209.377_589_138_469_47,
];
#[allow(clippy::excessive_precision)]
const SERIES_DEN: [f64; 9] = [
    0.0,
    0.0,
    0.0,
    0.0,
    1.0,
    23.601_290_952_344_120_9,
    244.024_637_934_444_173,
    1_282.616_526_077_372_28,
    2_844.236_833_439_170_62,
];
/// Cody's rational for `erfc(y)·exp(y²)` on `0.46875 < y ≤ 4`, in `y`.
#[allow(clippy::excessive_precision)]
const MID_NUM: [f64; 9] = [
    2.153_115_354_744_038_46e-8,
    0.564_188_496_988_670_089,
    8.883_149_794_388_375_94,
    66.119_190_637_141_629_5,
    298.635_138_197_400_131,
    881.952_221_241_769_09,
    1_712.047_612_634_070_58,
    2_051.078_377_826_071_47,
    1_230.339_354_797_997_25,
];
#[allow(clippy::excessive_precision)]
const MID_DEN: [f64; 9] = [
    1.0,
    15.744_926_110_709_834_7,
    117.693_950_891_312_499,
    537.181_101_862_009_858,
    1_621.389_574_566_690_19,
    3_290.799_235_733_459_63,
    4_362.619_090_143_247_16,
    3_439.367_674_143_721_64,
    1_230.339_354_803_749_42,
];

/// Largest `|x|` for which [`norm_cdf_pair_central`] applies (`|x|/√2 ≤ 4`).
pub const CENTRAL_LIMIT: f64 = 4.0 * std::f64::consts::SQRT_2;

/// The rational part of `N` on the central range, before its one division: kept apart so
/// that a caller evaluating two of them can share a single division.
#[derive(Clone, Copy, Debug)]
pub struct CentralRational {
    y: f64,
    series_region: bool,
    pub numerator: f64,
    pub denominator: f64,
}

/// Cody's numerator and denominator for `N(x)`, `|x| ≤ CENTRAL_LIMIT`, as one degree-8
/// rational whose coefficients are chosen per call (per SIMD lane when vectorised).
#[inline(always)]
pub fn central_rational(x: f64) -> CentralRational {
    let y = -x * std::f64::consts::FRAC_1_SQRT_2;
    let y_abs = y.abs();
    let series_region = y_abs <= ERF_SERIES_LIMIT;
    let arg = if series_region { y * y } else { y_abs };
    let mut numerator = if series_region {
        SERIES_NUM[0]
    } else {
        MID_NUM[0]
    };
    let mut denominator = if series_region {
        SERIES_DEN[0]
    } else {
        MID_DEN[0]
    };
    for index in 1..9 {
        let (num_c, den_c) = if series_region {
            (SERIES_NUM[index], SERIES_DEN[index])
        } else {
            (MID_NUM[index], MID_DEN[index])
        };
        numerator = numerator * arg + num_c;
        denominator = denominator * arg + den_c;
    }
    CentralRational {
        y,
        series_region,
        numerator,
        denominator,
    }
}

/// `(N(x), N(−x))` from a [`central_rational`] of `x`, its value `ratio` (numerator /
/// denominator) and `gaussian = exp(−x²/2)`. Branch-free.
#[inline(always)]
pub fn central_pair(rational: &CentralRational, ratio: f64, gaussian: f64) -> (f64, f64) {
    let series_half = 0.5 * rational.y * ratio;
    let tail = 0.5 * ratio * gaussian; // N(−|x|)
    let (lower, upper) = if rational.y > 0.0 {
        (tail, 1.0 - tail)
    } else {
        (1.0 - tail, tail)
    };
    if rational.series_region {
        (0.5 - series_half, 0.5 + series_half)
    } else {
        (lower, upper)
    }
}

/// `(N(x), N(−x))` for `|x| ≤ CENTRAL_LIMIT`, given `gaussian = exp(−x²/2)`. Branch-free
/// (selects, no jumps), so a loop over it vectorises; same accuracy as [`norm_cdf`].
#[inline(always)]
pub fn norm_cdf_pair_central(x: f64, gaussian: f64) -> (f64, f64) {
    let rational = central_rational(x);
    central_pair(
        &rational,
        rational.numerator / rational.denominator,
        gaussian,
    )
}

/// Cody's `erfc(y)·exp(y²)` for `y > 4`.
#[allow(clippy::excessive_precision)]
#[inline(always)]
pub(crate) fn erfc_scaled_tail(y: f64) -> f64 {
    const P: [f64; 6] = [
        0.305_326_634_961_232_344,
        0.360_344_899_949_804_439,
        0.125_781_726_111_229_246,
        0.016_083_785_148_742_276_6,
        6.587_491_615_298_378_03e-4,
        0.016_315_387_137_302_097_8,
    ];
    const Q: [f64; 5] = [
        2.568_520_192_289_822_42,
        1.872_952_849_923_460_47,
        0.527_905_102_951_428_412,
        0.060_518_341_312_441_319_1,
        0.002_335_204_976_268_691_85,
    ];
    let z = 1.0 / (y * y);
    let num = ((((P[5] * z + P[0]) * z + P[1]) * z + P[2]) * z + P[3]) * z + P[4];
    let den = ((((z + Q[0]) * z + Q[1]) * z + Q[2]) * z + Q[3]) * z + Q[4];
    (FRAC_1_SQRT_PI - z * num / den) / y
}

/// `exp(−x²/2)` with libm's `exp` and `x²` carried exactly, so the lower tail keeps full
/// relative accuracy (the rounding of `x²` would otherwise be amplified by up to x²/2).
#[inline(always)]
pub fn gaussian(x: f64) -> f64 {
    if x.abs() > GAUSSIAN_UNDERFLOW {
        return 0.0;
    }
    let (square_hi, square_lo) = exact_square(x);
    (-0.5 * square_hi).exp() * (1.0 - 0.5 * square_lo)
}

/// Beyond this |x|, `exp(−x²/2)` underflows to zero.
const GAUSSIAN_UNDERFLOW: f64 = 38.7;

/// Standard normal density `φ(x)`.
#[inline(always)]
pub fn norm_pdf(x: f64) -> f64 {
    FRAC_1_SQRT_2PI * gaussian(x)
}

/// `(N(x), N(−x))` for any `x`, given `gaussian = exp(−x²/2)`; relative error ~1e-15 for
/// both, including the far tails. NaN in, NaN out.
#[inline(always)]
pub fn norm_cdf_pair(x: f64, gaussian: f64) -> (f64, f64) {
    if x.abs() <= CENTRAL_LIMIT {
        return norm_cdf_pair_central(x, gaussian);
    }
    if x.is_nan() {
        return (x, x);
    }
    // Tails: N(−|x|) = erfc(|x|/√2)/2, |x|/√2 > 4.
    let y_abs = x.abs() * std::f64::consts::FRAC_1_SQRT_2;
    let tail = if y_abs >= ERFC_UNDERFLOW {
        0.0
    } else {
        0.5 * erfc_scaled_tail(y_abs) * gaussian
    };
    if x < 0.0 {
        (tail, 1.0 - tail)
    } else {
        (1.0 - tail, tail)
    }
}

/// Standard normal distribution function `N(x)`; relative error ~1e-15 for all `x`
/// (including the lower tail down to underflow near `x = −37.5`). NaN in, NaN out.
#[inline(always)]
pub fn norm_cdf(x: f64) -> f64 {
    norm_cdf_pair(x, gaussian(x)).0
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Reference values of N(x) computed with 50-digit arithmetic (mpmath `ncdf`).
    const CDF_REFERENCE: [(f64, f64); 14] = [
        (-37.0, 5.725_571_222_524_577e-300),
        (-30.0, 4.906_713_927_148_187e-198),
        (-20.0, 2.753_624_118_606_233_7e-89),
        (-10.0, 7.619_853_024_160_525e-24),
        (-5.0, 2.866_515_718_791_939e-7),
        (-3.0, 1.349_898_031_630_094_6e-3),
        (-1.0, 0.158_655_253_931_457_05),
        (-0.5, 0.308_537_538_725_986_9),
        (-0.1, 0.460_172_162_722_971_04),
        (0.0, 0.5),
        (0.3, 0.617_911_422_188_952_7),
        (1.0, 0.841_344_746_068_542_9),
        (2.5, 0.993_790_334_674_223_8),
        (6.0, 0.999_999_999_013_412_3),
    ];

    #[test]
    fn cdf_matches_high_precision_reference_to_1e15_relative() {
        for (x, expected) in CDF_REFERENCE {
            let got = norm_cdf(x);
            let rel = ((got - expected) / expected).abs();
            assert!(
                rel <= 1e-15,
                "N({x}) = {got:e}, expected {expected:e}, rel {rel:e}"
            );
        }
    }

    #[test]
    fn cdf_limits_and_nan() {
        assert_eq!(norm_cdf(f64::NEG_INFINITY), 0.0);
        assert_eq!(norm_cdf(f64::INFINITY), 1.0);
        assert_eq!(norm_cdf(-40.0), 0.0);
        assert_eq!(norm_cdf(40.0), 1.0);
        assert!(norm_cdf(f64::NAN).is_nan());
    }

    #[test]
    fn cdf_is_monotone_and_symmetric_across_region_boundaries() {
        let mut previous = 0.0;
        let mut x = -38.0;
        while x <= 38.0 {
            let value = norm_cdf(x);
            assert!(value >= previous, "N not monotone at {x}");
            let symmetric = norm_cdf(-x) + value;
            assert!(
                (symmetric - 1.0).abs() <= 2e-16,
                "N(x)+N(-x) = {symmetric} at {x}"
            );
            previous = value;
            x += 0.003_125;
        }
    }

    #[test]
    fn central_pair_matches_cdf_on_both_sides() {
        let mut x = -CENTRAL_LIMIT;
        while x <= CENTRAL_LIMIT {
            let (lower, upper) = norm_cdf_pair_central(x, gaussian(x));
            assert_eq!(lower.to_bits(), norm_cdf(x).to_bits(), "N({x})");
            assert_eq!(upper.to_bits(), norm_cdf(-x).to_bits(), "N(-{x})");
            x += 0.001_953_125;
        }
    }

    #[test]
    fn pdf_matches_closed_form() {
        for x in [-8.0f64, -1.5, 0.0, 0.25, 3.0] {
            let closed = FRAC_1_SQRT_2PI * (-0.5 * x * x).exp();
            assert!(((norm_pdf(x) - closed) / closed).abs() < 1e-14);
        }
    }
}
