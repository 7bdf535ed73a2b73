//! `connbench serve`: the embedded server (docs/serve.md) on its own, with its fault knobs, until a signal.

use std::net::SocketAddr;
use std::sync::atomic::AtomicBool;
use std::sync::Arc;
use std::time::Duration;

use super::Failure;
use crate::server;

/// `connbench serve`: the embedded server on its own until Ctrl-C.
pub fn serve(args: &crate::cli::ServeArgs, stop: &'static AtomicBool) -> Result<(), Failure> {
    let listen: SocketAddr =
        args.listen.parse().map_err(|_| Failure::Usage(format!("--listen '{}': expected IP:PORT", args.listen)))?;
    let mut config = crate::plan::server_config(&args.knobs, &crate::profile::Profile::default());
    // Refused before "serving" is printed, so nobody reads that it serves.
    config.validate().map_err(|e| Failure::Usage(e.to_string()))?;
    let scheme = if args.knobs.tls {
        let version = crate::plan::tls_version(args.tls_version);
        config.tls = Some(serving_identity(args)?.server_config(version).map_err(Failure::Usage)?);
        "https"
    } else {
        "http"
    };
    let runtime = tokio::runtime::Builder::new_current_thread().enable_all().build()?;
    runtime.block_on(async {
        let listener = server::listen(listen).map_err(|e| Failure::Usage(format!("--listen {listen}: {e}")))?;
        eprintln!("connbench: serving {scheme}://{}/ (Ctrl-C to stop)", listener.local_addr()?);
        let stats = Arc::new(server::ServerStats::default());
        let stopped = async {
            while !stop.load(std::sync::atomic::Ordering::Relaxed) {
                tokio::time::sleep(Duration::from_millis(100)).await;
            }
        };
        server::run(listener, config, stats, stopped).await?;
        Ok(())
    })
}

/// `serve --tls`: `--cert`/`--key`, or a self-signed certificate made now and written where a client can find it
/// for its `--cacert`.
fn serving_identity(args: &crate::cli::ServeArgs) -> Result<crate::net::tls::Identity, Failure> {
    use crate::net::tls::Identity;
    if let (Some(cert), Some(key)) = (&args.cert, &args.key) {
        return Identity::from_files(cert, key).map_err(Failure::Usage);
    }
    let identity = Identity::self_signed().map_err(Failure::Usage)?;
    let path = std::env::temp_dir().join(format!("connbench-serve-{}.pem", std::process::id()));
    std::fs::write(&path, identity.certificate_pem())
        .map_err(|e| Failure::Usage(format!("cannot write the certificate to {}: {e}", path.display())))?;
    eprintln!("connbench: self-signed certificate for localhost and 127.0.0.1 in {} (for --cacert)", path.display());
    Ok(identity)
}
