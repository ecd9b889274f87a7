//! Decimal → f64, the conversion the state machine runs on every fill, position and
//! ledger read. `rust_decimal`'s own (`ToPrimitive::to_f64`) divides the 96-bit mantissa
//! in 128-bit arithmetic and converts from 128-bit integers, both software routines on
//! x86-64; this is the same algorithm in 64-bit arithmetic when the mantissa fits, so it
//! gives the same bits (the state hash depends on them) several times faster, and falls
//! back to the crate's otherwise.

use rust_decimal::Decimal;
use rust_decimal::prelude::ToPrimitive;

/// 10ⁿ for n ≤ 19, each exact in f64 (5¹⁹ < 2⁵³): the values `10f64.powi(n)` gives.
const POWERS_OF_TEN: [f64; 20] = [
    1e0, 1e1, 1e2, 1e3, 1e4, 1e5, 1e6, 1e7, 1e8, 1e9, 1e10, 1e11, 1e12, 1e13, 1e14, 1e15, 1e16,
    1e17, 1e18, 1e19,
];

/// `value` as f64, bit for bit what `value.to_f64()` gives (which never fails).
#[inline]
pub fn decimal_to_f64(value: &Decimal) -> f64 {
    let scale = value.scale();
    let mantissa = value.mantissa().unsigned_abs();
    let Ok(mantissa) = u64::try_from(mantissa) else {
        return slow(value);
    };
    if scale == 0 {
        // The crate converts the signed 128-bit integer; a signed 64-bit one is the same
        // correctly rounded value (and −0 gives +0 either way).
        return match i64::try_from(mantissa) {
            Ok(m) if value.is_sign_negative() => (-m) as f64,
            Ok(m) => m as f64,
            Err(_) => slow(value),
        };
    }
    let Some(&round_to) = POWERS_OF_TEN.get(scale as usize) else {
        return slow(value);
    };
    // The crate's steps, in the same order (integer → f64 conversions are correctly
    // rounded whatever the integer width).
    let precision = 10u64.pow(scale);
    let integral = (mantissa / precision) as f64;
    let fraction = (mantissa % precision) as f64 / precision as f64;
    let negative = value.is_sign_negative();
    if fraction == 0.0 {
        return if negative { -integral } else { integral };
    }
    let rounded = ((integral + fraction) * round_to).round() / round_to;
    if negative { -rounded } else { rounded }
}

#[cold]
fn slow(value: &Decimal) -> f64 {
    value.to_f64().unwrap_or(f64::NAN)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn same_bits_as_the_crate_on_every_scale_and_mantissa_size() {
        // A seeded LCG over mantissas of every width (1 to 96 bits), every scale, both signs.
        let mut rng = crate::test_lcg::Lcg(0x2545_F491_4F6C_DD1D);
        let mut next = || rng.next_u64();
        let mut checked = 0;
        for case in 0..400_000u64 {
            let bits = 1 + (case % 96) as u32;
            let raw = (u128::from(next()) << 64 | u128::from(next())) >> (128 - bits);
            let scale = (next() % 29) as u32;
            let negative = next() % 2 == 0;
            let lo = raw as u32;
            let mid = (raw >> 32) as u32;
            let hi = (raw >> 64) as u32;
            let value = Decimal::from_parts(lo, mid, hi, negative, scale);
            let expected = value.to_f64().expect("always converts");
            assert_eq!(
                decimal_to_f64(&value).to_bits(),
                expected.to_bits(),
                "{value} (scale {scale})"
            );
            checked += 1;
        }
        // Values a book holds: prices, quantities and cash with few decimals.
        for text in [
            "0",
            "-0",
            "0.1",
            "-2.5",
            "0.0000000000000000000000000001",
            "79228162514264337593543950335",
            "0.00000001",
        ] {
            let value: Decimal = text.parse().expect("decimal");
            assert_eq!(
                decimal_to_f64(&value).to_bits(),
                value.to_f64().expect("converts").to_bits(),
                "{text}"
            );
        }
        assert_eq!(checked, 400_000);
    }
}
