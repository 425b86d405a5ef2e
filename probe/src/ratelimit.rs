//! Rate-limited logging for lines a network peer can trigger.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Mutex;
use std::time::{Duration, Instant};

/// Lines allowed per window; the rest are counted and reported with the next
/// line that passes.
const LINES_PER_WINDOW: u64 = 10;
/// Length of a window.
const WINDOW: Duration = Duration::from_secs(10);

/// Lets through at most [`LINES_PER_WINDOW`] lines per [`WINDOW`].
#[derive(Debug)]
pub struct RateLimitedLog {
    window: Mutex<(Instant, u64)>,
    suppressed: AtomicU64,
}

impl Default for RateLimitedLog {
    fn default() -> Self {
        RateLimitedLog {
            window: Mutex::new((Instant::now(), 0)),
            suppressed: AtomicU64::new(0),
        }
    }
}

impl RateLimitedLog {
    /// Calls `log` with the number of lines suppressed since the last one, or
    /// counts this line as suppressed.
    pub fn warn(&self, log: impl FnOnce(u64)) {
        let mut window = self
            .window
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner());
        if window.0.elapsed() >= WINDOW {
            *window = (Instant::now(), 0);
        }
        if window.1 < LINES_PER_WINDOW {
            window.1 += 1;
            drop(window);
            log(self.suppressed.swap(0, Ordering::Relaxed));
        } else {
            self.suppressed.fetch_add(1, Ordering::Relaxed);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lines_beyond_limit_are_counted() {
        let log = RateLimitedLog::default();
        let mut printed = 0;
        for _ in 0..25 {
            log.warn(|_| printed += 1);
        }
        assert_eq!(printed, LINES_PER_WINDOW);
        assert_eq!(
            log.suppressed.load(Ordering::Relaxed),
            25 - LINES_PER_WINDOW
        );
    }
}
