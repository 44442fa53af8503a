//! `pharos wrap --probe ID -- cmd args…`: run a batch or cron job, pass its output
//! through, and record its exit code, duration and the end of its output as a heartbeat of
//! push probe ID (as `mkr wrap` does). Exits with the job's own code.

use std::collections::VecDeque;
use std::io::{Read, Write};
use std::process::{Command, ExitCode, Stdio};
use std::sync::{Arc, Mutex};
use std::time::Instant;

use anyhow::{Result, bail};
use chrono::Utc;
use clap::Args as ClapArgs;

use crate::config::{self, ProbeKind};
use crate::probe::push::{self, Heartbeat};
use crate::project::Project;

/// How much of the job's output the heartbeat keeps.
const TAIL_BYTES: usize = 4096;

/// Options of `wrap`.
#[derive(Debug, ClapArgs)]
pub struct Args {
    /// The push probe this job reports to.
    #[arg(long, value_name = "ID")]
    pub probe: String,
    /// The job and its arguments, after `--`; run without a shell.
    #[arg(
        required = true,
        trailing_var_arg = true,
        allow_hyphen_values = true,
        value_name = "COMMAND"
    )]
    pub command: Vec<String>,
}

/// Run `wrap`.
pub fn run(args: Args, project: &Project) -> Result<ExitCode> {
    let config = config::load(&project.components_file(), &project.probes_file())
        .map_err(|p| anyhow::anyhow!("{p}\nrun `pharos check` for details"))?;
    let probe = push_probe(&config, &args.probe)?;
    let dir = push::heartbeat_dir(&project.state_dir());
    run_reporting(&args.command, &dir, &probe.id)
}

/// The push probe `id` of the config, or an error naming the ones there are.
fn push_probe<'a>(config: &'a config::Config, id: &str) -> Result<&'a config::Probe> {
    let Some(probe) = config.probing.probes.iter().find(|p| p.id == id) else {
        let ids: Vec<&str> = config
            .probing
            .probes
            .iter()
            .filter(|p| matches!(p.kind, ProbeKind::Push(_)))
            .map(|p| p.id.as_str())
            .collect();
        bail!(
            "no probe \"{}\" in probes.yaml; push probes: {}",
            id,
            if ids.is_empty() {
                "none (add one with `kind: push`)".to_string()
            } else {
                ids.join(", ")
            }
        );
    };
    if !matches!(probe.kind, ProbeKind::Push(_)) {
        bail!(
            "probe \"{}\" is a {} probe; `wrap` reports to probes with `kind: push`",
            probe.id,
            probe.kind.word().as_str()
        );
    }
    Ok(probe)
}

/// Run `command`, passing its output through, and write its heartbeat for probe `id`
/// into `dir`; exit as it did.
fn run_reporting(command: &[String], dir: &std::path::Path, id: &str) -> Result<ExitCode> {
    let start = Instant::now();
    let tail = Arc::new(Mutex::new(VecDeque::with_capacity(TAIL_BYTES)));
    let (program, rest) = command
        .split_first()
        .map_or(("", &[][..]), |(p, r)| (p.as_str(), r));
    let spawned = Command::new(program)
        .args(rest)
        .stdin(Stdio::inherit())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn();
    let mut child = match spawned {
        Ok(c) => c,
        Err(e) => {
            let message = format!("cannot start {program}: {e}");
            push::write(
                dir,
                id,
                &Heartbeat {
                    at: Utc::now(),
                    exit_code: None,
                    duration_ms: None,
                    output_tail: message.clone(),
                    source: "wrap".into(),
                },
            )?;
            eprintln!("error: {message}");
            return Ok(super::Exit::CannotStart.into());
        }
    };
    let copy = |from: Option<Box<dyn Read + Send>>,
                to: fn() -> Box<dyn Write>,
                tail: Arc<Mutex<VecDeque<u8>>>| {
        std::thread::spawn(move || {
            let Some(mut from) = from else { return };
            let mut to = to();
            let mut buf = [0u8; 8192];
            while let Ok(n) = from.read(&mut buf) {
                if n == 0 {
                    break;
                }
                let _ = to.write_all(&buf[..n]);
                let _ = to.flush();
                if let Ok(mut t) = tail.lock() {
                    t.extend(&buf[..n]);
                    let excess = t.len().saturating_sub(TAIL_BYTES);
                    t.drain(..excess);
                }
            }
        })
    };
    let out = copy(
        child
            .stdout
            .take()
            .map(|s| Box::new(s) as Box<dyn Read + Send>),
        || Box::new(std::io::stdout()),
        tail.clone(),
    );
    let err = copy(
        child
            .stderr
            .take()
            .map(|s| Box::new(s) as Box<dyn Read + Send>),
        || Box::new(std::io::stderr()),
        tail.clone(),
    );
    let status = child.wait();
    let _ = out.join();
    let _ = err.join();
    let duration_ms = start.elapsed().as_secs_f64() * 1e3;
    let output_tail = tail
        .lock()
        .map(|t| String::from_utf8_lossy(&t.iter().copied().collect::<Vec<u8>>()).to_string())
        .unwrap_or_default();
    let (exit_code, code) = match &status {
        Ok(s) => match s.code() {
            Some(c) => (Some(c), c),
            None => {
                use std::os::unix::process::ExitStatusExt;
                (None, 128 + s.signal().unwrap_or(0))
            }
        },
        Err(_) => (None, 1),
    };
    push::write(
        dir,
        id,
        &Heartbeat {
            at: Utc::now(),
            exit_code,
            duration_ms: Some((duration_ms * 1000.0).round() / 1000.0),
            output_tail,
            source: "wrap".into(),
        },
    )?;
    Ok(ExitCode::from(
        u8::try_from(code.clamp(0, 255)).unwrap_or(1),
    ))
}
