//! The embedded demo, the whole flow on one machine with no network: local services on
//! loopback (healthy, slow, flaky, unreachable from one region, down), a project written
//! into a folder with 90 days of generated history, three region workers in this process
//! (each sending from its own loopback address), then a build.

pub mod past;
mod services;

use std::net::{IpAddr, Ipv4Addr};
use std::path::{Path, PathBuf};
use std::time::Duration;

use anyhow::{Context, Result};
use chrono::{DateTime, Utc};

use crate::config;
use crate::probe::{Ctx, worker};
use crate::project::Project;
use crate::state::store::{LocalStore, Store};

pub use services::Services;

/// The demo's regions and the loopback address each one sends from.
pub const REGIONS: [(&str, &str, Ipv4Addr); 3] = [
    ("eu-west", "Frankfurt", Ipv4Addr::new(127, 0, 0, 11)),
    ("us-east", "Virginia", Ipv4Addr::new(127, 0, 0, 12)),
    ("ap-south", "Mumbai", Ipv4Addr::new(127, 0, 0, 13)),
];

/// The region that cannot reach the CDN edge.
pub const CUT_OFF_REGION: usize = 2;

/// The demo's components.yaml.
const COMPONENTS_YAML: &str = r#"# The demo page: what the public sees.
page:
  title: Pharos Demo Status
  base_url: https://status.example.com
  description: Live status of the Pharos demo services, checked from three regions.
  time_zone: UTC
  slo: 99.9                    # the availability target of the page and of each component
  links:
    - title: Pharos
      url: https://example.com/pharos

groups:
  - id: public
    name: Public services
  - id: platform
    name: Platform

components:
  - id: web
    name: Website
    description: The marketing site and docs.
    group: public
  - id: api
    name: API
    description: The public REST API.
    group: public
    depends_on: [db]
    slo: 99.95
  - id: cdn
    name: CDN edge
    description: Static assets and downloads.
    group: public
  - id: auth
    name: Login
    description: Sign-in and sessions.
    group: platform
  - id: search
    name: Search
    description: Full-text search.
    group: platform
  - id: db
    name: Database
    description: The primary database cluster.
    group: platform
"#;

/// The demo's probes.yaml, checking `services`.
fn probes_yaml(services: &Services) -> String {
    format!(
        r#"# How the demo is checked: every probe runs in all three regions.
regions:
  - name: eu-west
    label: Frankfurt
  - name: us-east
    label: Virginia
  - name: ap-south
    label: Mumbai

defaults:
  interval: 2s
  timeout: 1500ms
  retries: 1
  retry_delay: 200ms
  confirm: 2
  recover: 2

probes:
  - id: web-home
    kind: http
    url: http://127.0.0.1:{web}/
    components: [web]
    body_contains: Welcome
  - id: api-health
    kind: http
    url: http://127.0.0.1:{api}/health
    components: [api]
    degraded_after: 300ms
  - id: cdn-asset
    kind: http
    url: http://127.0.0.1:{cdn}/asset.js
    components: [cdn]
  - id: auth-login
    kind: http
    method: POST
    url: http://127.0.0.1:{auth}/login
    body: '{{"user": "probe"}}'
    components: [auth]
    expect_status: [200, 204]
  - id: search-query
    kind: http
    url: http://127.0.0.1:{search}/search?q=status
    components: [search]
  - id: db-port
    kind: tcp
    host: 127.0.0.1
    port: {db}
    components: [db]
"#,
        web = services.web,
        api = services.api,
        cdn = services.cdn,
        auth = services.auth,
        search = services.search,
        db = services.db,
    )
}

/// Write the demo project for `services` into `dir`, with incidents dated around `now` and
/// 90 days of history behind it (see [`past`]).
pub fn write_project(dir: &Path, services: &Services, now: DateTime<Utc>) -> Result<()> {
    std::fs::create_dir_all(dir.join("incidents"))
        .with_context(|| format!("creating {}", dir.display()))?;
    let probes = probes_yaml(services);
    let t = |minutes: i64| {
        (now - chrono::Duration::minutes(minutes))
            .to_rfc3339_opts(chrono::SecondsFormat::Secs, true)
    };
    let day = |d: i64| {
        (now - chrono::Duration::days(d))
            .format("%Y-%m-%d")
            .to_string()
    };
    let open = format!(
        "---\ntitle: Search is unavailable\nimpact: major\ncomponents: [search]\n---\n\
## {} identified\nThe search cluster lost its index volume. We are restoring it from the last snapshot.\n\n\
## {} investigating\nSearch requests are failing in every region. We are investigating.\n",
        t(4),
        t(12)
    );
    let resolved = format!(
        "---\ntitle: Slow sign-ins\nimpact: minor\ncomponents: [auth]\n---\n\
## {} resolved\nSign-in times are back to normal. A post-incident review will follow.\n\n\
## {} monitoring\nA fix for a connection-pool leak is deployed; we are watching latency.\n\n\
## {} investigating\nSome users see sign-ins taking **over 10 seconds**.\n",
        t(60 * 24 - 50),
        t(60 * 24 - 20),
        t(60 * 24)
    );
    let soon = now + chrono::Duration::days(2);
    let maintenance = format!(
        "---\ntitle: Database upgrade\nkind: maintenance\ncomponents: [db]\nscheduled_for: {}\nscheduled_until: {}\n---\n\
## {} scheduled\nWe will upgrade the database cluster to a new major version. Writes pause for up to 5 minutes.\n",
        soon.to_rfc3339_opts(chrono::SecondsFormat::Secs, true),
        (soon + chrono::Duration::hours(1)).to_rfc3339_opts(chrono::SecondsFormat::Secs, true),
        t(30)
    );
    let files: [(PathBuf, String); 5] = [
        (dir.join("components.yaml"), COMPONENTS_YAML.to_string()),
        (dir.join("probes.yaml"), probes),
        (
            dir.join("incidents")
                .join(format!("{}-search-down.md", day(0))),
            open,
        ),
        (
            dir.join("incidents")
                .join(format!("{}-slow-sign-ins.md", day(1))),
            resolved,
        ),
        (
            dir.join("incidents")
                .join(format!("{}-database-upgrade.md", day(0))),
            maintenance,
        ),
    ];
    for (path, body) in files {
        std::fs::write(&path, body).with_context(|| format!("writing {}", path.display()))?;
    }
    let config = config::load(&dir.join("components.yaml"), &dir.join("probes.yaml"))
        .map_err(|p| anyhow::anyhow!("{p}"))?;
    past::write(dir, &config, now)
}

/// Run every region's worker in this process for `duration`.
pub async fn run_regions(project: &Project, duration: Duration) -> Result<()> {
    let config = config::load(&project.components_file(), &project.probes_file())
        .map_err(|p| anyhow::anyhow!("{p}"))?;
    let store = Store::Local(LocalStore::new(project.state_dir()));
    let mut tasks = tokio::task::JoinSet::new();
    for (name, _, ip) in REGIONS {
        let probing = config.probing.clone();
        let store = store.clone();
        let mut ctx = Ctx::new(Some(IpAddr::V4(ip)))?;
        ctx.heartbeat_dir = Some(crate::probe::push::heartbeat_dir(&project.state_dir()));
        let spool = project.root.join(".pharos").join("spool");
        tasks.spawn(async move {
            let mut opts = worker::Options::new(name);
            opts.spool_dir = spool;
            worker::run(&probing, &store, ctx, &opts, tokio::time::sleep(duration)).await
        });
    }
    while let Some(done) = tasks.join_next().await {
        done.context("a demo region worker panicked")??;
    }
    Ok(())
}
