//! PropBot recordings: the Arrow/Parquet schema of market events, the crash-safe
//! writer, streaming readers, time-merged replay, importers of real captures and the
//! synthetic two-venue market ([`synth`]). No tokio: everything here is synchronous so
//! the simulator, the replay driver and the service reuse it.

pub mod rng;
pub mod synth;
