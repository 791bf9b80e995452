//! Scheduling priority of the separation worker thread (runs on the worker, once, at start).
//!
//! The worker has a deadline: a hop must be finished before the audio thread needs its stem
//! frames, or the audio thread plays dry. At normal priority any busy process on the machine
//! (a browser, the DAW's own GUI) competes with it, so the worker asks for the lowest real-time
//! priority (`SCHED_FIFO` 1 on Linux). That is above every normal thread but below the host's
//! audio threads (JACK, PipeWire and DAWs run those at real-time priorities well above 1), so
//! the audio thread still preempts the worker. Linux's real-time throttling
//! (`sched_rt_runtime_us`) keeps a runaway real-time thread from taking the whole machine.
//!
//! Without permission (no `CAP_SYS_NICE` and an `RLIMIT_RTPRIO` of 0: the usual default
//! outside the `audio` group) the request fails and the worker stays at normal priority; the
//! editor's details line says which one it got. `DEMIX_WORKER_PRIORITY=normal` skips the request.

/// Environment variable that keeps the worker at normal priority when set to `normal`.
pub const WORKER_PRIORITY_ENV: &str = "DEMIX_WORKER_PRIORITY";

/// Real-time priority the worker asks for (`SCHED_FIFO`, 1 = the lowest).
pub const WORKER_RT_PRIORITY: i32 = 1;

/// The priority the calling thread ended up with.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ThreadPriority {
    /// Normal time-sharing scheduling (the request was refused, skipped or is unsupported).
    Normal,
    /// Real-time FIFO scheduling at this priority.
    Realtime(i32),
}

/// Asks for [`WORKER_RT_PRIORITY`] for the calling thread; returns what it got. Never fails:
/// a refusal leaves the thread as it was.
pub fn raise_current_thread() -> ThreadPriority {
    if std::env::var(WORKER_PRIORITY_ENV).is_ok_and(|v| v.eq_ignore_ascii_case("normal")) {
        return ThreadPriority::Normal;
    }
    platform::raise(WORKER_RT_PRIORITY)
}

#[cfg(target_os = "linux")]
mod platform {
    use super::ThreadPriority;

    pub fn raise(priority: i32) -> ThreadPriority {
        let param = libc::sched_param { sched_priority: priority };
        // SAFETY: pthread_self() is always a valid handle for the calling thread and `param`
        // outlives the call.
        let rc =
            unsafe { libc::pthread_setschedparam(libc::pthread_self(), libc::SCHED_FIFO, &param) };
        if rc == 0 {
            ThreadPriority::Realtime(priority)
        } else {
            ThreadPriority::Normal
        }
    }
}

#[cfg(not(target_os = "linux"))]
mod platform {
    use super::ThreadPriority;

    pub fn raise(_priority: i32) -> ThreadPriority {
        ThreadPriority::Normal
    }
}

#[cfg(all(test, target_os = "linux"))]
mod tests {
    use super::*;

    fn policy_of_current_thread() -> (i32, i32) {
        let mut policy = 0;
        let mut param = libc::sched_param { sched_priority: 0 };
        // SAFETY: valid handle and out-pointers.
        let rc =
            unsafe { libc::pthread_getschedparam(libc::pthread_self(), &mut policy, &mut param) };
        assert_eq!(rc, 0);
        (policy, param.sched_priority)
    }

    #[test]
    fn reported_priority_is_the_thread_s_actual_policy() {
        // Whatever the machine allows, the answer must describe the thread as it now runs.
        let (got, actual) =
            std::thread::spawn(|| (raise_current_thread(), policy_of_current_thread()))
                .join()
                .unwrap();
        println!("worker priority on this machine: {got:?} (policy, priority) = {actual:?}");
        match got {
            ThreadPriority::Realtime(p) => assert_eq!(actual, (libc::SCHED_FIFO, p)),
            ThreadPriority::Normal => assert_ne!(actual.0, libc::SCHED_FIFO),
        }
    }
}
