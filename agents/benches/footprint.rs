//! Footprint of `kubeward-agent run` between scans: resident memory and CPU while it waits for the next scan.
//!
//! Run with `cargo bench -p kubeward-agent --bench footprint`. It starts the release agent on the kubeadm
//! control-plane fixture with a one-hour interval against a local server that accepts every report, waits for
//! the first delivery, then samples the process's RSS every 100 ms and its CPU time over 20 s. Target: at most
//! 10 MiB RSS and near zero CPU between scans.

#[path = "../tests/fixtures/mod.rs"]
mod fixtures;
#[path = "../tests/support/mod.rs"]
mod support;

use std::process::{Command, ExitCode, Stdio};
use std::time::{Duration, Instant};

const IDLE_FOR: Duration = Duration::from_secs(20);
const TARGET_RSS_KIB: u64 = 10 * 1024;

fn status_kib(pid: u32, field: &str) -> Option<u64> {
    std::fs::read_to_string(format!("/proc/{pid}/status"))
        .ok()?
        .lines()
        .find(|line| line.starts_with(field))?
        .split_whitespace()
        .nth(1)?
        .parse()
        .ok()
}

/// User plus system CPU time of a process, in clock ticks.
fn cpu_ticks(pid: u32) -> Option<u64> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    let fields: Vec<&str> = stat.rsplit_once(')')?.1.split_whitespace().collect();
    Some(fields.get(11)?.parse::<u64>().ok()? + fields.get(12)?.parse::<u64>().ok()?)
}

fn main() -> ExitCode {
    let node = fixtures::control_plane();
    let work = match tempfile::tempdir() {
        Ok(dir) => dir,
        Err(err) => {
            eprintln!("{err}");
            return ExitCode::FAILURE;
        }
    };
    let token_file = work.path().join("token");
    if let Err(err) = std::fs::write(&token_file, "kwa_footprint\n") {
        eprintln!("{err}");
        return ExitCode::FAILURE;
    }
    let server = support::ScriptedServer::start(vec![support::answer("201 Created", &[], "{}")]);
    let mut agent = match Command::new(support::AGENT)
        .args(["run", "--interval", "1h", "--jitter", "0s", "--server"])
        .arg(format!("http://127.0.0.1:{}", server.port))
        .arg("--token-file")
        .arg(&token_file)
        .arg("--spool-dir")
        .arg(work.path().join("spool"))
        .arg("--host-root")
        .arg(node.host_root())
        .arg("--proc-root")
        .arg(node.proc_root())
        .stderr(Stdio::null())
        .spawn()
    {
        Ok(child) => child,
        Err(err) => {
            eprintln!("cannot start the agent: {err}");
            return ExitCode::FAILURE;
        }
    };
    let pid = agent.id();
    let deadline = Instant::now() + Duration::from_secs(30);
    while server.count() == 0 && Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(10));
    }
    if server.count() == 0 {
        eprintln!("the agent delivered nothing");
        let _ = agent.kill();
        return ExitCode::FAILURE;
    }
    std::thread::sleep(Duration::from_millis(500));
    let ticks_before = cpu_ticks(pid).unwrap_or(0);
    let started = Instant::now();
    let mut samples = Vec::new();
    while started.elapsed() < IDLE_FOR {
        if let Some(rss) = status_kib(pid, "VmRSS:") {
            samples.push(rss);
        }
        std::thread::sleep(Duration::from_millis(100));
    }
    let ticks = cpu_ticks(pid).unwrap_or(0).saturating_sub(ticks_before);
    let peak = status_kib(pid, "VmHWM:").unwrap_or(0);
    let _ = Command::new("kill")
        .args(["-TERM", &pid.to_string()])
        .status();
    let _ = agent.wait();
    samples.sort_unstable();
    let (Some(&low), Some(&high)) = (samples.first(), samples.last()) else {
        eprintln!("no samples");
        return ExitCode::FAILURE;
    };
    let median = samples[samples.len() / 2];
    // Clock ticks are 1/100 s on Linux.
    let cpu_percent = ticks as f64 / 100.0 / IDLE_FOR.as_secs_f64() * 100.0;
    println!(
        "kubeward-agent run between scans (one scan and delivery done, next in 1 h), sampled for {} s",
        IDLE_FOR.as_secs()
    );
    println!(
        "RSS: median {:.1} MiB, min {:.1} MiB, max {:.1} MiB ({} samples); peak over the life of the process {:.1} MiB",
        median as f64 / 1024.0,
        low as f64 / 1024.0,
        high as f64 / 1024.0,
        samples.len(),
        peak as f64 / 1024.0
    );
    println!(
        "CPU while waiting: {ticks} clock ticks in {} s = {cpu_percent:.2}% of one core",
        IDLE_FOR.as_secs()
    );
    let met = high <= TARGET_RSS_KIB && cpu_percent < 0.5;
    println!(
        "target RSS <= 10 MiB and near-zero CPU between scans: {}",
        if met { "met" } else { "MISSED" }
    );
    if met {
        ExitCode::SUCCESS
    } else {
        ExitCode::FAILURE
    }
}
