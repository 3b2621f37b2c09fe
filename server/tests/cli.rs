//! The `propbot` command line as a user meets it (issue 10, point 7): every subcommand,
//! found by walking the binary's own help, answers `--help` with exit code 0 and a
//! usage that names its options; a bad option or value is refused with exit code 2 and
//! an error that says what was wrong.

use std::collections::BTreeSet;
use std::process::{Command, Output};

const BIN: &str = env!("CARGO_BIN_EXE_propbot");

/// Every subcommand (as the words that reach it) and what its help must name.
const HELP: &[(&str, &[&str])] = &[
    (
        "",
        &[
            "serve",
            "ctl",
            "scenario",
            "recordings",
            "replay",
            "emulate",
            "record",
            "bench-api",
            "verify-journal",
        ],
    ),
    (
        "record",
        &[
            "--venue",
            "--instruments",
            "--out",
            "--endpoint",
            "--config",
            "--profile",
            "--duration",
            "--roll-minutes",
            "--roll-rows",
        ],
    ),
    (
        "serve",
        &[
            "--profile",
            "--source",
            "--config",
            "--listen",
            "--data-dir",
            "--secrets",
            "--seed",
            "--market-speed",
            "sim|live|recording",
        ],
    ),
    (
        "ctl",
        &[
            "--base-url",
            "--token",
            "status",
            "components",
            "pause",
            "resume",
            "export-log",
        ],
    ),
    ("ctl status", &["Usage: propbot ctl status"]),
    ("ctl components", &["Usage: propbot ctl components"]),
    ("ctl pause", &["Usage: propbot ctl pause"]),
    ("ctl resume", &["Usage: propbot ctl resume"]),
    ("ctl export-log", &["--out", "--format", "--limit"]),
    ("scenario", &["run"]),
    (
        "scenario run",
        &[
            "[PATH]...",
            "--seeds <N>",
            "--seed-start <S>",
            "--seed <S>",
            "--json <FILE>",
            "--threads <T>",
            "--full-trace",
            "--recording <DIR>",
        ],
    ),
    ("recordings", &["import", "synth", "inspect", "recover"]),
    (
        "recordings import",
        &[
            "<CAPTURE>",
            "--out <DIR>",
            "--format <F>",
            "--instruments <FILE>",
            "--snapshots <FILE>",
            "--name <NAME>",
            "--quiet",
            "--row-group-rows <N>",
            "--roll-rows <N>",
            "--roll-minutes <M>",
            "--zstd-level <L>",
        ],
    ),
    (
        "recordings synth",
        &[
            "--seed <N>",
            "--duration <D>",
            "--out <DIR>",
            "--from <PATH>...",
            "--venue <VENUE>",
            "--update-ms <LO-HI>",
            "--windows-every-ms <M>",
            "--quiet",
            "--row-group-rows <N>",
            "--zstd-level <L>",
        ],
    ),
    ("recordings inspect", &["<PATH>..."]),
    ("recordings recover", &["<DIR>"]),
    (
        "replay",
        &[
            "--recording <PATH>...",
            "--speed <S>",
            "--seed <N>",
            "--latency-ms <N>",
            "--config <FILE>",
            "--no-resume",
            "--quiet",
        ],
    ),
    (
        "emulate",
        &[
            "<VENUE>",
            "binance",
            "okx",
            "--listen <ADDR>",
            "--source <SOURCE>",
            "--recording <PATH>...",
            "--seed <N>",
            "--speed <X>",
            "--config <FILE>",
            "--fault <SPEC>",
        ],
    ),
    (
        "bench-api",
        &[
            "--seconds",
            "--baseline-seconds",
            "--connections",
            "--path",
            "--market-speed",
            "--unthrottled",
        ],
    ),
    ("verify-journal", &["--data-dir"]),
];

/// Bad command lines and what their error must say.
const BAD: &[(&[&str], &str)] = &[
    (&["frobnicate"], "unrecognized subcommand 'frobnicate'"),
    (
        &["scenario", "run", "--frobnicate"],
        "unexpected argument '--frobnicate'",
    ),
    (
        &["scenario", "run", "--seeds", "many"],
        "invalid value 'many' for '--seeds <N>'",
    ),
    (&["scenario", "walk"], "unrecognized subcommand 'walk'"),
    (
        &["record", "--venue", "kraken", "--out", "d"],
        "\"kraken\" is not binance-um or okx-swap",
    ),
    (
        &[
            "record",
            "--venue",
            "okx-swap",
            "--out",
            "d",
            "--duration",
            "soon",
        ],
        "\"soon\" is not a duration like 90s, 10m or 2h",
    ),
    (&["record", "--venue", "okx-swap"], "--out <DIR>"),
    (&["recordings", "import", "capture.gz"], "--out <DIR>"),
    (
        &[
            "recordings",
            "import",
            "c.gz",
            "--out",
            "d",
            "--format",
            "csv",
        ],
        "unknown format \"csv\"",
    ),
    (
        &[
            "recordings",
            "synth",
            "--seed",
            "1",
            "--out",
            "d",
            "--duration",
            "1x",
        ],
        "use e.g. 90s, 10m, 2h, 1d",
    ),
    (
        &["recordings", "synth", "--seed", "1", "--out", "d"],
        "--duration <D>",
    ),
    (
        &[
            "recordings",
            "import",
            "c.gz",
            "--out",
            "d",
            "--zstd-level",
            "30",
        ],
        "30 is not in 1..=22",
    ),
    (&["recordings", "inspect"], "<PATH>..."),
    (&["replay"], "--recording <PATH>..."),
    (
        &["replay", "--recording", "r", "--speed", "fast"],
        "use max, 1x, 10x",
    ),
    (
        &["replay", "--recording", "r", "--latency-ms", "-1"],
        "unexpected argument '-1'",
    ),
    (&["serve", "--market-speed", "fast"], "invalid value 'fast'"),
    (
        &["emulate", "kraken"],
        "invalid value 'kraken' for '<VENUE>'",
    ),
    (
        &["emulate", "okx", "--source", "recording"],
        "--recording <PATH>...",
    ),
    (
        &["emulate", "binance", "--speed", "0"],
        "a speed from 0.01 to 1000",
    ),
    (
        &["emulate", "binance", "--fault", "drop"],
        "say when, e.g. drop@30s",
    ),
    (
        &["emulate", "binance", "--fault", "stall@10s"],
        "give its :DURATION, e.g. stall@10s:5s",
    ),
    (
        &["emulate", "binance", "--fault", "explode@1s"],
        "unknown fault \"explode\"",
    ),
];

fn propbot(args: &[&str]) -> Output {
    Command::new(BIN)
        .args(args)
        .output()
        .unwrap_or_else(|e| panic!("run {BIN}: {e}"))
}

fn words(command: &str) -> Vec<&str> {
    command.split_whitespace().collect()
}

/// The subcommands a help text lists under `Commands:` (clap's own `help` left out).
fn listed_subcommands(help: &str) -> Vec<String> {
    help.lines()
        .skip_while(|l| l.trim() != "Commands:")
        .skip(1)
        .take_while(|l| !l.trim().is_empty())
        .filter_map(|l| l.split_whitespace().next())
        .filter(|name| *name != "help")
        .map(str::to_owned)
        .collect()
}

/// `--help` of `command`: exit code 0, the usage line of that very command, and every
/// option the table expects.
fn check_help(command: &str, expect: &[&str]) -> String {
    let mut args = words(command);
    args.push("--help");
    let out = propbot(&args);
    let help = String::from_utf8_lossy(&out.stdout).into_owned();
    assert!(
        out.status.success(),
        "propbot {command} --help exited {:?}: {}",
        out.status.code(),
        String::from_utf8_lossy(&out.stderr)
    );
    let usage = format!("Usage: propbot {command}").trim_end().to_owned();
    assert!(help.contains(&usage), "propbot {command} --help:\n{help}");
    for needle in expect {
        assert!(
            help.contains(needle),
            "propbot {command} --help does not name {needle}:\n{help}"
        );
    }
    help
}

#[test]
fn every_subcommand_answers_help_with_its_options() {
    let mut seen = BTreeSet::new();
    let mut queue = vec![String::new()];
    while let Some(command) = queue.pop() {
        let Some((_, expect)) = HELP.iter().find(|(c, _)| *c == command) else {
            panic!("propbot {command}: a subcommand with no entry in HELP; add its options");
        };
        let help = check_help(&command, expect);
        for sub in listed_subcommands(&help) {
            queue.push(format!("{command} {sub}").trim().to_owned());
        }
        seen.insert(command);
    }
    let stale: Vec<&str> = HELP
        .iter()
        .map(|(c, _)| *c)
        .filter(|c| !seen.contains(*c))
        .collect();
    assert!(
        stale.is_empty(),
        "HELP names commands propbot lacks: {stale:?}"
    );
}

/// Bad input on every forwarded command line: clap's exit code 2, an error naming what
/// was wrong, and the usage (or the pointer to `--help`) to put it right.
#[test]
fn bad_options_and_values_are_refused_with_exit_code_2_and_a_clear_error() {
    for (args, says) in BAD {
        let out = propbot(args);
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert_eq!(
            out.status.code(),
            Some(2),
            "propbot {}: {stderr}",
            args.join(" ")
        );
        let points_to_usage = stderr.contains("Usage: propbot") || stderr.contains("try '--help'");
        assert!(
            stderr.contains("error:") && stderr.contains(says) && points_to_usage,
            "propbot {}: expected {says:?} in:\n{stderr}",
            args.join(" ")
        );
        assert!(
            out.stdout.is_empty(),
            "propbot {}: nothing on stdout",
            args.join(" ")
        );
    }
}

/// `propbot emulate` serves until SIGTERM: the banner names the bound address, REST
/// answers there, a scheduled fault prints its line, SIGTERM stops it with exit code 0.
/// A fault the venue lacks is refused before anything is served.
#[test]
fn emulate_serves_until_sigterm_and_refuses_a_fault_the_venue_lacks() {
    use std::io::{BufRead, BufReader};
    let mut child = Command::new(BIN)
        .args(["emulate", "binance", "--speed", "10"])
        .args(["--fault", "time-offset:-2s", "--fault", "drop@1s"])
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    let mut lines = BufReader::new(child.stdout.take().unwrap()).lines();
    let mut next_line = || {
        lines
            .next()
            .expect("propbot emulate prints")
            .expect("stdout is text")
    };
    let first = next_line();
    let address = first
        .split("listening on ")
        .nth(1)
        .and_then(|rest| rest.split_whitespace().next())
        .unwrap_or_else(|| panic!("no address in {first:?}"))
        .to_owned();
    let banner: Vec<String> = (0..7).map(|_| next_line()).collect();
    assert!(
        banner
            .iter()
            .any(|l| l.contains(&format!("rest: \"http://{address}\""))),
        "{banner:?}"
    );
    let fired = (0..10)
        .map(|_| next_line())
        .find(|l| l.starts_with("fault drop@1s"));
    assert!(fired.is_some(), "the drop fault is reported as it fires");
    let answer = {
        use std::io::{Read, Write};
        let mut socket = std::net::TcpStream::connect(&address).unwrap();
        socket
            .set_read_timeout(Some(std::time::Duration::from_secs(10)))
            .unwrap();
        socket
            .write_all(b"GET /fapi/v1/time HTTP/1.0\r\nHost: emulator\r\n\r\n")
            .unwrap();
        let mut answer = String::new();
        socket.read_to_string(&mut answer).unwrap();
        answer
    };
    assert!(
        answer.starts_with("HTTP/1.")
            && answer.contains(" 200 OK")
            && answer.contains("{\"serverTime\":"),
        "{answer}"
    );
    let pid = child.id().to_string();
    let killed = Command::new("kill").args(["-TERM", &pid]).status().unwrap();
    assert!(killed.success());
    let status = child.wait().unwrap();
    assert_eq!(status.code(), Some(0), "SIGTERM ends it cleanly");
    assert!(next_line().contains("SIGTERM: stopping"));

    let out = propbot(&["emulate", "binance", "--fault", "seq-reset@1s"]);
    assert_eq!(out.status.code(), Some(1));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        stderr.contains("--fault seq-reset@1s: Binance has no sequence reset"),
        "{stderr}"
    );
}

/// A good command line past clap that names a missing file: the command's own error
/// (exit code 1 or 2 as the command documents), never a panic.
#[test]
fn a_missing_file_is_the_commands_own_error() {
    let out = propbot(&["recordings", "inspect", "/nonexistent/rec"]);
    assert_eq!(out.status.code(), Some(1));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        stderr.contains("propbot recordings: error: /nonexistent/rec"),
        "{stderr}"
    );
    let out = propbot(&["scenario", "run", "no/such/scenario.yaml"]);
    assert_eq!(out.status.code(), Some(2));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        stderr.contains("no/such/scenario.yaml: no such scenario file"),
        "{stderr}"
    );
}
