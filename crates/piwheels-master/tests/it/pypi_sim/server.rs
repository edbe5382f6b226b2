//! The generator's HTTP side: the routes, and the pages, JSON and XML-RPC answers made
//! from [`Sim`].

use std::fmt::Write as _;
use std::sync::Arc;
use std::sync::atomic::Ordering;

use axum::Router;
use axum::body::Bytes;
use axum::extract::{Path, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use piwheels_db::canonicalize_name;

use super::{SIMPLE_JSON, Sim, SimProject, WORDS, XmlRpcFailure, mix, rfc3339, time_of};

/// The routes, on `sim`.
pub(super) fn router(sim: Arc<Sim>) -> Router {
    Router::new()
        .route("/simple/", get(list))
        .route("/simple/{name}/", get(page))
        .route("/simple/{name}", get(page))
        .route("/pypi/{name}/json", get(json_api))
        .route("/pypi", post(xmlrpc))
        .with_state(sim)
}

fn wants_json(headers: &HeaderMap) -> bool {
    headers
        .get(header::ACCEPT)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.contains(SIMPLE_JSON))
}

fn not_modified(headers: &HeaderMap, etag: &str) -> bool {
    headers
        .get(header::IF_NONE_MATCH)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.split(',').any(|t| t.trim() == etag))
}

fn answer(content_type: &'static str, etag: Option<String>, body: String) -> Response {
    let mut r = (StatusCode::OK, body).into_response();
    let h = r.headers_mut();
    h.insert(header::CONTENT_TYPE, HeaderValue::from_static(content_type));
    if let Some(etag) = etag {
        h.insert(header::ETAG, HeaderValue::from_str(&etag).unwrap());
    }
    r
}

fn unchanged(etag: String) -> Response {
    let mut r = StatusCode::NOT_MODIFIED.into_response();
    r.headers_mut()
        .insert(header::ETAG, HeaderValue::from_str(&etag).unwrap());
    r
}

fn escape(s: &str) -> String {
    s.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
        .replace('"', "&quot;")
}

async fn list(State(sim): State<Arc<Sim>>, headers: HeaderMap) -> Response {
    sim.counters.list.fetch_add(1, Ordering::SeqCst);
    let json = wants_json(&headers);
    let m = sim.mutable.read().unwrap();
    let etag = format!(
        "\"list-{}-{}\"",
        m.last_serial,
        if json { "j" } else { "h" }
    );
    if not_modified(&headers, &etag) {
        return unchanged(etag);
    }
    let mut body = String::with_capacity(sim.n * 60);
    if json {
        write!(
            body,
            r#"{{"meta":{{"api-version":"1.1","_last-serial":{}}},"projects":["#,
            m.last_serial
        )
        .unwrap();
    } else {
        body.push_str("<!DOCTYPE html>\n<html><head><title>Simple index</title></head><body>\n");
    }
    let mut first = true;
    for i in 0..sim.n {
        if m.changed.get(&i).is_some_and(|c| c.removed) {
            continue;
        }
        let name = sim.name(i);
        if json {
            let comma = if first { "" } else { "," };
            let serial = sim.last_serial_of(&m, i);
            write!(
                body,
                r#"{comma}{{"name":"{name}","_last-serial":{serial}}}"#
            )
            .unwrap();
        } else {
            let canonical = canonicalize_name(&name);
            writeln!(body, r#"<a href="/simple/{canonical}/">{name}</a>"#).unwrap();
        }
        first = false;
    }
    drop(m);
    if json {
        body.push_str("]}");
        answer(SIMPLE_JSON, Some(etag), body)
    } else {
        body.push_str("</body></html>\n");
        answer("text/html", Some(etag), body)
    }
}

/// A file's (fake but stable) sha256, from its name.
fn sha256_of(seed: u64, filename: &str) -> String {
    let mut h = seed;
    for b in filename.bytes() {
        h = mix(h ^ u64::from(b));
    }
    (0..4).map(|k| format!("{:016x}", mix(h ^ k))).collect()
}

fn page_json(sim: &Sim, p: &SimProject) -> String {
    let mut files = Vec::new();
    for v in &p.versions {
        for f in &v.files {
            let yanked = if v.yanked {
                r#""broken build""#
            } else {
                "false"
            };
            files.push(format!(
                r#"{{"filename":"{fname}","url":"/packages/{fname}","hashes":{{"sha256":"{hash}"}},"requires-python":">=3.8","yanked":{yanked},"upload-time":"{time}","size":{size}}}"#,
                fname = f.filename,
                hash = sha256_of(sim.seed, &f.filename),
                time = rfc3339(time_of(f.serial)),
                size = 1000 + mix(f.serial as u64) % 100_000,
            ));
        }
    }
    let versions: Vec<String> = p
        .versions
        .iter()
        .map(|v| format!("\"{}\"", v.version))
        .collect();
    format!(
        r#"{{"meta":{{"api-version":"1.1","_last-serial":{}}},"name":"{}","versions":[{}],"files":[{}]}}"#,
        p.last_serial,
        p.canonical,
        versions.join(","),
        files.join(",")
    )
}

fn page_html(sim: &Sim, p: &SimProject) -> String {
    let mut body = format!(
        "<!DOCTYPE html>\n<html><head><meta name=\"pypi:repository-version\" content=\"1.1\"><title>Links for {0}</title></head><body><h1>Links for {0}</h1>\n",
        escape(&p.name)
    );
    for v in &p.versions {
        for f in &v.files {
            let yanked = if v.yanked {
                " data-yanked=\"broken build\""
            } else {
                ""
            };
            writeln!(
                body,
                r#"<a href="/packages/{0}#sha256={1}" data-requires-python="&gt;=3.8"{yanked}>{0}</a><br />"#,
                f.filename,
                sha256_of(sim.seed, &f.filename)
            )
            .unwrap();
        }
    }
    body.push_str(&format!(
        "</body></html>\n<!--SERIAL {}-->\n",
        p.last_serial
    ));
    body
}

async fn page(
    State(sim): State<Arc<Sim>>,
    Path(name): Path<String>,
    headers: HeaderMap,
) -> Response {
    sim.counters.page.fetch_add(1, Ordering::SeqCst);
    let found = sim.index_of(&canonicalize_name(&name)).and_then(|i| {
        let m = sim.mutable.read().unwrap();
        sim.project(&m, i)
    });
    let Some(p) = found else {
        return StatusCode::NOT_FOUND.into_response();
    };
    let json = wants_json(&headers);
    let etag = format!("\"{}-{}\"", p.last_serial, if json { "j" } else { "h" });
    if not_modified(&headers, &etag) {
        sim.counters.not_modified.fetch_add(1, Ordering::SeqCst);
        return unchanged(etag);
    }
    if json {
        answer(SIMPLE_JSON, Some(etag), page_json(&sim, &p))
    } else {
        answer("text/html", Some(etag), page_html(&sim, &p))
    }
}

/// A project's one-line summary: it says how many times the project changed, so a change
/// shows in it.
pub fn summary_of(p: &SimProject) -> String {
    format!(
        "{} tools for the {} of things (release {})",
        p.name,
        WORDS[p.index % WORDS.len()],
        p.versions.len()
    )
}

async fn json_api(State(sim): State<Arc<Sim>>, Path(name): Path<String>) -> Response {
    sim.counters.json.fetch_add(1, Ordering::SeqCst);
    let found = sim.index_of(&canonicalize_name(&name)).and_then(|i| {
        let m = sim.mutable.read().unwrap();
        sim.project(&m, i)
    });
    let Some(p) = found else {
        return (StatusCode::NOT_FOUND, "{\"message\": \"Not Found\"}").into_response();
    };
    let latest = p.versions.last().map_or("", |v| v.version.as_str());
    let body = serde_json::json!({
        "info": {
            "name": p.name,
            "version": latest,
            "summary": summary_of(&p),
            "project_url": format!("/project/{}/", p.canonical),
            "package_url": format!("/project/{}/", p.canonical),
        },
        "last_serial": p.last_serial,
        "urls": [],
    });
    answer("application/json", None, body.to_string())
}

fn fault(code: i32, why: &str) -> String {
    format!(
        "<?xml version='1.0'?>\n<methodResponse><fault><value><struct>\
         <member><name>faultCode</name><value><int>{code}</int></value></member>\
         <member><name>faultString</name><value><string>{}</string></value></member>\
         </struct></value></fault></methodResponse>\n",
        escape(why)
    )
}

/// The text between `<tag>` and `</tag>`.
fn between<'a>(text: &'a str, tag: &str) -> Option<&'a str> {
    let open = format!("<{tag}>");
    let start = text.find(&open)? + open.len();
    let end = text[start..].find(&format!("</{tag}>"))? + start;
    Some(text[start..end].trim())
}

/// The failure a test asked for.
fn failure(f: XmlRpcFailure) -> Response {
    match f {
        XmlRpcFailure::Status(status) => (
            StatusCode::from_u16(status).expect("a valid HTTP status"),
            "the XML-RPC endpoint is failing on purpose\n",
        )
            .into_response(),
        XmlRpcFailure::Fault(code) => answer(
            "text/xml",
            None,
            fault(code, "failing on purpose (a test asked for it)"),
        ),
        XmlRpcFailure::Body { content_type, body } => {
            let mut r = (StatusCode::OK, body).into_response();
            r.headers_mut()
                .insert(header::CONTENT_TYPE, HeaderValue::from_static(content_type));
            r
        }
    }
}

async fn xmlrpc(State(sim): State<Arc<Sim>>, body: Bytes) -> Response {
    sim.counters.xmlrpc.fetch_add(1, Ordering::SeqCst);
    if let Some(f) = sim.xmlrpc_failure.lock().unwrap().clone() {
        return failure(f);
    }
    let xml = |text: String| answer("text/xml", None, text);
    let Ok(text) = std::str::from_utf8(&body) else {
        return xml(fault(-32700, "parse error: not UTF-8"));
    };
    match between(text, "methodName") {
        Some("changelog_since_serial") => {}
        Some("changelog_last_serial") => {
            let serial = sim.mutable.read().unwrap().last_serial;
            return xml(format!(
                "<?xml version='1.0'?>\n<methodResponse><params><param><value><int>{serial}</int>\
                 </value></param></params></methodResponse>\n"
            ));
        }
        Some(other) => return xml(fault(-32601, &format!("method {other} not supported"))),
        None => return xml(fault(-32700, "parse error: no methodName")),
    }
    let since = between(text, "int")
        .or_else(|| between(text, "i4"))
        .or_else(|| between(text, "i8"))
        .and_then(|v| v.parse::<i64>().ok());
    let Some(since) = since else {
        return xml(fault(-32602, "changelog_since_serial takes one int"));
    };
    let events = sim.changelog(since);
    let mut out = String::with_capacity(events.len() * 300 + 200);
    out.push_str("<?xml version='1.0'?>\n<methodResponse><params><param><value><array><data>\n");
    for e in events {
        let version = match &e.version {
            Some(v) => format!("<value><string>{}</string></value>", escape(v)),
            None => "<value><nil/></value>".to_owned(),
        };
        writeln!(
            out,
            "<value><array><data><value><string>{}</string></value>{version}\
             <value><int>{}</int></value><value><string>{}</string></value>\
             <value><int>{}</int></value></data></array></value>",
            escape(&e.name),
            e.timestamp,
            escape(&e.action),
            e.serial
        )
        .unwrap();
    }
    out.push_str("</data></array></value></param></params></methodResponse>\n");
    xml(out)
}
