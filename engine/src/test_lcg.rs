//! A seeded linear congruential generator for the property tests (Knuth's MMIX
//! constants): the same draws on every run, no dependency.

pub(crate) struct Lcg(pub u64);

impl Lcg {
    /// The next state, all 64 bits (the high bits are the better ones: shift to use few).
    pub(crate) fn next_u64(&mut self) -> u64 {
        self.0 = self
            .0
            .wrapping_mul(6_364_136_223_846_793_005)
            .wrapping_add(1_442_695_040_888_963_407);
        self.0
    }
}
