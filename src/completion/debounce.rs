//! Adaptive debounce for automatic completion triggers, as a pure synchronous state machine.
//!
//! The caller feeds it the time of each keystroke-triggered request (and of accepts); it answers how
//! long to wait before sending the request upstream. No clocks are read here: `Instant`s come in.
//!
//! Model (Helix style, adapted): a moving average of keystroke gaps measures how fast the user is
//! typing. The configured base delay (`debounce_ms`) is scaled by `REFERENCE_GAP / average_gap`,
//! clamped to `[MIN_FACTOR, MAX_FACTOR]`: during a fast burst the delay grows (another keystroke is
//! coming, a request now would be wasted), and after a pause the average rises and the delay shrinks,
//! so the request fires quickly. `debounce_ms == 0` turns the debounce off (always `None`). Invoked
//! triggers, requests at the start of a line and the request right after an accept are never delayed.

use std::time::{Duration, Instant};

/// Gap (time between two keystrokes) at which the base delay is used unchanged.
pub const REFERENCE_GAP: Duration = Duration::from_millis(150);
/// Smallest multiple of the base delay (reached after pauses and by slow typists).
pub const MIN_FACTOR: f64 = 0.5;
/// Largest multiple of the base delay (reached during fast bursts).
pub const MAX_FACTOR: f64 = 2.0;
/// Gaps are clamped to this range before averaging, so one long pause does not dominate forever
/// and a key-repeat burst does not drive the average to zero.
pub const MIN_GAP: Duration = Duration::from_millis(10);
pub const MAX_GAP: Duration = Duration::from_millis(1000);
/// Weight of the newest gap in the exponential moving average.
pub const SMOOTHING: f64 = 0.3;

/// How a request was triggered, as far as the debounce cares.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default)]
pub struct TriggerInfo {
    /// The user asked explicitly (LSP `triggerKind == Invoked`): never delayed.
    pub invoked: bool,
    /// The cursor is at the start of a line (only indentation before it): never delayed.
    pub at_line_start: bool,
}

/// Adaptive debounce state for one document (or one editor; the caller decides the scope).
#[derive(Clone, Debug)]
pub struct Debouncer {
    base: Duration,
    average_gap: Option<f64>,
    last_keystroke: Option<Instant>,
    just_accepted: bool,
}

impl Debouncer {
    /// `debounce_ms` is the configured base delay; 0 turns the debounce off.
    pub fn new(debounce_ms: u64) -> Self {
        Self { base: Duration::from_millis(debounce_ms), average_gap: None, last_keystroke: None, just_accepted: false }
    }

    /// Change the base delay (configuration reload); keeps the typing statistics.
    pub fn set_base_ms(&mut self, debounce_ms: u64) {
        self.base = Duration::from_millis(debounce_ms);
    }

    /// The configured base delay.
    pub fn base(&self) -> Duration {
        self.base
    }

    /// The current moving average of keystroke gaps, if at least one gap was seen.
    pub fn average_gap(&self) -> Option<Duration> {
        self.average_gap.map(Duration::from_secs_f64)
    }

    /// A suggestion was accepted: the next request (the follow-up completion) is not delayed.
    pub fn on_accept(&mut self) {
        self.just_accepted = true;
    }

    /// An automatic request caused by a keystroke in the middle of a line.
    /// `None` means send now; `Some(d)` means wait `d` (and drop the request if another keystroke
    /// arrives meanwhile).
    pub fn on_keystroke(&mut self, now: Instant) -> Option<Duration> {
        self.on_trigger(now, TriggerInfo::default())
    }

    /// A request with its trigger information. Automatic triggers (`!info.invoked`) count as
    /// keystrokes for the typing-speed average.
    pub fn on_trigger(&mut self, now: Instant, info: TriggerInfo) -> Option<Duration> {
        if info.invoked {
            // Not a keystroke: the timing statistics are left alone, but an explicit request
            // consumes the "just accepted" state too.
            self.just_accepted = false;
            return None;
        }
        self.record_keystroke(now);
        let after_accept = std::mem::take(&mut self.just_accepted);
        if self.base.is_zero() || info.at_line_start || after_accept {
            return None;
        }
        Some(self.current_delay())
    }

    /// The delay an automatic trigger would get now, from the base and the typing average.
    pub fn current_delay(&self) -> Duration {
        if self.base.is_zero() {
            return Duration::ZERO;
        }
        let factor = match self.average_gap {
            Some(avg) if avg > 0.0 => (REFERENCE_GAP.as_secs_f64() / avg).clamp(MIN_FACTOR, MAX_FACTOR),
            _ => 1.0,
        };
        Duration::from_secs_f64(self.base.as_secs_f64() * factor)
    }

    fn record_keystroke(&mut self, now: Instant) {
        if let Some(last) = self.last_keystroke {
            // `checked_duration_since`: an out-of-order instant is ignored, never a panic.
            if let Some(gap) = now.checked_duration_since(last) {
                let gap = gap.clamp(MIN_GAP, MAX_GAP).as_secs_f64();
                self.average_gap = Some(match self.average_gap {
                    Some(avg) => avg + SMOOTHING * (gap - avg),
                    None => gap,
                });
            }
        }
        match self.last_keystroke {
            Some(last) if now < last => {}
            _ => self.last_keystroke = Some(now),
        }
    }
}

impl Default for Debouncer {
    fn default() -> Self {
        Self::new(0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ms(n: u64) -> Duration {
        Duration::from_millis(n)
    }

    /// Feeds keystrokes at the given gaps (ms) and returns the delay of the last one.
    fn check(base_ms: u64, gaps: &[u64], expected: Option<Duration>) {
        let mut d = Debouncer::new(base_ms);
        let mut t = Instant::now();
        let mut last = d.on_keystroke(t);
        for &g in gaps {
            t += ms(g);
            last = d.on_keystroke(t);
        }
        assert_eq!(last, expected, "base {base_ms} gaps {gaps:?}");
    }

    #[test]
    fn table() {
        // Off: always None.
        check(0, &[], None);
        check(0, &[50, 50, 50], None);
        // First keystroke: the base.
        check(100, &[], Some(ms(100)));
        // Steady typing at the reference gap: the base.
        check(100, &[150, 150, 150], Some(ms(100)));
        // Fast burst: longer, capped at 2x.
        check(100, &[30, 30, 30, 30, 30, 30, 30], Some(ms(200)));
        // Slow typing: shorter, floored at 0.5x.
        check(100, &[900, 900, 900, 900, 900], Some(ms(50)));
    }

    #[test]
    fn pause_fires_quickly() {
        let mut d = Debouncer::new(100);
        let mut t = Instant::now();
        d.on_keystroke(t);
        for _ in 0..10 {
            t += ms(40);
            d.on_keystroke(t);
        }
        let during_burst = d.current_delay();
        t += ms(3000);
        let after_pause = d.on_keystroke(t).unwrap_or_default();
        assert!(after_pause < during_burst, "{after_pause:?} < {during_burst:?}");
    }

    #[test]
    fn never_delayed() {
        let t = Instant::now();
        let mut d = Debouncer::new(100);
        assert_eq!(d.on_trigger(t, TriggerInfo { invoked: true, at_line_start: false }), None);
        assert_eq!(d.on_trigger(t, TriggerInfo { invoked: false, at_line_start: true }), None);
        d.on_accept();
        assert_eq!(d.on_keystroke(t + ms(10)), None);
        // Only the one request after the accept.
        assert!(d.on_keystroke(t + ms(200)).is_some());
    }

    #[test]
    fn out_of_order_instants_do_not_panic() {
        let t = Instant::now() + ms(10_000);
        let mut d = Debouncer::new(100);
        d.on_keystroke(t);
        assert!(d.on_keystroke(t - ms(5000)).is_some());
        assert!(d.on_keystroke(t + ms(100)).is_some());
        d.set_base_ms(0);
        assert_eq!(d.on_keystroke(t + ms(200)), None);
        assert_eq!(d.current_delay(), Duration::ZERO);
    }
}
