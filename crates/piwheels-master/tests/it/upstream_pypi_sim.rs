//! The PyPI-sized upstream generator ([`crate::pypi_sim`]) read with the master's own
//! upstream client: the list parses, the pages agree with the list's serials, mutations
//! bump the serials, `If-None-Match` gets a `304`, and the changelog answers what happened
//! after a serial.

use std::collections::BTreeSet;
use std::time::Duration;

use piwheels_db::{canonicalize_name, names};
use piwheels_master::upstream::{
    Fetched, FileKind, IndexClient, ProjectList, ProjectPage, parse_project_list_html,
};

use crate::pypi_sim::{CHANGELOG_LIMIT, Event, FIRST_SERIAL, PypiSim, summary_of};

const SEED: u64 = 16;

fn client(sim: &PypiSim) -> IndexClient {
    IndexClient::new(&sim.simple_url(), Duration::from_secs(30)).unwrap()
}

async fn list(client: &IndexClient) -> (ProjectList, Option<String>) {
    match client.projects(None).await.unwrap() {
        Fetched::Changed { value, etag } => (value, etag),
        Fetched::Unchanged => panic!("an unconditional list request answered 304"),
    }
}

async fn page(client: &IndexClient, name: &str) -> (ProjectPage, Option<String>) {
    match client.project(name, None).await.unwrap() {
        Some(Fetched::Changed { value, etag }) => (value, etag),
        other => panic!("{name}: no page: {other:?}"),
    }
}

/// Calls `changelog_since_serial(since)` at `url` over HTTP (blocking) and reads the rows
/// back.
fn changelog_url(url: &str, since: i64) -> Vec<Event> {
    let body = format!(
        "<?xml version='1.0'?><methodCall><methodName>changelog_since_serial</methodName>\
         <params><param><value><int>{since}</int></value></param></params></methodCall>"
    );
    let resp = ureq::post(url)
        .set("Content-Type", "text/xml")
        .timeout(Duration::from_secs(30))
        .send_string(&body)
        .unwrap();
    assert_eq!(resp.content_type(), "text/xml");
    // 50,000 rows weigh more than `into_string` takes.
    let mut text = String::new();
    std::io::Read::read_to_string(&mut resp.into_reader(), &mut text).unwrap();
    assert!(!text.contains("<fault>"), "{text}");
    let cell = |v: &str| -> Option<String> {
        let v = v.trim();
        if v.starts_with("<nil/>") {
            return None;
        }
        let start = v.find('>').unwrap() + 1;
        let end = v[start..].find('<').unwrap() + start;
        Some(v[start..end].replace("&amp;", "&"))
    };
    text.split("<value><array><data>")
        .skip(2)
        .map(|row| {
            let cells: Vec<Option<String>> = row
                .split("<value>")
                .skip(1)
                .map(|c| cell(c.split("</value>").next().unwrap()))
                .collect();
            assert_eq!(cells.len(), 5, "{row}");
            Event {
                name: cells[0].clone().unwrap(),
                version: cells[1].clone(),
                timestamp: cells[2].as_ref().unwrap().parse().unwrap(),
                action: cells[3].clone().unwrap(),
                serial: cells[4].as_ref().unwrap().parse().unwrap(),
            }
        })
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_list_parses_and_the_pages_agree_with_its_serials() {
    let sim = PypiSim::start(2_000, SEED);
    let client = client(&sim);
    let (list, etag) = list(&client).await;
    assert!(etag.is_some(), "the list has an ETag");
    assert_eq!(list.projects.len(), 2_000);
    assert_eq!(list.last_serial, Some(sim.last_serial()));
    let canonical: BTreeSet<String> = list
        .projects
        .iter()
        .map(|p| canonicalize_name(&p.name))
        .collect();
    assert_eq!(canonical.len(), 2_000, "canonical names are distinct");
    for p in &list.projects {
        names::validate_name(&p.name).unwrap();
    }
    let spelled = |f: fn(&str) -> bool| list.projects.iter().filter(|p| f(&p.name)).count();
    assert!(spelled(|n| n.contains('_')) > 100);
    assert!(spelled(|n| n.contains('.')) > 100);
    assert!(spelled(|n| n.chars().any(|c| c.is_ascii_uppercase())) > 100);
    assert!(spelled(|n| !n.contains(['-', '_', '.'])) > 100);

    let mut files = 0;
    for entry in list.projects.iter().step_by(40) {
        let (page, _) = page(&client, &entry.name).await;
        let sim_project = sim.project_named(&canonicalize_name(&entry.name)).unwrap();
        assert_eq!(page.last_serial, entry.last_serial, "{}", entry.name);
        assert_eq!(entry.last_serial, Some(sim_project.last_serial));
        let versions: BTreeSet<&str> = page
            .files
            .iter()
            .map(|f| f.version.as_deref().expect("a version in every file name"))
            .collect();
        let expected: BTreeSet<&str> = sim_project
            .versions
            .iter()
            .map(|v| v.version.as_str())
            .collect();
        assert_eq!(versions, expected, "{}", entry.name);
        for v in &sim_project.versions {
            let sdist = page
                .files
                .iter()
                .any(|f| f.version.as_deref() == Some(&v.version) && f.kind == FileKind::Sdist);
            assert_eq!(sdist, v.has_sdist(), "{} {}", entry.name, v.version);
        }
        assert!(page.files.iter().all(|f| f.upload_time.is_some()));
        files += page.files.len();
    }
    // About ten files a project.
    assert!(
        (250..=1000).contains(&files),
        "{files} files in 50 projects"
    );

    // The HTML list names the same projects.
    let html = ureq::get(&sim.simple_url())
        .set("Accept", "text/html")
        .call()
        .unwrap();
    assert_eq!(html.content_type(), "text/html");
    let html = parse_project_list_html(&html.into_string().unwrap());
    let html_names: BTreeSet<String> = html.projects.into_iter().map(|p| p.name).collect();
    let json_names: BTreeSet<String> = list.projects.into_iter().map(|p| p.name).collect();
    assert_eq!(html_names, json_names);
    let seen = sim.requests();
    assert_eq!((seen.list, seen.page, seen.not_modified), (2, 50, 0));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_change_bumps_the_serials_and_304s_hold_until_then() {
    let sim = PypiSim::start(1_000, SEED);
    let client = client(&sim);
    let (before, list_etag) = list(&client).await;
    let name = before.projects[7].name.clone();
    let (_, etag) = page(&client, &name).await;
    assert_eq!(
        client.project(&name, etag.as_deref()).await.unwrap(),
        Some(Fetched::Unchanged)
    );
    assert_eq!(
        client.projects(list_etag.as_deref()).await.unwrap(),
        Fetched::Unchanged
    );
    assert_eq!(sim.requests().not_modified, 1);

    let changed: BTreeSet<String> = sim.change(25).into_iter().collect();
    assert_eq!(changed.len(), 25);
    let Fetched::Changed { value: after, .. } =
        client.projects(list_etag.as_deref()).await.unwrap()
    else {
        panic!("the list did not change after a change");
    };
    assert_eq!(after.last_serial, Some(sim.last_serial()));
    assert!(after.last_serial > before.last_serial);
    for (old, new) in before.projects.iter().zip(&after.projects) {
        assert_eq!(old.name, new.name);
        let canon = canonicalize_name(&new.name);
        if changed.contains(&canon) {
            assert!(new.last_serial > old.last_serial, "{canon}");
            let (page, _) = page(&client, &new.name).await;
            let project = sim.project_named(&canon).unwrap();
            let newest = &project.versions.last().unwrap().version;
            assert!(
                page.files
                    .iter()
                    .any(|f| f.version.as_ref() == Some(newest))
            );
        } else {
            assert_eq!(new.last_serial, old.last_serial, "{canon}");
        }
    }
    // The next round changes others.
    let again: BTreeSet<String> = sim.change(25).into_iter().collect();
    assert!(again.len() == 25 && again != changed);

    // A removed project is gone from the list, and its page is 404.
    assert!(sim.remove(7));
    let (gone, _) = list(&client).await;
    assert_eq!(gone.projects.len(), 999);
    assert!(!gone.projects.iter().any(|p| p.name == name));
    assert_eq!(client.project(&name, None).await.unwrap(), None);
    assert_eq!(client.project(&name, etag.as_deref()).await.unwrap(), None);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_changelog_answers_what_happened_after_a_serial() {
    let sim = PypiSim::start(10_000, SEED);
    // From nothing: the limit, in serial order, from the first serial on.
    let url = sim.xmlrpc_url();
    let call = |since: i64| {
        let url = url.clone();
        tokio::task::spawn_blocking(move || changelog_url(&url, since))
    };
    let first = call(0).await.unwrap();
    assert_eq!(first.len(), CHANGELOG_LIMIT);
    for (k, e) in first.iter().enumerate() {
        assert_eq!(e.serial, FIRST_SERIAL + k as i64);
    }
    assert_eq!(first[0].action, "create");
    assert!(first.windows(2).all(|w| w[0].timestamp < w[1].timestamp));
    // The history of one project says what its page has.
    let p = sim.project(3).unwrap();
    let events: Vec<&Event> = first.iter().filter(|e| e.name == p.name).collect();
    let adds = events
        .iter()
        .filter(|e| e.action.starts_with("add "))
        .count();
    assert_eq!(
        adds,
        p.versions.iter().map(|v| v.files.len()).sum::<usize>()
    );
    assert_eq!(events.last().unwrap().serial, p.last_serial);
    let sdists = events
        .iter()
        .filter(|e| e.action.starts_with("add source file "))
        .count();
    assert_eq!(sdists, p.versions.iter().filter(|v| v.has_sdist()).count());

    // After the newest serial, only the changes.
    let serial = sim.last_serial();
    assert!(call(serial).await.unwrap().is_empty());
    let changed = sim.change(4);
    assert!(sim.remove(9));
    let after = call(serial).await.unwrap();
    assert_eq!(after.len(), 4 * 3 + 1);
    assert_eq!(after[0].serial, serial + 1);
    assert_eq!(after[0].action, "new release");
    assert!(after[1].action.starts_with("add source file "));
    assert!(after[2].action.starts_with("add py3 file "));
    let names: BTreeSet<String> = after
        .iter()
        .take(12)
        .map(|e| canonicalize_name(&e.name))
        .collect();
    assert_eq!(names, changed.into_iter().collect());
    let last = after.last().unwrap();
    assert_eq!(
        (last.action.as_str(), last.version.as_deref()),
        ("remove project", None)
    );
    assert_eq!(last.serial, sim.last_serial());
    // The in-process view agrees with the wire.
    assert_eq!(sim.changelog(serial), after);
    assert_eq!(sim.requests().xmlrpc, 3);

    // The JSON API gives a summary and a link.
    let p = sim.project(5).unwrap();
    let text = ureq::get(&format!("{}/{}/json", sim.json_url(), p.name))
        .call()
        .unwrap()
        .into_string()
        .unwrap();
    let doc: serde_json::Value = serde_json::from_str(&text).unwrap();
    assert_eq!(doc["info"]["summary"], summary_of(&p));
    assert_eq!(
        doc["info"]["project_url"],
        format!("/project/{}/", p.canonical)
    );
    let missing = ureq::get(&format!("{}/{}/json", sim.json_url(), "no-such-1")).call();
    assert!(matches!(missing, Err(ureq::Error::Status(404, _))));
}

#[test]
fn a_bad_call_is_a_fault() {
    let sim = PypiSim::start(10, SEED);
    for body in [
        "<methodCall><methodName>list_packages</methodName></methodCall>",
        "<methodCall><methodName>changelog_since_serial</methodName><params></params></methodCall>",
        "not xml at all",
    ] {
        let text = ureq::post(&sim.xmlrpc_url())
            .set("Content-Type", "text/xml")
            .send_string(body)
            .unwrap()
            .into_string()
            .unwrap();
        assert!(text.contains("<fault>"), "{body}: {text}");
    }
}
