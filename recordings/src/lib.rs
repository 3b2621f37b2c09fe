//! PropBot recordings: the Arrow/Parquet schema of market events, the crash-safe
//! writer, streaming readers, time-merged replay, importers of real captures and the
//! synthetic two-venue market. Built by the recordings issue; no tokio.
