//! Step 2 (probe): the `command` kind, the Nagios plugin API and Mackerel check plugins.
//! The argv runs without a shell in its own process group (killed whole at the timeout),
//! with stdin closed and each output stream captured up to a limit (the rest is drained,
//! so a chatty plugin never blocks on a full pipe). Exit 0 is up, 1 degraded, 2 down,
//! anything else unknown; the first line of output is the detail; perfdata is parsed.

use std::os::unix::process::ExitStatusExt;
use std::process::Stdio;
use std::time::Instant;

use chrono::Utc;
use tokio::io::{AsyncRead, AsyncReadExt};

use super::ctx::{Ctx, RunInfo};
use super::failure::Failure;
use super::outcome::{Outcome, Verdict, blank};
use super::units::ms;
use crate::config::{CommandSpec, Probe, TimeoutHealth};
use crate::state::{Health, PerfValue, PluginInfo, Sample};

/// Longest detail kept from a plugin's first line.
const MAX_DETAIL: usize = 300;

pub(crate) async fn check(probe: &Probe, spec: &CommandSpec, ctx: &Ctx, run: &RunInfo) -> Outcome {
    let (mut cmd, program) = match command(probe, spec, ctx, run) {
        Ok(c) => c,
        Err(failure) => return Outcome::now(Err(failure)),
    };
    let at = Utc::now();
    let start = Instant::now();
    let mut child = match cmd.spawn() {
        Ok(c) => c,
        Err(e) => return Outcome::now(Err(not_started(&program, &e))),
    };
    // Whatever happens to this check (done, timed out, abandoned at stop), nothing the
    // plugin started outlives it.
    let group = GroupKill(child.id().unwrap_or(0).into());
    let max = spec.max_output_bytes;
    let (stdout, stderr) = (child.stdout.take(), child.stderr.take());
    // Output is read while the plugin runs, in this task (no task per pipe). When the
    // plugin has exited (or is out of time), a child it left behind must not keep the
    // pipes open: the group goes at once, and the output is collected right after.
    let waiting = async {
        let waited = tokio::time::timeout(probe.timeout, child.wait()).await;
        group.kill();
        waited
    };
    let draining = tokio::time::timeout(probe.timeout + std::time::Duration::from_secs(1), async {
        tokio::join!(capture(stdout, max), capture(stderr, max))
    });
    let (waited, drained) = tokio::join!(waiting, draining);
    let (out, err) = drained.unwrap_or_default();
    let elapsed = start.elapsed();
    let (verdict, info) = match waited {
        Err(_) => {
            let _ = child.kill().await;
            timed_out(probe, spec)
        }
        Ok(status) => judge(&out, &err, status),
    };
    Outcome::judged(
        Sample {
            latency_ms: Some(ms(elapsed)),
            plugin: Some(info),
            ..blank(at)
        },
        verdict,
    )
}

/// The plugin's command, with its `${VAR}`s resolved, and the program it runs.
fn command(
    probe: &Probe,
    spec: &CommandSpec,
    ctx: &Ctx,
    run: &RunInfo,
) -> Result<(tokio::process::Command, String), Failure> {
    let argv = spec
        .argv
        .iter()
        .map(|a| a.resolve_env())
        .collect::<Result<Vec<_>, _>>()?;
    let Some((program, args)) = argv.split_first() else {
        return Err(Failure::prober("command: empty argv"));
    };
    let mut cmd = tokio::process::Command::new(program);
    cmd.args(args)
        .env_clear()
        .envs(ctx.base_env.iter().map(|(k, v)| (k, v)))
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .process_group(0)
        .kill_on_drop(true)
        .env("PHAROS_PROBE_ID", &probe.id)
        .env("PHAROS_REGION", &run.region)
        .env("PHAROS_TARGET", probe.kind.target())
        .env(
            "PHAROS_PREVIOUS_STATUS",
            run.previous.map_or("none", |h| h.as_str()),
        );
    for (name, value) in &spec.env {
        cmd.env(name, value.resolve_env()?);
    }
    Ok((cmd, program.clone()))
}

/// Why a plugin did not start, with the fix: the prober cannot run the check.
fn not_started(program: &str, e: &std::io::Error) -> Failure {
    Failure::prober(match e.kind() {
        std::io::ErrorKind::NotFound => {
            format!("plugin not found: {program}; install it on this prober or fix the path")
        }
        std::io::ErrorKind::PermissionDenied => {
            format!("plugin {program} is not executable here (chmod +x, or check the path)")
        }
        _ => format!("cannot start plugin {program}: {e}"),
    })
}

/// A plugin out of time: down or unknown as `timeout_health` says.
fn timed_out(probe: &Probe, spec: &CommandSpec) -> (Verdict, PluginInfo) {
    let detail = format!(
        "timeout after {}; the plugin and its children were killed",
        crate::words::duration(probe.timeout)
    );
    let verdict = match spec.timeout_health {
        TimeoutHealth::Down => Err(Failure::target(detail)),
        TimeoutHealth::Unknown => Ok((Health::Unknown, detail)),
    };
    let info = PluginInfo {
        exit_code: None,
        perfdata: Vec::new(),
    };
    (verdict, info)
}

/// A finished plugin's verdict by the plugin API: its exit code and first line.
fn judge(
    out: &[u8],
    err: &[u8],
    status: std::io::Result<std::process::ExitStatus>,
) -> (Verdict, PluginInfo) {
    let (summary, perfdata) = parse_output(&String::from_utf8_lossy(out));
    let first_err = String::from_utf8_lossy(err)
        .lines()
        .next()
        .unwrap_or_default()
        .trim()
        .to_string();
    let code = status.as_ref().ok().and_then(|s| s.code());
    let health = match code {
        Some(0) => Health::Up,
        Some(1) => Health::Degraded,
        Some(2) => Health::Down,
        _ => Health::Unknown,
    };
    let said = if !summary.is_empty() {
        summary
    } else {
        first_err
    };
    let detail = match (&status, code) {
        (Err(e), _) => format!("waiting for the plugin failed: {e}"),
        (Ok(s), None) => format!(
            "plugin killed by signal {}{}",
            s.signal().unwrap_or_default(),
            if said.is_empty() {
                String::new()
            } else {
                format!(": {said}")
            }
        ),
        (Ok(_), Some(c)) if said.is_empty() => format!("exit code {c}, no output"),
        (Ok(_), Some(c)) if !(0..=2).contains(&c) => format!("exit code {c}: {said}"),
        _ => said,
    };
    let detail = truncate(&detail, MAX_DETAIL);
    let verdict = if health == Health::Down {
        Err(Failure::target(detail))
    } else {
        Ok((health, detail))
    };
    let info = PluginInfo {
        exit_code: code,
        perfdata,
    };
    (verdict, info)
}

/// Kills a plugin's process group once: when told to, or when dropped before that.
/// Holds the group's id until then (0 after).
struct GroupKill(std::sync::atomic::AtomicU32);

impl GroupKill {
    fn kill(&self) {
        let id = self.0.swap(0, std::sync::atomic::Ordering::Relaxed);
        if let Some(pid) = rustix::process::Pid::from_raw(id as i32) {
            let _ = rustix::process::kill_process_group(pid, rustix::process::Signal::KILL);
        }
    }
}

impl Drop for GroupKill {
    fn drop(&mut self) {
        self.kill();
    }
}

/// Read a stream to its end, keeping at most `max` bytes; the rest is drained and
/// dropped. No buffer lives in the future: a check's future is moved several times on
/// its way into the runtime, and buffers in it are copied (and zeroed) with it on every
/// plugin run.
async fn capture(stream: Option<impl AsyncRead + Unpin + Send>, max: u64) -> Vec<u8> {
    let Some(stream) = stream else {
        return Vec::new();
    };
    // Room for a plugin's usual output up front, so it takes one read, not a doubling
    // series of them.
    let mut kept = Vec::with_capacity(max.min(4096) as usize);
    let mut head = stream.take(max);
    let _ = head.read_to_end(&mut kept).await;
    if kept.len() as u64 >= max {
        let _ = tokio::io::copy(&mut head.into_inner(), &mut tokio::io::sink()).await;
    }
    kept
}

fn truncate(s: &str, max: usize) -> String {
    if s.chars().count() <= max {
        return s.to_string();
    }
    let mut out: String = s.chars().take(max).collect();
    out.push('…');
    out
}

/// Split Nagios plugin output into its summary (first line before `|`) and perfdata (after
/// the `|` of the first line and of the first later line that has one, plus every line
/// after that), as the plugin API describes.
pub fn parse_output(text: &str) -> (String, Vec<PerfValue>) {
    let mut lines = text.lines();
    let first = lines.next().unwrap_or_default();
    let (summary, mut perf) = match first.split_once('|') {
        Some((s, p)) => (s.trim().to_string(), p.to_string()),
        None => (first.trim().to_string(), String::new()),
    };
    let mut in_perf = false;
    for line in lines {
        if in_perf {
            perf.push(' ');
            perf.push_str(line);
        } else if let Some((_, p)) = line.split_once('|') {
            perf.push(' ');
            perf.push_str(p);
            in_perf = true;
        }
    }
    (summary, parse_perfdata(&perf))
}

/// Parse `'label'=value[UOM];[warn];[crit];[min];[max]` items separated by spaces.
/// Items that do not parse are skipped; a label may be quoted, with `''` for a quote.
pub fn parse_perfdata(text: &str) -> Vec<PerfValue> {
    let mut out = Vec::new();
    let chars: Vec<char> = text.chars().collect();
    let mut i = 0;
    while i < chars.len() && out.len() < 200 {
        while i < chars.len() && chars[i].is_whitespace() {
            i += 1;
        }
        if i >= chars.len() {
            break;
        }
        // Label: quoted (with '' as an escaped quote) or up to '='.
        let mut label = String::new();
        if chars[i] == '\'' {
            i += 1;
            while i < chars.len() {
                if chars[i] == '\'' {
                    if chars.get(i + 1) == Some(&'\'') {
                        label.push('\'');
                        i += 2;
                        continue;
                    }
                    i += 1;
                    break;
                }
                label.push(chars[i]);
                i += 1;
            }
        } else {
            while i < chars.len() && chars[i] != '=' && !chars[i].is_whitespace() {
                label.push(chars[i]);
                i += 1;
            }
        }
        let mut rest = String::new();
        while i < chars.len() && !chars[i].is_whitespace() {
            rest.push(chars[i]);
            i += 1;
        }
        let Some(fields) = rest.strip_prefix('=') else {
            continue;
        };
        if let Some(v) = perf_value(label, fields) {
            out.push(v);
        }
    }
    out
}

fn perf_value(label: String, fields: &str) -> Option<PerfValue> {
    if label.is_empty() {
        return None;
    }
    let mut parts = fields.split(';');
    let value_uom = parts.next()?;
    let split = value_uom
        .find(|c: char| !(c.is_ascii_digit() || matches!(c, '.' | '-' | '+' | 'e' | 'E')))
        .unwrap_or(value_uom.len());
    let (number, uom) = value_uom.split_at(split);
    let (shift, uom) = match uom {
        "ms" => (-3, "s"),
        "us" => (-6, "s"),
        "s" | "%" | "B" | "KB" | "MB" | "GB" | "TB" | "c" | "" => (0, uom),
        _ => return None,
    };
    let value = in_seconds(number, shift)?;
    let text = |s: Option<&str>| s.filter(|s| !s.is_empty()).map(str::to_string);
    let num = |s: Option<&str>| s.and_then(|s| in_seconds(s, shift));
    let warn = text(parts.next());
    let crit = text(parts.next());
    let min = num(parts.next());
    let max = num(parts.next());
    Some(PerfValue {
        label,
        value,
        uom: uom.to_string(),
        warn,
        crit,
        min,
        max,
    })
}

/// A perfdata number moved `shift` decimal places (`0.14` ms → `0.00014` s), by its
/// decimal exponent rather than by a float multiplication, which would leave noise such
/// as `0.00014000000000000001`.
fn in_seconds(number: &str, shift: i32) -> Option<f64> {
    let (mantissa, exponent) = match number.find(['e', 'E']) {
        Some(at) => (
            number.get(..at)?,
            number.get(at + 1..)?.parse::<i32>().ok()?,
        ),
        None => (number, 0),
    };
    format!("{mantissa}e{}", exponent.checked_add(shift)?)
        .parse::<f64>()
        .ok()
        .filter(|v| v.is_finite())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_the_plugin_api_output() {
        let text = "DISK OK - free space: / 3326 MB (56%); | /=2643MB;5948;5958;0;5968\n/ 15272 MB (77%);\n/boot 68 MB (69%);\n/home 69357 MB (27%); | /boot=68MB;88;93;0;98\n/home=69357MB;253404;253409;0;253414\n";
        let (summary, perf) = parse_output(text);
        assert_eq!(summary, "DISK OK - free space: / 3326 MB (56%);");
        let labels: Vec<&str> = perf.iter().map(|p| p.label.as_str()).collect();
        assert_eq!(labels, vec!["/", "/boot", "/home"]);
        assert_eq!(perf[0].value, 2643.0);
        assert_eq!(perf[0].uom, "MB");
        assert_eq!(perf[0].warn.as_deref(), Some("5948"));
        assert_eq!(perf[0].max, Some(5968.0));
    }

    #[test]
    fn quoted_labels_units_and_ranges() {
        let perf = parse_perfdata(
            "'rta ''x'''=12.5ms;100:;~:200;0; loss=0%;@10:20 time=0.001234s;;;0.000000 bad junk= =3 x=NaN",
        );
        assert_eq!(perf.len(), 3, "{perf:?}");
        assert_eq!(perf[0].label, "rta 'x'");
        assert!((perf[0].value - 0.0125).abs() < 1e-12);
        assert_eq!(perf[0].uom, "s");
        assert_eq!(perf[0].warn.as_deref(), Some("100:"));
        assert_eq!(perf[0].crit.as_deref(), Some("~:200"));
        assert_eq!(perf[0].min, Some(0.0));
        assert_eq!(perf[1].uom, "%");
        assert_eq!(perf[1].warn.as_deref(), Some("@10:20"));
        assert_eq!(perf[2].label, "time");
        assert_eq!(perf[2].min, Some(0.0));
    }

    #[test]
    fn milliseconds_become_seconds_without_float_noise() {
        let perf = parse_perfdata("time=0.14ms;;;0;1e3 rtt=250us big=1.5e2ms");
        let shown: Vec<String> = perf.iter().map(|p| p.value.to_string()).collect();
        assert_eq!(shown, ["0.00014", "0.00025", "0.15"]);
        assert_eq!(perf[0].max, Some(1.0));
        assert_eq!((0.14_f64 * 1e-3).to_string(), "0.00014000000000000001");
    }

    #[test]
    fn hostile_perfdata_never_panics() {
        for s in [
            "'",
            "''",
            "'a",
            "=",
            "a=",
            "a=1;;;;;;;;",
            "a=1e999",
            "'é'=1é",
            "\u{0}=1",
            "a==1",
        ] {
            let _ = parse_perfdata(s);
            let _ = parse_output(s);
        }
    }
}
