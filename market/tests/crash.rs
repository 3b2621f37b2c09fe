//! Crash safety with a real `kill -9` (issue 4, point 2): a child process
//! (`propbot recordings synth`, the `synth` example) writes a long synthetic recording
//! with small row groups and files through the recordings writer; it is killed
//! mid-write.
//! Every completed file must open and read in full, and each stream's `.partial`
//! file must be reported and recovered up to its last complete row group.

use propbot_recordings::writer::{self, Leftover};
use propbot_recordings::{FileInfo, Recording};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

fn files_with(dir: &Path, suffix: &str) -> Vec<PathBuf> {
    let mut out: Vec<PathBuf> = std::fs::read_dir(dir)
        .map(|d| {
            d.filter_map(|e| e.ok().map(|e| e.path()))
                .filter(|p| p.to_string_lossy().ends_with(suffix))
                .collect()
        })
        .unwrap_or_default();
    out.sort();
    out
}

fn read_rows(paths: &[PathBuf]) -> u64 {
    let recording = Recording::open(paths).unwrap();
    let mut reader = recording.reader(None);
    let mut last = 0;
    while let Some((_, m)) = reader.next().unwrap() {
        assert!(m.ts_recv.0 >= last, "merged in receive-time order");
        last = m.ts_recv.0;
    }
    reader.rows_read()
}

#[test]
fn after_kill_9_mid_write_completed_files_read_and_the_partial_ones_are_recovered() {
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("rec");
    kill_mid_write(&out);

    // Every file that became `*.parquet` is complete.
    let complete = files_with(&out, ".parquet");
    let mut rows = 0;
    for f in &complete {
        let info = FileInfo::open(f).unwrap_or_else(|e| panic!("{e}"));
        assert!(!info.meta.recovered);
        rows += info.rows;
    }
    assert_eq!(read_rows(&complete), rows);

    // The files being written are reported, not mistaken for recordings.
    let leftovers = writer::scan(&out).unwrap();
    assert_eq!(leftovers.len(), 2, "one per venue stream: {leftovers:?}");
    let recording = Recording::open(std::slice::from_ref(&out)).unwrap();
    assert_eq!(recording.leftovers, leftovers);
    assert_eq!(recording.rows(), rows);

    // Recovery keeps every complete row group of each.
    let recovered = writer::recover_dir(&out).unwrap();
    let mut recovered_rows = 0;
    for l in &recovered {
        let Leftover::Recovered {
            recovered, rows, ..
        } = l
        else {
            panic!("not recovered: {l}");
        };
        assert!(*rows >= 20_000, "{l}");
        let info = FileInfo::open(recovered).unwrap();
        assert!(info.meta.recovered);
        assert_eq!(info.rows, *rows);
        recovered_rows += rows;
        println!("{l}");
    }
    assert!(writer::scan(&out).unwrap().is_empty());
    assert_eq!(read_rows(std::slice::from_ref(&out)), rows + recovered_rows);
}

/// Starts the synth example writing a long recording into `out` and kills it with
/// `kill -9` once each stream has complete files and a file in progress with at least
/// one complete row group (frozen with SIGSTOP to look, let run on otherwise).
fn kill_mid_write(out: &Path) {
    let mut child = Command::new(example_binary())
        .args(["--seed", "3", "--duration", "30d", "--quiet"])
        .args([
            "--row-group-rows",
            "20000",
            "--roll-rows",
            "100000",
            "--out",
        ])
        .arg(out)
        .stdout(Stdio::null())
        .spawn()
        .expect("spawn the synth example");
    // Freeze the writer, look, and kill it only where each stream has a file in
    // progress with at least one complete row group (otherwise let it run on).
    let pid = child.id().to_string();
    let signal = |name: &str| {
        let status = Command::new("kill")
            .args([name, &pid])
            .status()
            .expect("run kill");
        assert!(status.success(), "kill {name} failed");
    };
    let deadline = Instant::now() + Duration::from_secs(120);
    loop {
        std::thread::sleep(Duration::from_millis(20));
        assert!(
            child.try_wait().unwrap().is_none(),
            "the writer exited before it could be killed"
        );
        assert!(Instant::now() < deadline, "the writer made no progress");
        signal("-STOP");
        let partials = files_with(out, ".parquet.partial");
        let ready = files_with(out, ".parquet").len() >= 4
            && partials.len() == 2
            && partials
                .iter()
                .all(|p| PathBuf::from(format!("{}.checkpoint", p.display())).is_file());
        if ready {
            break;
        }
        signal("-CONT");
    }
    child.kill().unwrap(); // SIGKILL: no destructor, no footer, no rename.
    child.wait().unwrap();
}

/// The example binary `synth` (`propbot recordings synth` on its own; built by
/// `cargo test` with the other targets, built here when a filtered run skipped it).
fn example_binary() -> PathBuf {
    let exe = std::env::current_exe().expect("test binary path");
    let dir = exe
        .parent()
        .and_then(|d| d.parent())
        .expect("target/<profile>/deps");
    let bin = dir.join("examples").join("synth");
    if !bin.is_file() {
        let cargo = std::env::var("CARGO").unwrap_or_else(|_| "cargo".into());
        let status = Command::new(cargo)
            .args(["build", "-p", "propbot-market", "--example", "synth"])
            .status()
            .expect("run cargo build --example synth");
        assert!(status.success(), "building the synth example failed");
    }
    assert!(bin.is_file(), "example binary {} not found", bin.display());
    bin
}
