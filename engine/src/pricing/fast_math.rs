//! Branch-free `exp` and `ln` in plain IEEE arithmetic, for the pricing kernel.
//!
//! Why not libm: a call cannot be vectorised, and libm's results may differ between
//! platforms. These use only `+ − × ÷` and bit moves, so a loop over them vectorises and
//! gives the same bits on every IEEE-754 machine (no FMA is ever formed by the compiler).
//! Accuracy: within 2 ulp of the true value on their stated domains (tested against libm).

const LOG2_E: f64 = std::f64::consts::LOG2_E;
/// ln 2 split so that `n · LN2_HI` is exact for |n| < 2¹¹ (fdlibm's constants).
const LN2_HI: f64 = f64::from_bits(0x3FE6_2E42_FEE0_0000);
const LN2_LO: f64 = f64::from_bits(0x3DEA_39EF_3579_3C76);
/// 1.5 · 2⁵²: adding it rounds to an integer and leaves that integer in the low bits.
const ROUND_SHIFTER: f64 = 6_755_399_441_055_744.0;
/// Inputs of [`exp`] are clamped to this range, where the result is a normal number.
pub const EXP_ARG_MIN: f64 = -708.0;
pub const EXP_ARG_MAX: f64 = 709.0;

/// `eˣ` for `x` in [`EXP_ARG_MIN`, `EXP_ARG_MAX`] (clamped outside it).
#[inline(always)]
pub fn exp(x: f64) -> f64 {
    let x = x.clamp(EXP_ARG_MIN, EXP_ARG_MAX);
    let shifted = x * LOG2_E + ROUND_SHIFTER;
    let n = shifted - ROUND_SHIFTER;
    let r = (x - n * LN2_HI) - n * LN2_LO; // |r| ≤ ln2/2, error ≲ 1 ulp
    // Taylor series to r¹³: truncation below 5e-18 relative on |r| ≤ 0.347.
    let mut p = 1.0 / 6_227_020_800.0;
    p = p * r + 1.0 / 479_001_600.0;
    p = p * r + 1.0 / 39_916_800.0;
    p = p * r + 1.0 / 3_628_800.0;
    p = p * r + 1.0 / 362_880.0;
    p = p * r + 1.0 / 40_320.0;
    p = p * r + 1.0 / 5_040.0;
    p = p * r + 1.0 / 720.0;
    p = p * r + 1.0 / 120.0;
    p = p * r + 1.0 / 24.0;
    p = p * r + 1.0 / 6.0;
    p = p * r + 0.5;
    p = p * r + 1.0;
    p = p * r + 1.0;
    // 2ⁿ: the low bits of `shifted` hold n; moving them into the exponent field of 1.0.
    let two_to_n = f64::from_bits(1.0f64.to_bits().wrapping_add(shifted.to_bits() << 52));
    p * two_to_n
}

/// Bit pattern of √½: mantissas are reduced to [√½, √2).
const SQRT_HALF_BITS: u64 = 0x3FE6_A09E_667F_3BCD;
const ONE_BITS: u64 = 0x3FF0_0000_0000_0000;
/// 2⁵² as bits: OR-ing a small integer into its mantissa converts it to f64 exactly.
const TWO_52_BITS: u64 = 0x4330_0000_0000_0000;

/// `ln x` for positive normal finite `x`.
#[inline(always)]
pub fn ln(x: f64) -> f64 {
    let bits = x.to_bits();
    // Biased exponent of x / √½, so that x = 2^k · m with m in [√½, √2).
    let biased = (bits.wrapping_add(ONE_BITS - SQRT_HALF_BITS)) >> 52;
    let m = f64::from_bits(bits.wrapping_sub(biased << 52).wrapping_add(ONE_BITS));
    let k = (f64::from_bits(biased | TWO_52_BITS) - f64::from_bits(TWO_52_BITS)) - 1023.0;
    // ln m = 2·atanh(s), s = (m − 1)/(m + 1), |s| ≤ 0.1716; m − 1 is exact (Sterbenz).
    let s = (m - 1.0) / (m + 1.0);
    let z = s * s;
    let mut series = 1.0 / 23.0;
    series = series * z + 1.0 / 21.0;
    series = series * z + 1.0 / 19.0;
    series = series * z + 1.0 / 17.0;
    series = series * z + 1.0 / 15.0;
    series = series * z + 1.0 / 13.0;
    series = series * z + 1.0 / 11.0;
    series = series * z + 1.0 / 9.0;
    series = series * z + 1.0 / 7.0;
    series = series * z + 1.0 / 5.0;
    series = series * z + 1.0 / 3.0;
    let ln_m = 2.0 * s + 2.0 * s * (z * series);
    k * LN2_HI + (ln_m + k * LN2_LO)
}

/// `exp(−x²/2)` for |x| ≤ 37, with `x²` carried exactly as a double-double (Dekker), so
/// the result keeps full relative accuracy even where `x²` is large.
#[inline(always)]
pub fn exp_neg_half_square(x: f64) -> f64 {
    let (square_hi, square_lo) = exact_square(x);
    exp(-0.5 * square_hi) * (1.0 - 0.5 * square_lo)
}

/// `x² = hi + lo` exactly (Dekker's product with Veltkamp's split; no FMA needed).
/// Valid for |x| < 2⁹⁹⁵ (the split must not overflow).
#[inline(always)]
pub fn exact_square(x: f64) -> (f64, f64) {
    const VELTKAMP_SPLIT: f64 = 134_217_729.0; // 2²⁷ + 1
    let c = VELTKAMP_SPLIT * x;
    let x_hi = c - (c - x);
    let x_lo = x - x_hi;
    let square_hi = x * x;
    let square_lo = ((x_hi * x_hi - square_hi) + 2.0 * x_hi * x_lo) + x_lo * x_lo;
    (square_hi, square_lo)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ulps(got: f64, expected: f64) -> f64 {
        ((got - expected) / (expected.abs() * f64::EPSILON)).abs()
    }

    #[test]
    fn exp_within_two_ulp_of_libm() {
        let mut worst = 0.0f64;
        let mut x = EXP_ARG_MIN;
        while x <= EXP_ARG_MAX {
            for probe in [x, x + 1e-7, -x * 1e-3, x * 1e-9] {
                worst = worst.max(ulps(exp(probe), probe.exp()));
            }
            x += 0.0173;
        }
        assert!(worst <= 2.0, "worst {worst} ulp");
        assert_eq!(exp(0.0), 1.0);
        assert_eq!(exp(-1000.0), exp(EXP_ARG_MIN));
    }

    #[test]
    fn ln_within_two_ulp_of_libm() {
        let mut worst = 0.0f64;
        let mut x = f64::MIN_POSITIVE;
        while x < 1e300 {
            for probe in [
                x,
                x * 1.000_000_1,
                1.0 + x.min(1.0) * 1e-3,
                1.0 - x.min(0.5) * 1e-3,
            ] {
                let expected = probe.ln();
                if expected != 0.0 {
                    worst = worst.max(ulps(ln(probe), expected));
                }
            }
            x *= 1.37;
        }
        assert!(worst <= 2.0, "worst {worst} ulp");
        assert_eq!(ln(1.0), 0.0);
    }

    #[test]
    fn gaussian_factor_keeps_relative_accuracy() {
        // exp(−x²/2) at exactly representable x² (x = k/16): libm is exact enough here.
        for k in 0..=600 {
            let x = f64::from(k) / 16.0;
            let expected = (-0.5 * x * x).exp();
            assert!(ulps(exp_neg_half_square(x), expected) <= 2.0, "x = {x}");
        }
    }
}
