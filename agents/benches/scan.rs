//! Benchmark of a whole `kubeward-agent scan` process on node fixtures of three distributions (the kubeadm
//! control plane, a k3s server, an EKS AL2023 worker), each choosing its benchmark by itself.
//!
//! Run with `cargo bench -p kubeward-agent --bench scan`. It prints, per fixture, the median and spread of the
//! wall time of one scan process (and of `/bin/true` as the process-start baseline measured in the same run),
//! the peak RSS of the scan processes, the release binary's size, the file reads of one scan, and the time the
//! distribution detection itself takes in process; and checks the targets: median wall ≤ 5 ms on every
//! fixture, peak RSS ≤ 8 MiB, detection ≤ 1 ms, every file read at most once.

#[path = "../tests/fixtures/mod.rs"]
mod fixtures;

use std::process::{Command, ExitCode, Stdio};
use std::time::{Duration, Instant};

use kubeward_agent::scan::{ScanOptions, scan};

const AGENT: &str = env!("CARGO_BIN_EXE_kubeward-agent");
const WARMUP: usize = 10;
const RUNS: usize = 300;
const TARGET_MEDIAN: Duration = Duration::from_millis(5);
const TARGET_RSS_KIB: i64 = 8 * 1024;
const TARGET_DETECTION: Duration = Duration::from_millis(1);
const DETECTION_RUNS: usize = 2_000;

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

/// The in-process time of the distribution detection alone (a fresh host view each time, so nothing is
/// served from the previous run's reads), sorted.
fn detection_times(node: &fixtures::NodeTree) -> Result<Vec<Duration>, String> {
    let found =
        kubeward_agent::processes::discover(&node.proc_root()).map_err(|err| err.to_string())?;
    let mut times = Vec::with_capacity(DETECTION_RUNS);
    for _ in 0..DETECTION_RUNS {
        let host = kubeward_agent::host::HostFs::new(node.host_root());
        let started = Instant::now();
        let detection = kubeward_agent::platform::detect(&host, &found);
        times.push(started.elapsed());
        std::hint::black_box(detection);
    }
    times.sort();
    Ok(times)
}

fn main() -> ExitCode {
    // `cargo bench` passes --bench; `cargo test --benches` would pass nothing we need.
    let fixtures: [(&str, fixtures::NodeTree); 3] = [
        (
            "kubeadm control plane (cis-1.12, 97 checks)",
            fixtures::control_plane(),
        ),
        (
            "k3s server (k3s-cis-1.12, 97 checks)",
            fixtures::distros::k3s_server(),
        ),
        (
            "EKS AL2023 worker (eks-1.8.0, 26 checks)",
            fixtures::distros::eks_al2023(),
        ),
    ];
    let show = |label: &str, times: &[Duration]| {
        println!(
            "{label:<30} median {:>7.3} ms   p10 {:>7.3} ms   p90 {:>7.3} ms   min {:>7.3} ms   ({} runs)",
            percentile(times, 0.5).as_secs_f64() * 1e3,
            percentile(times, 0.1).as_secs_f64() * 1e3,
            percentile(times, 0.9).as_secs_f64() * 1e3,
            times[0].as_secs_f64() * 1e3,
            times.len()
        );
    };
    let baseline = match time_runs(|| Command::new("true")) {
        Ok(times) => times,
        Err(err) => {
            eprintln!("baseline: {err}");
            return ExitCode::FAILURE;
        }
    };
    let rss_before = children_peak_rss_kib();
    show("process start (/bin/true)", &baseline);
    let mut met = true;
    for (name, node) in &fixtures {
        let scans = match time_runs(|| {
            let mut command = Command::new(AGENT);
            command
                .args(["scan", "--format", "json", "--host-root"])
                .arg(node.host_root())
                .arg("--proc-root")
                .arg(node.proc_root());
            command
        }) {
            Ok(times) => times,
            Err(err) => {
                eprintln!("scan of {name}: {err}");
                return ExitCode::FAILURE;
            }
        };
        let detection = match detection_times(node) {
            Ok(times) => times,
            Err(err) => {
                eprintln!("detection on {name}: {err}");
                return ExitCode::FAILURE;
            }
        };
        let io = match scan(&ScanOptions {
            host_root: node.host_root(),
            proc_root: node.proc_root(),
            node_name: None,
            benchmark: "auto".to_owned(),
        }) {
            Ok(scan) => scan.io,
            Err(err) => {
                eprintln!("in-process scan of {name}: {err}");
                return ExitCode::FAILURE;
            }
        };
        println!("\n{name}");
        show("kubeward-agent scan", &scans);
        show("distribution detection", &detection);
        println!(
            "one scan: {} files read, {} paths stat'ed, {} directories listed, {} touched twice",
            io.reads.len(),
            io.lstats.len(),
            io.listings.len(),
            io.repeated().len()
        );
        for (target, ok) in [
            (
                "median wall <= 5 ms",
                percentile(&scans, 0.5) <= TARGET_MEDIAN,
            ),
            (
                "detection median <= 1 ms",
                percentile(&detection, 0.5) <= TARGET_DETECTION,
            ),
            ("each file read at most once", io.repeated().is_empty()),
        ] {
            println!("target {target}: {}", if ok { "met" } else { "MISSED" });
            met &= ok;
        }
    }
    let peak_rss = children_peak_rss_kib();
    let binary_size = std::fs::metadata(AGENT).map(|meta| meta.len()).unwrap_or(0);
    println!(
        "\npeak RSS of the scan processes: {:.1} MiB (of the /bin/true baseline: {:.1} MiB)",
        peak_rss as f64 / 1024.0,
        rss_before as f64 / 1024.0
    );
    println!(
        "release binary size: {:.2} MiB ({binary_size} bytes)",
        binary_size as f64 / 1024.0 / 1024.0
    );
    let rss_ok = peak_rss > 0 && peak_rss <= TARGET_RSS_KIB;
    println!(
        "target peak RSS <= 8 MiB: {}",
        if rss_ok { "met" } else { "MISSED" }
    );
    if met && rss_ok {
        ExitCode::SUCCESS
    } else {
        ExitCode::FAILURE
    }
}
