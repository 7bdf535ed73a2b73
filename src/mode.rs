//! The connection modes, a leaf of shared vocabulary: the plan resolves them, the result records them.

use serde::{Deserialize, Serialize};

/// The four connection strategies of HTTP: The Definitive Guide, ch. 4, in the order `--mode all` runs them.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Mode {
    Serial,
    Parallel,
    Keepalive,
    Pipeline,
}

impl Mode {
    pub const ALL: [Mode; 4] = [Mode::Serial, Mode::Parallel, Mode::Keepalive, Mode::Pipeline];

    pub fn name(self) -> &'static str {
        match self {
            Mode::Serial => "serial",
            Mode::Parallel => "parallel",
            Mode::Keepalive => "keepalive",
            Mode::Pipeline => "pipeline",
        }
    }
}
