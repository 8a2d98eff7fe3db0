//! Process-wide settings for the binaries that run Canon (`canon`, `canon-bench`); a
//! library embedding Canon keeps its own.

/// Turns transparent huge pages off for this process, as `MIMALLOC_ALLOW_THP=0` would.
///
/// mimalloc asks the kernel for huge pages for the memory it maps, and the kernel zeroes
/// each 2 MiB page when it is first touched. Query operators allocate and free large
/// buffers all the time, so on a 2-core machine TPC-H SF 1 ran 8 % faster without them,
/// and a 1,000-dataset start-up 15 ms faster (BENCHMARKS.md). Does nothing off Linux.
pub fn disable_transparent_huge_pages() -> std::io::Result<()> {
    #[cfg(target_os = "linux")]
    {
        let on = libc::c_ulong::from(1_u8);
        let unused = libc::c_ulong::from(0_u8);
        // SAFETY: PR_SET_THP_DISABLE takes integer arguments only and writes no memory of
        // this process; it changes how the kernel backs pages faulted in from now on.
        let rc = unsafe { libc::prctl(libc::PR_SET_THP_DISABLE, on, unused, unused, unused) };
        if rc != 0 {
            return Err(std::io::Error::last_os_error());
        }
    }
    Ok(())
}
