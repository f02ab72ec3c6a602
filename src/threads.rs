//! Background threads (the indexer, the workspace walk and its parsers, query compiles): named,
//! and on Linux at a lower scheduling priority, so that when every core is busy the threads that
//! answer the editor get them first. On a two-core machine, typing at 1 kHz into a 20,000-line
//! file keeps the indexer's reparses busy; at equal priority they delayed answers by a time slice.

use std::{io, thread::JoinHandle};

/// `nice` value of background threads: well below the request path, not idle-only (the index
/// must still keep up).
#[cfg(target_os = "linux")]
const BACKGROUND_NICE: i32 = 10;

/// Starts a named background thread at background priority.
pub fn spawn_background<T: Send + 'static>(
    name: impl Into<String>,
    f: impl FnOnce() -> T + Send + 'static,
) -> io::Result<JoinHandle<T>> {
    std::thread::Builder::new().name(name.into()).spawn(move || {
        lower_priority();
        f()
    })
}

/// Lowers the calling thread's priority (Linux keeps a nice value per thread). Best effort: a
/// refusal leaves the thread as it was.
fn lower_priority() {
    #[cfg(target_os = "linux")]
    if let Err(e) = rustix::process::setpriority_process(Some(rustix::thread::gettid()), BACKGROUND_NICE) {
        tracing::debug!("cannot lower a background thread's priority: {e}");
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn background_threads_run_at_lower_priority() {
        let nice = spawn_background("switchboard-test", || {
            #[cfg(target_os = "linux")]
            return rustix::process::getpriority_process(Some(rustix::thread::gettid())).ok();
            #[cfg(not(target_os = "linux"))]
            return None::<i32>;
        });
        let nice = nice.unwrap().join().unwrap();
        #[cfg(target_os = "linux")]
        assert!(nice.is_some_and(|n| n >= BACKGROUND_NICE), "nice {nice:?}");
        let _ = nice;
    }
}
