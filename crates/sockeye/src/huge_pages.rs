//! Transparent huge pages for the heap, for programs that hold many connections.

/// The glibc tunable that makes `malloc` ask the kernel for transparent huge pages.
#[cfg(target_os = "linux")]
const TUNABLE: &str = "glibc.malloc.hugetlb=1";

/// Runs the program again with glibc's allocator asking for transparent huge pages
/// (`GLIBC_TUNABLES=glibc.malloc.hugetlb=1`), unless `GLIBC_TUNABLES` is already set; call it
/// first thing in `main`.
///
/// Why: with thousands of connections, each broadcast touches every connection's state, spread
/// over thousands of 4 KiB pages; their address translations do not stay cached, and on a virtual
/// machine each one costs a two-level page walk. In 2 MiB pages the whole heap needs a handful of
/// them. On the benchmark's machine this took about a fifth off the server's user time per
/// broadcast delivery (docs/performance.md). Kernels whose transparent huge pages are `never`,
/// and C libraries other than glibc, ignore the setting.
///
/// The tunable is read once, when the process starts, hence the new run (`execve`: same process
/// id, open files and arguments). Setting `GLIBC_TUNABLES` (to anything, even empty) opts out.
/// Only Linux does anything; elsewhere, and when the program cannot be run again, this returns
/// and the program goes on as it is.
///
/// # Examples
///
/// ```no_run
/// // First thing in `main`, before the runtime starts:
/// sockeye::huge_pages::reexec();
/// let rt = tokio::runtime::Builder::new_current_thread().enable_all().build()?;
/// # Ok::<(), std::io::Error>(())
/// ```
pub fn reexec() {
    #[cfg(target_os = "linux")]
    {
        use std::os::unix::process::CommandExt;
        if std::env::var_os("GLIBC_TUNABLES").is_some() {
            return;
        }
        let Ok(exe) = std::env::current_exe() else {
            return;
        };
        let mut args = std::env::args_os();
        let arg0 = args.next().unwrap_or_else(|| exe.clone().into_os_string());
        // Only returns if the new run could not start.
        let err = std::process::Command::new(&exe)
            .arg0(arg0)
            .args(args)
            .env("GLIBC_TUNABLES", TUNABLE)
            .exec();
        tracing::debug!("running again with {TUNABLE} failed: {err}");
    }
}
