//! What the process does when it meets the machine's limits: a file-size limit (`ulimit -f`)
//! and a memory limit (`ulimit -v`, a Slurm job's `--mem`) become an error message and
//! exit 1 instead of a signal's death. Call [`file_size_limit_as_error`] and
//! [`out_of_memory_as_error`] once at the start of a program, with [`RecordingAllocator`]
//! as its global allocator; [`keep_freed_memory`] tunes the allocator for sweeps.

use std::alloc::{GlobalAlloc, Layout, System};
use std::sync::atomic::{AtomicPtr, AtomicUsize, Ordering};

/// Makes a write beyond the process's file-size limit (`ulimit -f`, as a cluster may set) an
/// I/O error — a message naming the file and exit 1, the partial folder removed — instead
/// of SIGXFSZ killing the process mid-write.
pub fn file_size_limit_as_error() {
    #[cfg(unix)]
    // SAFETY: setting a signal's disposition to "ignore" touches no memory of ours.
    unsafe {
        libc::signal(libc::SIGXFSZ, libc::SIG_IGN);
    }
}

/// Keeps memory a sweep's workers free for their next chunk instead of handing it back to
/// the system at once. With glibc's defaults each worker's arena returns its top to the
/// system after every chunk and faults the same pages back in for the next one (W1 discrete
/// at N = 300 on two threads: up to 10 000 page faults, a tenth of the CPU in the kernel), and
/// buffers above 128 KiB are mapped and unmapped each time. Here: blocks below 32 MiB come
/// from the arenas, and an arena keeps up to 64 MiB free at its top.
pub fn keep_freed_memory() {
    #[cfg(all(target_os = "linux", target_env = "gnu"))]
    // SAFETY: mallopt only sets the allocator's thresholds, under glibc's own lock.
    unsafe {
        libc::mallopt(libc::M_MMAP_THRESHOLD, 32 << 20);
        libc::mallopt(libc::M_TRIM_THRESHOLD, 64 << 20);
    }
}

/// The size of the last allocation the system refused (0: none).
static REFUSED: AtomicUsize = AtomicUsize::new(0);

/// The scenario being run, for the out-of-memory message (leaked: a few bytes a scenario).
static RUNNING: AtomicPtr<String> = AtomicPtr::new(std::ptr::null_mut());

/// The system allocator, remembering the size of an allocation it could not make, so that
/// the abort that follows an infallible one can say so ([`out_of_memory_as_error`]).
/// Fallible allocations (`try_reserve`) still see their failure and go on.
#[derive(Debug, Default, Clone, Copy)]
pub struct RecordingAllocator;

impl RecordingAllocator {
    fn record(p: *mut u8, size: usize) -> *mut u8 {
        if p.is_null() {
            REFUSED.store(size.max(1), Ordering::Relaxed);
        }
        p
    }
}

// SAFETY: every call is forwarded to `System` unchanged; only a null result is recorded.
unsafe impl GlobalAlloc for RecordingAllocator {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        Self::record(unsafe { System.alloc(layout) }, layout.size())
    }

    unsafe fn alloc_zeroed(&self, layout: Layout) -> *mut u8 {
        Self::record(unsafe { System.alloc_zeroed(layout) }, layout.size())
    }

    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        unsafe { System.dealloc(ptr, layout) }
    }

    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        Self::record(unsafe { System.realloc(ptr, layout, new_size) }, new_size)
    }
}

/// Names the scenario now running, for the out-of-memory message.
pub fn mark_running(name: &str) {
    let name = Box::into_raw(Box::new(name.to_string()));
    RUNNING.store(name, Ordering::Release);
}

/// Turns the abort that follows a refused allocation (Rust's "memory allocation of N bytes
/// failed") into `error: scenario NAME: out of memory …` and exit 1. The result folder is
/// not committed: its hidden `.NAME.partial-PID` stays, as after kill -9. Any other abort
/// keeps its default.
pub fn out_of_memory_as_error() {
    #[cfg(unix)]
    // SAFETY: the handler only reads atomics, formats into a stack buffer, and calls the
    // async-signal-safe write(2), signal(2), raise(3) and _exit(2).
    unsafe {
        libc::signal(libc::SIGABRT, on_abort as *const () as libc::sighandler_t);
    }
}

#[cfg(unix)]
extern "C" fn on_abort(_: libc::c_int) {
    let refused = REFUSED.load(Ordering::Relaxed);
    if refused == 0 {
        // SAFETY: restoring the default disposition and re-raising: an ordinary abort.
        unsafe {
            libc::signal(libc::SIGABRT, libc::SIG_DFL);
            libc::raise(libc::SIGABRT);
        }
        return;
    }
    let mut message = Message::default();
    message.push(b"error: scenario ");
    // SAFETY: RUNNING only ever holds a leaked, never-freed String.
    match unsafe { RUNNING.load(Ordering::Acquire).as_ref() } {
        Some(name) => message.push(name.as_bytes()),
        None => message.push(b"?"),
    }
    message.push(b": out of memory: an allocation of ");
    message.number(refused);
    message.push(b" bytes failed (is the process's memory limited? `ulimit -v`, a job's --mem); no result was written\n");
    // SAFETY: write(2) and _exit(2) are async-signal-safe.
    unsafe {
        libc::write(2, message.bytes.as_ptr().cast(), message.len);
        libc::_exit(1);
    }
}

/// A message built without allocating (inside a signal handler).
struct Message {
    bytes: [u8; 512],
    len: usize,
}

impl Default for Message {
    fn default() -> Self {
        Message {
            bytes: [0; 512],
            len: 0,
        }
    }
}

impl Message {
    fn push(&mut self, text: &[u8]) {
        let n = text.len().min(self.bytes.len() - self.len);
        self.bytes[self.len..self.len + n].copy_from_slice(&text[..n]);
        self.len += n;
    }

    fn number(&mut self, mut x: usize) {
        let mut digits = [0u8; 20];
        let mut i = digits.len();
        loop {
            i -= 1;
            digits[i] = b'0' + (x % 10) as u8;
            x /= 10;
            if x == 0 {
                break;
            }
        }
        self.push(&digits[i..]);
    }
}
