/*!
`connbench probe URL`: a report card of a server's connection management (docs/design.md §9). Every rule of
HTTP: The Definitive Guide, ch. 4 is something a server does or does not do; the probe finds out from a few
connections and no load, within `--max-time`.

- `observe`: the one driver, blocking sockets, every experiment timed and written down as it happened;
- `findings`: each finding a pure function of those observations, and the JSON type;
- `text`: the checklist for people, each finding with the rule it tests.

Exit 0 when the probe ran, whatever the server does; 2 when it could not (refused, not HTTP).
*/

mod findings;
mod observe;
mod quic;
mod text;

use std::io::Write;
use std::sync::Arc;
use std::time::Instant;

pub use findings::Findings;

use crate::cli::{ProbeArgs, ProbeFormatArg};
use crate::commands::Failure;
use crate::plan::{parse_url, Target};
use crate::preflight::{resolve, secure};

pub fn run(args: &ProbeArgs) -> Result<(), Failure> {
    let url = parse_url(&args.url).map_err(Failure::Usage)?;
    let options = crate::net::tls::Options {
        insecure: args.insecure,
        // Every connection of the probe starts afresh, so the handshake share is a full handshake's.
        resume: false,
        extra_roots: match &args.cacert {
            Some(path) => crate::net::tls::read_certificates(path, "--cacert").map_err(Failure::Usage)?,
            None => Vec::new(),
        },
        version: crate::plan::tls_version(args.tls_version),
    };
    let tls = secure(url.scheme() == "https", url.host_str().unwrap_or_default(), &options)?;
    // HTTP/3 over https, whose second connection resumes the first's session to try 0-RTT.
    let resuming = crate::net::tls::Options { resume: true, ..options };
    let quic = match secure(tls.is_some(), url.host_str().unwrap_or_default(), &resuming)? {
        Some(client) => Some(Arc::new(crate::net::quic::Client::new(&client, true).map_err(Failure::Usage)?)),
        None => None,
    };
    let target = Target { tls, quic, ..resolve(&url)? };
    let began = Instant::now();
    let seen = observe::observe(&target, began + args.max_time, args.max_requests)
        .map_err(|why| Failure::Usage(format!("cannot probe {}: {why}", target.display)))?;
    let found = findings::findings(&target.display, &seen);
    let mut stdout = std::io::stdout().lock();
    match args.format {
        ProbeFormatArg::Text => text::write(&found, began.elapsed(), &mut stdout)?,
        ProbeFormatArg::Json => {
            serde_json::to_writer_pretty(&mut stdout, &found).map_err(std::io::Error::from)?;
            writeln!(stdout)?;
        }
    }
    stdout.flush()?;
    Ok(())
}
