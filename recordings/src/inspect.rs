//! `propbot recordings inspect`: what a recording file holds, for a human: schema,
//! metadata (source, generator, which venues are real and which derived or
//! synthetic), time span and counts by kind and venue.

use crate::error::{Error, Result, io};
use crate::meta::Origin;
use crate::reader::{BATCH_ROWS, FileInfo};
use crate::schema::{self, Kind};
use arrow_array::{Array, TimestampNanosecondArray, UInt8Array};
use parquet::arrow::ProjectionMask;
use parquet::arrow::arrow_reader::ParquetRecordBatchReaderBuilder;
use propbot_engine::model::Venue;
use propbot_engine::time::UnixNanos;
use std::fmt::Write as _;
use std::fs::File;
use std::path::{Path, PathBuf};

/// Counts from one pass over a file's kind, venue, flags and receive-time columns.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Counts {
    /// Rows.
    pub rows: u64,
    /// Messages (rows with the end flag).
    pub messages: u64,
    /// Rows by kind code.
    pub by_kind: [u64; 5],
    /// Rows by venue code.
    pub by_venue: [u64; 2],
    /// First and last receive time, ns.
    pub span: (u64, u64),
}

/// Scans `info`'s file for [`Counts`] (reads four columns only).
pub fn count(info: &FileInfo) -> Result<Counts> {
    crate::reader::verify_checksums(info)?;
    let path = &info.path;
    let file = File::open(path).map_err(io(path))?;
    let builder =
        ParquetRecordBatchReaderBuilder::try_new(file).map_err(|source| Error::NotParquet {
            path: path.clone(),
            size: info.bytes,
            source,
        })?;
    let mask = ProjectionMask::roots(builder.parquet_schema(), [0, 2, 4, 12]);
    let reader = builder
        .with_projection(mask)
        .with_batch_size(BATCH_ROWS)
        .build()
        .map_err(|source| Error::Decode {
            path: path.clone(),
            row: 0,
            source: Box::new(source),
        })?;
    let mut c = Counts::default();
    for batch in reader {
        let batch = batch.map_err(|source| Error::Decode {
            path: path.clone(),
            row: c.rows,
            source: Box::new(source),
        })?;
        let batch_row = c.rows;
        let bad = || Error::BadRow {
            path: path.clone(),
            row: batch_row,
            what: "unexpected column types or nulls".into(),
        };
        let ts = batch
            .column(0)
            .as_any()
            .downcast_ref::<TimestampNanosecondArray>()
            .ok_or_else(bad)?;
        let venue = batch
            .column(1)
            .as_any()
            .downcast_ref::<UInt8Array>()
            .ok_or_else(bad)?;
        let kind = batch
            .column(2)
            .as_any()
            .downcast_ref::<UInt8Array>()
            .ok_or_else(bad)?;
        let flags = batch
            .column(3)
            .as_any()
            .downcast_ref::<UInt8Array>()
            .ok_or_else(bad)?;
        if ts.null_count() + venue.null_count() + kind.null_count() + flags.null_count() > 0 {
            return Err(bad());
        }
        for i in 0..batch.num_rows() {
            let t = ts.value(i) as u64;
            if c.rows == 0 {
                c.span.0 = t;
            }
            c.span.1 = t;
            c.rows += 1;
            if let Some(k) = c.by_kind.get_mut(usize::from(kind.value(i))) {
                *k += 1;
            }
            if let Some(v) = c.by_venue.get_mut(usize::from(venue.value(i))) {
                *v += 1;
            }
            c.messages += u64::from(flags.value(i) & schema::flags::END_OF_MESSAGE);
        }
    }
    Ok(c)
}

/// The `inspect` report for files and directories.
pub fn report(paths: &[PathBuf]) -> Result<String> {
    let mut out = String::new();
    for p in paths {
        if p.is_dir() {
            let mut files: Vec<PathBuf> = std::fs::read_dir(p)
                .map_err(io(p))?
                .filter_map(|e| e.ok().map(|e| e.path()))
                .filter(|f| f.extension().is_some_and(|x| x == "parquet"))
                .collect();
            files.sort();
            for f in &files {
                file_report(f, &mut out)?;
            }
            for leftover in crate::writer::scan(p)? {
                let _ = writeln!(
                    out,
                    "LEFTOVER {}: an unfinished file (crash or interrupted import), not part \
                     of the recording; `propbot recordings recover {}` rebuilds what it can\n",
                    leftover.display(),
                    p.display()
                );
            }
            if files.is_empty() {
                return Err(Error::Empty { path: p.clone() });
            }
        } else {
            file_report(p, &mut out)?;
        }
    }
    Ok(out)
}

fn time(ns: u64) -> String {
    UnixNanos(ns).to_rfc3339()
}

fn file_report(path: &Path, out: &mut String) -> Result<()> {
    let info = FileInfo::open(path)?;
    let c = count(&info)?;
    let m = &info.meta;
    let _ = writeln!(
        out,
        "FILE {}\n  {} bytes, {} row groups, {} rows in {} messages ({:.1} bytes/row)",
        path.display(),
        info.bytes,
        info.row_groups,
        c.rows,
        c.messages,
        info.bytes as f64 / c.rows.max(1) as f64
    );
    let _ = writeln!(
        out,
        "  schema version {}, written by {}{}",
        m.schema_version,
        m.generator,
        if m.recovered {
            " — RECOVERED from a crashed file up to its last complete row group"
        } else {
            ""
        }
    );
    let _ = writeln!(out, "  source   {}", m.source);
    let _ = writeln!(out, "  stream   {} (file {})", m.stream, m.file_index);
    for (venue, origin) in m.venues() {
        let _ = writeln!(out, "  venue    {venue}: {}", origin_label(origin));
    }
    for (i, inst) in m.instruments.iter().enumerate() {
        let _ = writeln!(
            out,
            "  instrument #{i} {} (price = price/10^{}, qty = qty/10^{})",
            inst.name, inst.price_scale, inst.qty_scale
        );
        for l in &inst.listings {
            let cv = l
                .contract_value
                .as_ref()
                .map(|v| format!(", contract value {v}"))
                .unwrap_or_default();
            let _ = writeln!(
                out,
                "      {} {} tick {}{cv} [{}]",
                l.venue,
                l.symbol,
                l.tick,
                l.origin.name()
            );
        }
    }
    if let Some(d) = &m.derivation {
        let _ = writeln!(out, "  model    {d}");
    }
    let span_s = c.span.1.saturating_sub(c.span.0) as f64 / 1e9;
    let _ = writeln!(
        out,
        "  span     {} → {} ({span_s:.3} s of receive time)",
        time(c.span.0),
        time(c.span.1)
    );
    let kinds: Vec<String> = Kind::ALL
        .iter()
        .map(|k| format!("{} {}", k.name(), c.by_kind[usize::from(k.code())]))
        .collect();
    let _ = writeln!(out, "  by kind  {}", kinds.join(", "));
    let venues: Vec<String> = Venue::ALL
        .iter()
        .filter(|v| c.by_venue[v.index()] > 0)
        .map(|v| format!("{} {}", v.name(), c.by_venue[v.index()]))
        .collect();
    let _ = writeln!(out, "  by venue {}", venues.join(", "));
    let columns: Vec<String> = schema::arrow_schema()
        .fields()
        .iter()
        .map(|f| {
            format!(
                "{} {}{}",
                f.name(),
                f.data_type(),
                if f.is_nullable() { " (nullable)" } else { "" }
            )
        })
        .collect();
    let _ = writeln!(out, "  columns  {}\n", columns.join(", "));
    Ok(())
}

/// How an origin is shown: derived and synthetic data are never shown as real.
pub fn origin_label(origin: Origin) -> &'static str {
    match origin {
        Origin::Real => "real (recorded from the venue)",
        Origin::Derived => {
            "DERIVED (generated from another venue's real data by a seeded basis model; not real)"
        }
        Origin::Synthetic => "SYNTHETIC (generated by the seeded market model; not real)",
    }
}
