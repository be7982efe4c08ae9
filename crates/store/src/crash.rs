//! Injected crash points, for the tests that prove commits and compactions exactly-once.
//!
//! A test runs a child process with `STORE_CRASH_POINT=<name>` set (for example
//! `workspace.commit.after_transaction`). When the child reaches that point it prints
//! `STORE_CRASH_POINT reached <name>` on a line of its own and then sleeps for good, so
//! the parent can kill it with SIGKILL at exactly that moment, reopen the files and check
//! what recovery does. The variable is read once per process; with it unset (always, in
//! normal use) a crash point costs one initialised-once load and a comparison.
//!
//! The points are:
//!
//! | name | where |
//! |---|---|
//! | `workspace.commit.before_transaction` | aggregate read, nothing written to the store |
//! | `workspace.commit.after_transaction` | journal point committed, workspace files still there |
//! | `workspace.commit.after_remove` | workspace files removed, `commit` about to return |
//! | `compact.before_transaction` | temporary archive written and synced, no row marked |
//! | `compact.after_transaction` | rows marked archived, temporary file not yet renamed |
//! | `compact.after_rename` | archive renamed into place, not yet marked published |

use std::io::Write;
use std::sync::OnceLock;
use std::time::Duration;

/// The environment variable naming the point to stop at.
const VARIABLE: &str = "STORE_CRASH_POINT";

/// Stops the process at `name` if `STORE_CRASH_POINT` names it; otherwise returns at
/// once. Only the crash-recovery tests set the variable.
#[doc(hidden)]
pub(crate) fn crash_point(name: &str) {
    static SELECTED: OnceLock<Option<String>> = OnceLock::new();
    let selected = SELECTED.get_or_init(|| std::env::var(VARIABLE).ok());
    if selected.as_deref() != Some(name) {
        return;
    }
    // Written straight to the process's stdout, past the test harness's capture.
    let mut stdout = std::io::stdout().lock();
    // Nothing useful can be done if stdout is gone: the parent will time out instead.
    let _ = writeln!(stdout, "{VARIABLE} reached {name}");
    let _ = stdout.flush();
    drop(stdout);
    loop {
        std::thread::sleep(Duration::from_secs(3_600));
    }
}
