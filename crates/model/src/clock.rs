//! Time as the domain logic sees it: the wall clock in production, a
//! hand-moved clock in tests of timers (SLAs, escalation, check holds).

use std::sync::atomic::{AtomicI64, Ordering};

/// Now, in ns since the Unix epoch (0 if the system clock is before it).
pub fn now_ns() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_nanos() as i64)
}

/// A source of the current time.
pub trait Clock: Send + Sync {
    fn now_ns(&self) -> i64;
}

/// The wall clock.
pub struct SystemClock;

impl Clock for SystemClock {
    fn now_ns(&self) -> i64 {
        now_ns()
    }
}

/// A clock that only moves when told to.
pub struct ManualClock(AtomicI64);

impl ManualClock {
    pub fn new(start_ns: i64) -> Self {
        ManualClock(AtomicI64::new(start_ns))
    }

    pub fn set(&self, ns: i64) {
        self.0.store(ns, Ordering::SeqCst);
    }

    pub fn advance(&self, ns: i64) -> i64 {
        self.0.fetch_add(ns, Ordering::SeqCst) + ns
    }
}

impl Clock for ManualClock {
    fn now_ns(&self) -> i64 {
        self.0.load(Ordering::SeqCst)
    }
}
