//! Requests to stop: from code, or from SIGINT and SIGTERM.

use tokio::sync::watch;

/// Asks an engine to stop. The first request is graceful (work gets the grace period);
/// a second one ends the remaining work at once. Cloneable.
#[derive(Debug, Clone)]
pub struct ShutdownHandle {
    tx: watch::Sender<u32>,
}

/// The engine's end of a [`ShutdownHandle`].
#[derive(Debug)]
pub struct ShutdownListener {
    rx: watch::Receiver<u32>,
    /// Keeps the sender of a [`ShutdownListener::never`] listener alive.
    _owner: Option<ShutdownHandle>,
}

/// A connected handle and listener.
pub fn shutdown_channel() -> (ShutdownHandle, ShutdownListener) {
    let (tx, rx) = watch::channel(0);
    (ShutdownHandle { tx }, ShutdownListener { rx, _owner: None })
}

impl ShutdownHandle {
    /// Makes one more request to stop.
    pub fn request(&self) {
        self.tx
            .send_modify(|requests| *requests = requests.saturating_add(1));
    }

    /// How many requests were made so far.
    pub fn requests(&self) -> u32 {
        *self.tx.borrow()
    }
}

impl ShutdownListener {
    /// A listener that never fires.
    pub fn never() -> Self {
        let (handle, mut listener) = shutdown_channel();
        // The sender must outlive the listener, or `next()` would report it gone.
        listener._owner = Some(handle);
        listener
    }

    /// Requests made so far.
    pub(crate) fn requests(&self) -> u32 {
        *self.rx.borrow()
    }

    /// Waits for the next request; returns the total, or `None` if no request can come.
    pub(crate) async fn next(&mut self) -> Option<u32> {
        self.rx.changed().await.ok()?;
        Some(*self.rx.borrow_and_update())
    }
}

/// Turns every SIGINT and SIGTERM the process receives into a request on `handle`.
/// Must be called inside a tokio runtime; the listening task lives as long as it does.
pub fn forward_signals(handle: ShutdownHandle) -> std::io::Result<()> {
    use tokio::signal::unix::{SignalKind, signal};
    let mut interrupt = signal(SignalKind::interrupt())?;
    let mut terminate = signal(SignalKind::terminate())?;
    tokio::spawn(async move {
        loop {
            let name = tokio::select! {
                received = interrupt.recv() => received.map(|()| "SIGINT"),
                received = terminate.recv() => received.map(|()| "SIGTERM"),
            };
            let Some(name) = name else { break };
            handle.request();
            tracing::info!(
                signal = name,
                requests = handle.requests(),
                "shutdown requested"
            );
        }
    });
    Ok(())
}
