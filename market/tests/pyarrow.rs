//! Recordings open in the ecosystem's own tools without any PropBot code (issue 4,
//! point 7): pyarrow reads a file PropBot wrote and checks row counts, column types,
//! the metadata and a few values against what PropBot's own reader sees. pyarrow must
//! be installed (`.ci/run` installs it); without it this test fails, it never skips.

use propbot_engine::time::{NANOS_PER_SECOND, UnixNanos};
use propbot_engine::{Config, Profile};
use propbot_market::generate::{self, SynthOptions};
use propbot_recordings::progress::Progress;
use propbot_recordings::schema::Kind;
use propbot_recordings::{FileInfo, Recording, WriterOptions};
use std::path::{Path, PathBuf};
use std::process::Command;

const SCRIPT: &str = r#"
import json, sys
import pyarrow.parquet as pq
import pyarrow.compute as pc
path = sys.argv[1]
table = pq.read_table(path)
meta = {k.decode(): v.decode() for k, v in (table.schema.metadata or {}).items()}
first = table.slice(0, 1).to_pylist()[0]
kinds = pc.value_counts(table["kind"]).to_pylist()
print(json.dumps({
    "rows": table.num_rows,
    "row_groups": pq.ParquetFile(path).metadata.num_row_groups,
    "types": {f.name: str(f.type) for f in table.schema},
    "nullable": {f.name: f.nullable for f in table.schema},
    "schema_version": meta.get("propbot.schema_version"),
    "source": meta.get("propbot.source"),
    "venues": json.loads(meta.get("propbot.venues", "{}")),
    "price_scale": json.loads(meta["propbot.instruments"])[0]["price_scale"],
    "first": {
        "ts_recv_ns": first["ts_recv_ns"].isoformat(),
        "kind": first["kind"], "venue": first["venue"], "side": first["side"],
        "price": first["price"], "qty": first["qty"], "seq_last": first["seq_last"],
        "seq_first": first["seq_first"], "message": first["message"],
    },
    "kinds": {str(k["values"]): k["counts"] for k in kinds},
    "messages": int(pc.sum(pc.bit_wise_and(table["flags"], 1)).as_py()),
    "max_price": pc.max(table["price"]).as_py(),
}))
"#;

#[test]
fn pyarrow_reads_a_recording_written_by_propbot() {
    require_pyarrow();
    let dir = tempfile::tempdir().unwrap();
    let path = write_synthetic(dir.path());
    let info = FileInfo::open(&path).unwrap();
    let seen = Seen::read(&path);
    let v = read_with_pyarrow(&path);
    println!("{v:#}");
    assert_eq!(v["rows"], info.rows);
    assert!(v["row_groups"].as_u64().unwrap() > 1);
    let types = &v["types"];
    assert_eq!(types["ts_recv_ns"], "timestamp[ns, tz=UTC]");
    assert_eq!(types["ts_exchange_ns"], "timestamp[ns, tz=UTC]");
    for (col, ty) in [
        ("venue", "uint8"),
        ("instrument", "uint16"),
        ("kind", "uint8"),
        ("side", "uint8"),
        ("price", "int64"),
        ("qty", "int64"),
        ("seq_first", "uint64"),
        ("seq_last", "uint64"),
        ("seq_previous", "uint64"),
        ("message", "uint64"),
        ("flags", "uint8"),
    ] {
        assert_eq!(types[col], ty, "{col}");
    }
    assert_eq!(v["nullable"]["seq_first"], true);
    assert_eq!(v["nullable"]["price"], false);
    assert_eq!(v["schema_version"], "1");
    assert_eq!(v["source"], "synthetic:seed=5");
    assert_eq!(v["venues"]["binance-um"], "synthetic");
    assert_eq!(v["price_scale"], 1);
    assert_eq!(seen.first_kind, Kind::Snapshot);
    let f = &v["first"];
    assert_eq!(f["kind"], 0);
    assert_eq!(f["venue"], 0);
    assert_eq!(f["side"], 0);
    assert_eq!(f["price"], seen.first_price);
    assert_eq!(f["qty"], seen.first_qty);
    assert_eq!(f["seq_last"], seen.first_last.unwrap());
    assert!(f["seq_first"].is_null());
    assert_eq!(f["message"], 0);
    assert_eq!(f["ts_recv_ns"], "2026-01-01T00:00:00+00:00");
    assert_eq!(seen.first_recv, propbot_market::generate::SYNTH_START);
    for (code, count) in seen.kinds.iter().enumerate() {
        let theirs = v["kinds"][code.to_string()].as_u64().unwrap_or(0);
        assert_eq!(theirs, *count, "rows of kind {code}");
    }
    assert_eq!(v["messages"], seen.messages);
    assert!(v["max_price"].as_i64().unwrap() > 500_000);
}

fn require_pyarrow() {
    let probe = Command::new("python3")
        .args(["-c", "import pyarrow"])
        .output();
    match probe {
        Ok(o) if o.status.success() => {}
        Ok(o) => panic!(
            "pyarrow is not installed: pip install pyarrow or run .ci/run ({})",
            String::from_utf8_lossy(&o.stderr).trim()
        ),
        Err(e) => panic!("python3 is not available ({e}): pip install pyarrow or run .ci/run"),
    }
}

/// 30 s of the synthetic market (seed 5) in row groups of 2,000 rows; its first file.
fn write_synthetic(dir: &Path) -> PathBuf {
    let options = SynthOptions {
        seed: 5,
        duration_ns: 30 * NANOS_PER_SECOND,
        ..SynthOptions::default()
    };
    let mut writer = WriterOptions::default();
    writer.layout.row_group_rows = 2_000;
    let summary = generate::synthesize(
        &Config::embedded(Profile::Paper),
        &options,
        dir,
        &writer,
        &Progress::hidden(),
    )
    .unwrap();
    summary.streams[0].1.files[0].clone()
}

/// What PropBot's own reader sees in a file.
struct Seen {
    first_kind: Kind,
    first_price: i64,
    first_qty: i64,
    first_last: Option<u64>,
    first_recv: UnixNanos,
    /// Rows per kind code.
    kinds: [u64; 5],
    messages: u64,
}

impl Seen {
    fn read(path: &Path) -> Seen {
        let recording = Recording::open(&[path.to_owned()]).unwrap();
        let mut reader = recording.reader(None);
        let (_, first) = reader.next().unwrap().unwrap();
        let (bids, _) = first.levels();
        let mut seen = Seen {
            first_kind: first.kind,
            first_price: bids[0].price.raw(),
            first_qty: bids[0].qty.raw(),
            first_last: first.id,
            first_recv: first.ts_recv,
            kinds: [0; 5],
            messages: 1,
        };
        seen.kinds[0] += u64::from(first.rows);
        while let Some((_, m)) = reader.next().unwrap() {
            seen.kinds[usize::from(m.kind.code())] += u64::from(m.rows);
            seen.messages += 1;
        }
        seen
    }
}

/// What pyarrow sees in a file (the JSON that `SCRIPT` prints).
fn read_with_pyarrow(path: &Path) -> serde_json::Value {
    let out = Command::new("python3")
        .arg("-c")
        .arg(SCRIPT)
        .arg(path)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "pyarrow failed to read {}: {}",
        path.display(),
        String::from_utf8_lossy(&out.stderr)
    );
    serde_json::from_slice(&out.stdout).unwrap()
}
