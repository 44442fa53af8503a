//! `pharos analyze`: blind spots of the probe set and the probes that fix them.

use crate::harness::{ProjectTest, stderr, stdout};

fn project() -> ProjectTest {
    let t = ProjectTest::new();
    t.write(
        "components.yaml",
        "page:\n  title: T\n  base_url: https://s.test\ncomponents:\n\
         \x20 - id: db\n    name: Database\n\
         \x20 - id: api\n    name: API\n    depends_on: [db]\n\
         \x20 - id: cdn\n    name: CDN\n\
         \x20 - id: web\n    name: Website\n\
         \x20 - id: search\n    name: Search\n",
    );
    // The home page goes through the CDN to the web servers: the two are never probed
    // apart. Nothing probes search. The API probe also depends on the database.
    t.write(
        "probes.yaml",
        "regions:\n  - name: r1\nprobes:\n\
         \x20 - id: home\n    kind: http\n    url: https://www.s.test/\n    components: [cdn, web]\n\
         \x20 - id: api-health\n    kind: http\n    url: https://api.s.test/health\n    components: [api]\n",
    );
    t
}

#[test]
fn analyze_names_blind_spots_and_the_fewest_probes_to_add() {
    let t = project();
    let out = t.run(&["analyze"]);
    assert!(out.status.success(), "{}", stderr(&out));
    let text = stdout(&out);
    assert!(
        text.contains("Not detectable (no probe depends on them): search"),
        "{text}"
    );
    assert!(
        text.contains("Cannot be told apart (the same probes depend on each): db, api"),
        "{text}"
    );
    assert!(
        text.contains("Cannot be told apart (the same probes depend on each): cdn, web"),
        "{text}"
    );
    assert!(text.contains("(That is the fewest possible.)"), "{text}");
    let out = t.run(&["analyze", "--json"]);
    let json: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(json["undetectable"], serde_json::json!(["search"]));
    assert_eq!(json["optimum"], serde_json::json!(2));
    assert_eq!(
        json["suggested_probes"].as_array().map(|a| a.len()),
        Some(2)
    );
}
