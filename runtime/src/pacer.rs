//! Publication pacing for fixed-rate runs: each event's due time, spinning until it.
//! Shared by the ring pipeline and its benchmark baseline so both pace identically.

/// Hands out due times (ns since `start_raw`) for successive events.
pub struct Pacer {
    clock: quanta::Clock,
    start_raw: u64,
    interval_ns: Option<f64>,
    issued: u64,
}

impl Pacer {
    /// `offered_rate_eps`: events per second, or `None` for as fast as possible.
    pub fn new(clock: quanta::Clock, start_raw: u64, offered_rate_eps: Option<f64>) -> Self {
        let interval_ns = offered_rate_eps
            .filter(|rate| *rate > 0.0)
            .map(|rate| 1e9 / rate);
        Pacer {
            clock,
            start_raw,
            interval_ns,
            issued: 0,
        }
    }

    /// The next event's due time: at a fixed rate, its scheduled time (after spinning
    /// until then); otherwise now.
    pub fn next_due_ns(&mut self) -> u64 {
        let now = || self.clock.delta_as_nanos(self.start_raw, self.clock.raw());
        let due = match self.interval_ns {
            Some(interval) => {
                let due = (self.issued as f64 * interval) as u64;
                while now() < due {
                    std::hint::spin_loop();
                }
                due
            }
            None => now(),
        };
        self.issued += 1;
        due
    }
}
