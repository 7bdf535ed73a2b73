/*!
Stop signals: SIGINT (Ctrl-C), SIGTERM (`timeout`, CI runners, `docker stop`) and SIGHUP (a closed
terminal) all ask the run to stop, report what it measured and write it (`complete: false`). A second
signal of any of them exits at once, for a user who does not want to wait.

The process exits 128 + the signal's number after an interrupted run, as a shell reports a process
the signal killed: 130 for SIGINT, 143 for SIGTERM, 129 for SIGHUP.
*/

use std::sync::atomic::{AtomicBool, AtomicU8, Ordering};

use tokio::signal::unix::{signal, SignalKind};

static STOP: AtomicBool = AtomicBool::new(false);
/// The number of the first stop signal received; 0 while none has come.
static RECEIVED: AtomicU8 = AtomicU8::new(0);

const WATCHED: [(SignalKind, u8, &str); 3] = [
    (SignalKind::interrupt(), 2, "Ctrl-C"),
    (SignalKind::hangup(), 1, "SIGHUP"),
    (SignalKind::terminate(), 15, "SIGTERM"),
];

/// Starts watching the stop signals and returns the flag they set.
pub fn watch() -> &'static AtomicBool {
    if let Err(err) = start_watching() {
        eprintln!("connbench: a signal will not stop the run cleanly: {err}");
    }
    &STOP
}

/// The exit code of a run the first stop signal interrupted (130 when none came: Ctrl-C's).
pub fn exit_code() -> u8 {
    match RECEIVED.load(Ordering::Relaxed) {
        0 => 130,
        number => 128 + number,
    }
}

fn start_watching() -> std::io::Result<()> {
    let runtime = tokio::runtime::Builder::new_current_thread().enable_all().build()?;
    let (received, mut signals) = tokio::sync::mpsc::unbounded_channel();
    // Registered here, before any load, so an early signal is not lost (nor kills the process).
    for (kind, number, name) in WATCHED {
        let mut stream = {
            let _context = runtime.enter();
            signal(kind)?
        };
        let received = received.clone();
        runtime.spawn(async move { while stream.recv().await.is_some() && received.send((number, name)).is_ok() {} });
    }
    std::thread::Builder::new().name("signals".into()).spawn(move || {
        runtime.block_on(async {
            let Some((number, name)) = signals.recv().await else { return };
            RECEIVED.store(number, Ordering::Relaxed);
            STOP.store(true, Ordering::Relaxed);
            eprintln!("connbench: {name}: stopping; Ctrl-C again to quit at once");
            if let Some((number, _)) = signals.recv().await {
                std::process::exit(128 + i32::from(number))
            }
        })
    })?;
    Ok(())
}
