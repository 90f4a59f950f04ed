//! Peak resident memory per step, from the kernel's own high-water mark.
//!
//! Linux keeps a process's peak resident set size (`VmHWM` in
//! `/proc/self/status`) and resets it when `5` is written to
//! `/proc/self/clear_refs` (Linux ≥ 4.0). The scheduler resets it when a step
//! starts on an otherwise idle process and reads it when the step ends, so with
//! one job at a time (the default) the figure is that step's own peak; with
//! several jobs it is the process's peak while the step ran, other steps
//! included. Elsewhere (another OS, a kernel without the file) there is no
//! figure, never a wrong one.

use std::sync::Mutex;
use std::sync::atomic::{AtomicUsize, Ordering};

/// Steps running now; the peak is reset only when the first one starts.
static RUNNING: AtomicUsize = AtomicUsize::new(0);
/// Serialises resets against reads so a reset never lands between a step's start and its read.
static GATE: Mutex<()> = Mutex::new(());

/// Marks a step started; resets the process's peak when no other step is running.
pub fn step_started() {
    let _g = GATE.lock();
    if RUNNING.fetch_add(1, Ordering::SeqCst) == 0 {
        reset_peak();
    }
}

/// Marks a step ended and returns the peak resident bytes since it (or an overlapping step) began.
pub fn step_ended() -> Option<u64> {
    let _g = GATE.lock();
    RUNNING.fetch_sub(1, Ordering::SeqCst);
    peak_bytes()
}

/// Resets the kernel's high-water mark of resident memory (no-op where unsupported).
///
/// The mark drops to what is resident now, so freed heap the allocator still holds would
/// count towards the next step: hand it back to the OS first.
pub fn reset_peak() {
    release_free_heap();
    // Best effort: a kernel without the file simply keeps the process-wide peak.
    let _ = std::fs::write("/proc/self/clear_refs", "5");
}

/// Returns free heap pages to the OS (glibc's `malloc_trim`); nothing elsewhere.
fn release_free_heap() {
    #[cfg(all(target_os = "linux", target_env = "gnu"))]
    {
        unsafe extern "C" {
            fn malloc_trim(pad: usize) -> std::ffi::c_int;
        }
        // SAFETY: glibc's malloc_trim takes a byte count, touches only the allocator's own
        // free lists (under its locks) and is safe to call from any thread at any time.
        unsafe {
            malloc_trim(0);
        }
    }
}

/// Asks for the next `bytes` of the main heap in transparent huge pages (2 MB), for
/// a short-lived process that is about to build a large structure of small
/// allocations (`sslp check` / `plan` of a 10,000-arm sweep: some 40 MB in a few
/// hundred thousand pieces, where faulting in 4 kB pages one by one is a fifth of
/// the run). What glibc's `glibc.malloc.hugetlb=1` tunable does, for one process
/// that cannot set its own environment before it starts.
///
/// glibc only (elsewhere, and where the kernel has no transparent huge pages or
/// they are off, it changes nothing): the heap is grown by `bytes` at once, that
/// range advised `MADV_HUGEPAGE`, and handed back to malloc, which is told to keep
/// it (no trimming) and to serve allocations up to 32 MB from it rather than
/// `mmap`. Memory is touched only when used: the resident size grows by at most
/// one huge page beyond what the process touches anyway. Call it once, before the
/// allocations, from the main thread; not in a long-running process (the heap is
/// never returned to the OS).
pub fn heap_in_huge_pages(bytes: usize) {
    #[cfg(all(target_os = "linux", target_env = "gnu"))]
    {
        use std::ffi::{c_int, c_void};
        unsafe extern "C" {
            fn mallopt(param: c_int, value: c_int) -> c_int;
            fn malloc(size: usize) -> *mut c_void;
            fn free(ptr: *mut c_void);
            fn madvise(addr: *mut c_void, len: usize, advice: c_int) -> c_int;
        }
        const M_TRIM_THRESHOLD: c_int = -1;
        const M_MMAP_THRESHOLD: c_int = -3;
        const MADV_HUGEPAGE: c_int = 14;
        const HUGE: usize = 2 << 20;
        /// glibc's largest mmap threshold on 64-bit targets: chunks below it come from the heap.
        const PIECE: usize = 32 << 20;
        let pieces = bytes.div_ceil(PIECE - HUGE).clamp(1, 8);
        // SAFETY: mallopt, malloc, free and madvise are the C library's, called with valid
        // arguments: the pointers freed are the ones malloc returned, each freed once, and
        // nothing is read or written through them. MADV_HUGEPAGE changes only how pages of
        // the range are faulted in, never their content (on a range with unmapped parts it
        // fails with ENOMEM, which is ignored).
        unsafe {
            if mallopt(M_TRIM_THRESHOLD, c_int::MAX) == 0
                || mallopt(M_MMAP_THRESHOLD, PIECE as c_int) == 0
            {
                return;
            }
            let mut taken = [std::ptr::null_mut::<c_void>(); 8];
            for slot in taken.iter_mut().take(pieces) {
                *slot = malloc(PIECE - HUGE);
            }
            let (first, last) = (taken[0] as usize, taken[pieces - 1] as usize);
            // Consecutive pieces of the heap's top, in address order: advise their span.
            if taken[..pieces].iter().all(|p| !p.is_null()) && last >= first {
                let start = first.next_multiple_of(HUGE);
                let end = (last + PIECE - HUGE) / HUGE * HUGE;
                if end > start {
                    madvise(start as *mut c_void, end - start, MADV_HUGEPAGE);
                }
            }
            for &p in taken[..pieces].iter().rev() {
                if !p.is_null() {
                    free(p);
                }
            }
        }
    }
    #[cfg(not(all(target_os = "linux", target_env = "gnu")))]
    let _ = bytes;
}

/// The process's peak resident set size in bytes, when the kernel reports it.
pub fn peak_bytes() -> Option<u64> {
    let status = std::fs::read_to_string("/proc/self/status").ok()?;
    parse_hwm(&status)
}

/// `VmHWM:   123456 kB` → bytes.
fn parse_hwm(status: &str) -> Option<u64> {
    let line = status.lines().find(|l| l.starts_with("VmHWM:"))?;
    let kb: u64 = line
        .trim_start_matches("VmHWM:")
        .trim()
        .trim_end_matches("kB")
        .trim()
        .parse()
        .ok()?;
    Some(kb * 1024)
}

/// Bytes for people: `812 MB`, `5.1 GB` (decimal units, as `ls -h --si`).
pub fn human(bytes: u64) -> String {
    let b = bytes as f64;
    if b >= 1e9 {
        format!("{:.1} GB", b / 1e9)
    } else if b >= 1e6 {
        format!("{:.0} MB", b / 1e6)
    } else {
        format!("{:.0} kB", b / 1e3)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_the_high_water_mark() {
        let status = "Name:\tsslp\nVmPeak:\t  9000 kB\nVmHWM:\t   5120 kB\nVmRSS:\t 4000 kB\n";
        assert_eq!(parse_hwm(status), Some(5120 * 1024));
        assert_eq!(parse_hwm("Name: x\n"), None);
    }

    #[test]
    fn formats_sizes() {
        assert_eq!(human(812_000_000), "812 MB");
        assert_eq!(human(5_100_000_000), "5.1 GB");
        assert_eq!(human(3_000), "3 kB");
    }

    #[cfg(target_os = "linux")]
    #[test]
    fn the_peak_follows_a_large_allocation() {
        reset_peak();
        let before = peak_bytes().expect("linux reports VmHWM");
        let big = vec![1u8; 64 << 20];
        std::hint::black_box(&big);
        let after = peak_bytes().expect("linux reports VmHWM");
        assert!(after >= before, "{after} < {before}");
        assert!(
            after >= 64 << 20,
            "peak {after} below the 64 MiB just touched"
        );
    }
}
