//! Benchmark of a whole `kubeward-agent scan` process on the kubeadm control-plane fixture.
//!
//! Run with `cargo bench -p kubeward-agent --bench scan`. It prints the median and spread of the wall time of
//! one scan process (and of `/bin/true` as the process-start baseline measured in the same run), the peak RSS
//! of the scan processes, the release binary's size and the file reads of one scan, and checks the targets:
//! median wall ≤ 20 ms, peak RSS ≤ 16 MiB, every file read at most once.

#[path = "../tests/fixtures/mod.rs"]
mod fixtures;

use std::process::{Command, ExitCode, Stdio};
use std::time::{Duration, Instant};

use kubeward_agent::scan::{ScanOptions, scan};

const AGENT: &str = env!("CARGO_BIN_EXE_kubeward-agent");
const WARMUP: usize = 10;
const RUNS: usize = 300;
const TARGET_MEDIAN: Duration = Duration::from_millis(20);
const TARGET_RSS_KIB: i64 = 16 * 1024;

fn percentile(sorted: &[Duration], fraction: f64) -> Duration {
    let index = ((sorted.len() - 1) as f64 * fraction).round() as usize;
    sorted[index]
}

fn time_runs(mut command: impl FnMut() -> Command) -> Result<Vec<Duration>, String> {
    let mut times = Vec::with_capacity(RUNS);
    for run in 0..WARMUP + RUNS {
        let started = Instant::now();
        let status = command()
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .status()
            .map_err(|err| format!("cannot start the command: {err}"))?;
        let elapsed = started.elapsed();
        if !status.success() {
            return Err(format!("the command exited with {status}"));
        }
        if run >= WARMUP {
            times.push(elapsed);
        }
    }
    times.sort();
    Ok(times)
}

/// The largest resident set of any child process waited for so far, in KiB.
#[expect(unsafe_code, reason = "getrusage has no safe wrapper in std")]
fn children_peak_rss_kib() -> i64 {
    let mut usage: libc::rusage = unsafe { std::mem::zeroed() };
    // SAFETY: `usage` is a valid, writable rusage for the duration of the call.
    let result = unsafe { libc::getrusage(libc::RUSAGE_CHILDREN, &mut usage) };
    if result == 0 { usage.ru_maxrss } else { -1 }
}

fn main() -> ExitCode {
    // `cargo bench` passes --bench; `cargo test --benches` would pass nothing we need.
    let node = fixtures::control_plane();
    let scan_command = || {
        let mut command = Command::new(AGENT);
        command
            .args(["scan", "--format", "json", "--host-root"])
            .arg(node.host_root())
            .arg("--proc-root")
            .arg(node.proc_root());
        command
    };

    let baseline = match time_runs(|| Command::new("true")) {
        Ok(times) => times,
        Err(err) => {
            eprintln!("baseline: {err}");
            return ExitCode::FAILURE;
        }
    };
    let rss_before = children_peak_rss_kib();
    let scans = match time_runs(scan_command) {
        Ok(times) => times,
        Err(err) => {
            eprintln!("scan: {err}");
            return ExitCode::FAILURE;
        }
    };
    let peak_rss = children_peak_rss_kib();

    let io = match scan(&ScanOptions {
        host_root: node.host_root(),
        proc_root: node.proc_root(),
        node_name: None,
        benchmark: "cis-1.12".to_owned(),
    }) {
        Ok(scan) => scan.io,
        Err(err) => {
            eprintln!("in-process scan: {err}");
            return ExitCode::FAILURE;
        }
    };
    let binary_size = std::fs::metadata(AGENT).map(|meta| meta.len()).unwrap_or(0);

    let show = |label: &str, times: &[Duration]| {
        println!(
            "{label:<28} median {:>7.2} ms   p10 {:>7.2} ms   p90 {:>7.2} ms   min {:>7.2} ms   ({} runs)",
            percentile(times, 0.5).as_secs_f64() * 1e3,
            percentile(times, 0.1).as_secs_f64() * 1e3,
            percentile(times, 0.9).as_secs_f64() * 1e3,
            times[0].as_secs_f64() * 1e3,
            times.len()
        );
    };
    println!("kubeward-agent scan on the kubeadm control-plane fixture (97 checks)");
    show("process start (/bin/true)", &baseline);
    show("kubeward-agent scan", &scans);
    println!(
        "peak RSS of the scan processes: {:.1} MiB (of the /bin/true baseline: {:.1} MiB)",
        peak_rss as f64 / 1024.0,
        rss_before as f64 / 1024.0
    );
    println!(
        "release binary size: {:.2} MiB ({binary_size} bytes)",
        binary_size as f64 / 1024.0 / 1024.0
    );
    println!(
        "one scan: {} files read, {} paths stat'ed, {} directories listed, {} touched twice",
        io.reads.len(),
        io.lstats.len(),
        io.listings.len(),
        io.repeated().len()
    );

    let median = percentile(&scans, 0.5);
    let mut met = true;
    for (name, ok) in [
        ("median wall <= 20 ms", median <= TARGET_MEDIAN),
        (
            "peak RSS <= 16 MiB",
            peak_rss > 0 && peak_rss <= TARGET_RSS_KIB,
        ),
        ("each file read at most once", io.repeated().is_empty()),
    ] {
        println!("target {name}: {}", if ok { "met" } else { "MISSED" });
        met &= ok;
    }
    if met {
        ExitCode::SUCCESS
    } else {
        ExitCode::FAILURE
    }
}
