//! State benchmarks (issue 4): `cargo bench --bench state`.
//!
//! 1. A region file of 1,000 probes with 400 days of history: bytes per probe (target
//!    ≤ 40 KB) and the time to write it atomically with fsync (target ≤ 150 ms).
//! 2. Three such regions merged into the consensus timeline of every probe and component
//!    (target ≤ 500 ms), beside the time to read and parse the three files.
//! 3. Growth: the same probes after 10 simulated years must not be larger than after 400
//!    days.
//!
//! History is made by feeding samples through `RegionState::record`, the worker's own
//! code path, every 10 minutes (a coarser step than real probes, so the run takes seconds;
//! the stored windows have the same shape). Twenty probe histories are simulated per
//! region and reused across the 1,000 probes. Outages and latencies follow a 50-day
//! pattern, so the 400-day window at year 10 holds the same kind of days as at day 400.
//! Figures are medians of several runs.

use std::time::{Duration, Instant};

use chrono::{DateTime, TimeZone, Utc};
use pharos::state::history::Policy;
use pharos::state::store::LocalStore;
use pharos::state::{Health, RegionState, Sample};

const PROBES: usize = 1000;
const TEMPLATES: usize = 20;
const STEP_MIN: i64 = 10;
const RUNS: usize = 7;

fn start() -> DateTime<Utc> {
    Utc.with_ymd_and_hms(2026, 1, 1, 0, 0, 0)
        .single()
        .unwrap_or_default()
}

/// A small deterministic hash.
fn mix(mut x: u64) -> u64 {
    x ^= x >> 33;
    x = x.wrapping_mul(0xff51_afd7_ed55_8ccd);
    x ^= x >> 33;
    x = x.wrapping_mul(0xc4ce_b9fe_1a85_ec53);
    x ^ (x >> 33)
}

/// The health and latency of template `t` in region `r` at minute `minute` since start.
fn observe(t: usize, r: usize, minute: i64) -> (Health, f64) {
    let day = (minute / 1440) % 50;
    let in_day = minute % 1440;
    let h = mix((t as u64) << 32 | day as u64);
    let jitter = (mix((minute % (50 * 1440)) as u64 ^ (t as u64) << 40) % 1000) as f64 / 1000.0;
    let latency = 20.0 + 7.0 * t as f64 + 30.0 * jitter * jitter;
    // One day in five has an outage somewhere between 10 and 120 minutes long; one in
    // three of them is seen from this region only.
    if h.is_multiple_of(5) {
        let from = (h >> 8) as i64 % 1300;
        let len = 10 + (h >> 20) as i64 % 110;
        let regional = (h >> 30).is_multiple_of(3);
        if in_day >= from && in_day < from + len && (!regional || (h >> 40) as usize % 3 == r) {
            return (Health::Down, 5000.0);
        }
    }
    // Degraded hours, and template 0 flaps all the time (the transitions' worst case).
    if h % 7 == 1 && in_day / 60 == (h >> 12) as i64 % 24 {
        return (Health::Degraded, latency * 8.0);
    }
    if t == 0 && (minute / STEP_MIN) % 5 < 2 && day % 2 == 0 {
        return (Health::Down, 5000.0);
    }
    (Health::Up, latency)
}

/// Simulate `days` of every template in region `r`, then spread them over PROBES probes.
fn region(r: usize, days: i64) -> RegionState {
    let name = format!("r{r}");
    let end = start() + chrono::Duration::days(days);
    let mut sim = RegionState::new(&name, end);
    let policy = Policy::every((STEP_MIN * 60) as f64);
    for t in 0..TEMPLATES {
        let id = format!("t{t}");
        let mut minute = 0;
        while minute < days * 1440 {
            let (health, latency) = observe(t, r, minute);
            let at = start() + chrono::Duration::minutes(minute);
            let mut s = Sample::new(
                at,
                health,
                match health {
                    Health::Down => "connect timed out after 5s (203.0.113.7:443)".into(),
                    _ => "HTTP 200".into(),
                },
            );
            s.latency_ms = Some(latency);
            s.http_status = (health != Health::Down).then_some(200);
            sim.record(&id, "http", "https://service.example/health", &policy, s);
            minute += STEP_MIN;
        }
    }
    let mut out = RegionState::new(&name, end);
    for p in 0..PROBES {
        if let Some(state) = sim.probes.get(&format!("t{}", p % TEMPLATES)) {
            out.probes.insert(format!("probe-{p:04}"), state.clone());
        }
    }
    out
}

fn median(mut v: Vec<Duration>) -> Duration {
    v.sort();
    v[v.len() / 2]
}

fn ms(d: Duration) -> String {
    format!("{:.1} ms", d.as_secs_f64() * 1000.0)
}

fn json_len(state: &RegionState) -> usize {
    let mut out = Vec::new();
    match pharos::state::write_json(state, &mut out) {
        Ok(()) => out.len(),
        Err(_) => 0,
    }
}

/// Open the region's store as its worker does and write `state` once (the open day's
/// piece included); the bytes the region's folder then holds.
fn write_region(
    rt: &tokio::runtime::Runtime,
    store: &LocalStore,
    state: &RegionState,
    now: chrono::DateTime<Utc>,
) -> anyhow::Result<u64> {
    let shared = std::sync::Arc::new(std::sync::RwLock::new(state.clone()));
    let store = pharos::state::store::Store::Local(store.clone());
    rt.block_on(async {
        let (mut writer, _) = store
            .open(&state.region, Duration::from_secs(1), false)
            .await?;
        writer
            .write(&shared, now, true)
            .await
            .map_err(|e| anyhow::anyhow!("{e}"))
    })?;
    let mut bytes = 0;
    let dir = store
        .local_dir()
        .map(|d| d.join(&state.region))
        .unwrap_or_default();
    for sub in [dir.clone(), dir.join(pharos::state::layout::DAYS)] {
        for entry in std::fs::read_dir(sub)?.flatten() {
            if entry.file_type()?.is_file() {
                bytes += entry.metadata()?.len();
            }
        }
    }
    Ok(bytes)
}

fn main() -> anyhow::Result<()> {
    let dir = tempfile::tempdir()?;
    let made = Instant::now();
    let regions: Vec<RegionState> = (0..3).map(|r| region(r, 400)).collect();
    println!(
        "simulated 3 regions × {TEMPLATES} probe histories × 400 days in {:.1} s",
        made.elapsed().as_secs_f64()
    );

    // 1. Size and write time: the first write puts every day in its piece; later ones
    // write the live object, and the open day's piece when due (here: always).
    let store = LocalStore::new(dir.path().join("state"));
    let rt = tokio::runtime::Runtime::new()?;
    let now = regions[0].written_at;
    let t = Instant::now();
    let first = write_region(&rt, &store, &regions[0], now)?;
    println!(
        "first write of a region (every day's piece): {}",
        ms(t.elapsed())
    );
    let shared = std::sync::Arc::new(std::sync::RwLock::new(regions[0].clone()));
    let (mut writer, _) = rt.block_on(pharos::state::store::Store::Local(store.clone()).open(
        "r0",
        Duration::from_secs(1),
        false,
    ))?;
    let mut writes = Vec::new();
    for _ in 0..RUNS {
        let t = Instant::now();
        rt.block_on(writer.write(&shared, now, true))
            .map_err(|e| anyhow::anyhow!("{e}"))?;
        writes.push(t.elapsed());
    }
    drop(writer);
    let live = std::fs::metadata(store.region_dir("r0").join(pharos::state::layout::LIVE))?.len();
    let bytes = first;
    let per_probe = bytes as f64 / PROBES as f64;
    println!(
        "region stored: {:.1} MB compressed, {:.1} KB per probe (target ≤ 40 KB) {}; live object {:.1} KB",
        bytes as f64 / 1e6,
        per_probe / 1000.0,
        verdict(per_probe <= 40_000.0),
        live as f64 / 1000.0
    );
    println!(
        "  schema-2 file of the same region (for comparison): {:.1} MB",
        json_len(&regions[0]) as f64 / 1e6
    );
    let largest = regions[0]
        .probes
        .values()
        .take(TEMPLATES)
        .map(|p| serde_json::to_vec(p).map_or(0, |v| v.len()))
        .max()
        .unwrap_or(0);
    println!(
        "  largest probe: {:.1} KB (target ≤ 40 KB) {}",
        largest as f64 / 1000.0,
        verdict(largest <= 40_000)
    );
    let transitions: Vec<usize> = regions[0]
        .probes
        .values()
        .take(TEMPLATES)
        .map(|p| p.transitions.len())
        .collect();
    println!(
        "  transitions per probe: max {} (cap {}), days kept {}, hours kept {}",
        transitions.iter().max().unwrap_or(&0),
        pharos::state::MAX_TRANSITIONS,
        regions[0]
            .probes
            .values()
            .next()
            .map_or(0, |p| p.history.daily.checks.len()),
        regions[0]
            .probes
            .values()
            .next()
            .map_or(0, |p| p.history.hourly.n.len()),
    );
    let write = median(writes);
    println!(
        "write of the live object and the open day (serialise, compress, fsync, rename): median {} of {RUNS} (target ≤ 150 ms) {}",
        ms(write),
        verdict(write <= Duration::from_millis(150))
    );

    // 2. Merge three regions.
    for s in regions.iter().skip(1) {
        write_region(&rt, &store, s, now)?;
    }
    let project = dir.path();
    write_config(project)?;
    let config = pharos::config::load(
        &project.join("components.yaml"),
        &project.join("probes.yaml"),
    )
    .map_err(|p| anyhow::anyhow!("{p}"))?;
    let now = regions[0].written_at;
    let (mut reads, mut merges) = (Vec::new(), Vec::new());
    let mut histories = Vec::new();
    for _ in 0..RUNS {
        let t = Instant::now();
        let (states, skipped) = store.read_all()?;
        reads.push(t.elapsed());
        anyhow::ensure!(states.len() == 3 && skipped.is_empty(), "read {skipped:?}");
        let t = Instant::now();
        histories = pharos::status::timeline::histories(&config, &states, now, chrono_tz::UTC);
        merges.push(t.elapsed());
    }
    let merge = median(merges);
    println!("read + parse 3 region files: median {}", ms(median(reads)));
    println!(
        "consensus timeline of {PROBES} probes and {} components over 3 regions: median {} (target ≤ 500 ms) {}",
        histories.len(),
        ms(merge),
        verdict(merge <= Duration::from_millis(500))
    );
    let outages: usize = histories.iter().map(|h| h.outages.len()).sum();
    println!(
        "  outages detected: {outages}; first component's uptime: {:?}",
        histories.first().map(|h| &h.uptime)
    );

    // 3. Growth over 10 years (one region is enough: files are per region).
    let t = Instant::now();
    let decade = region(0, 3650);
    let (young, old) = (json_len(&regions[0]), json_len(&decade));
    println!(
        "growth: {young} bytes after 400 days, {old} after 10 years (ratio {:.4}; simulated in {:.1} s) {}",
        old as f64 / young as f64,
        t.elapsed().as_secs_f64(),
        verdict(old <= young)
    );
    Ok(())
}

fn verdict(ok: bool) -> &'static str {
    if ok { "✓" } else { "✗ MISSED" }
}

/// 1,000 probes over 200 components (5 each), three regions.
fn write_config(dir: &std::path::Path) -> anyhow::Result<()> {
    let mut components =
        String::from("page:\n  title: Bench\n  base_url: https://status.example\ncomponents:\n");
    for c in 0..PROBES / 5 {
        components.push_str(&format!("  - id: c{c:03}\n    name: Component {c}\n"));
    }
    let mut probes = String::from("regions:\n  - name: r0\n  - name: r1\n  - name: r2\nprobes:\n");
    for p in 0..PROBES {
        probes.push_str(&format!(
            "  - id: probe-{p:04}\n    kind: http\n    url: https://service.example/health\n    components: [c{:03}]\n    interval: 10m\n",
            p / 5
        ));
    }
    std::fs::write(dir.join("components.yaml"), components)?;
    std::fs::write(dir.join("probes.yaml"), probes)?;
    Ok(())
}
