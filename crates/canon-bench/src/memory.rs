//! Peak resident memory of this process over a stretch of work, from Linux's `/proc`:
//! writing `5` to `/proc/self/clear_refs` resets the peak (`VmHWM` in `/proc/self/status`)
//! to the current resident size. Elsewhere no figure is given.
//!
//! Before the reset, mimalloc returns the pages it kept from earlier work to the system,
//! so the peak is what the process holds anyway (the runtime, its caches, the data the
//! engines keep) plus what the stretch itself used.

/// Resets the peak; `false` where the platform cannot.
pub fn reset_peak() -> bool {
    // SAFETY: `mi_collect` only frees mimalloc's own unused pages; mimalloc is this
    // binary's global allocator and is safe to call from any thread at any time.
    unsafe { libmimalloc_sys::mi_collect(true) };
    std::fs::write("/proc/self/clear_refs", "5").is_ok()
}

/// The peak resident size since the last reset, in bytes.
pub fn peak_bytes() -> Option<u64> {
    let status = std::fs::read_to_string("/proc/self/status").ok()?;
    let line = status.lines().find(|l| l.starts_with("VmHWM:"))?;
    let kib: u64 = line.split_whitespace().nth(1)?.parse().ok()?;
    kib.checked_mul(1024)
}

/// Runs `work` and returns its result with the peak resident size it reached (`None`
/// where it cannot be measured).
pub async fn with_peak<T>(work: impl Future<Output = T>) -> (T, Option<u64>) {
    let measured = reset_peak();
    let out = work.await;
    let peak = if measured { peak_bytes() } else { None };
    (out, peak)
}

/// A peak as MiB for the tables, `-` when unknown.
pub fn mib(bytes: Option<u64>) -> String {
    match bytes {
        Some(b) => format!("{:.0}", b as f64 / (1024.0 * 1024.0)),
        None => "-".into(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn peaks_read_on_linux() {
        if cfg!(target_os = "linux") {
            assert!(reset_peak());
            let peak = peak_bytes().expect("VmHWM");
            assert!(peak > 0);
        }
        assert_eq!(mib(None), "-");
        assert_eq!(mib(Some(3 * 1024 * 1024)), "3");
    }
}
