//! A farm of real processes on CURVE (issue 19): `piw-master --master-secret-key --allow-list` and two
//! `piw-slave --master-key --key`, one whose key is in the allow-list and one whose key is
//! not. Only the admitted one builds; the other is refused at the handshake, and both ends
//! say so in their logs.

use crate::support;

use std::fs;
use std::path::Path;
use std::time::Duration;

use piwheels_protocol::auth::KeyPair;
use support::*;

const BUILD_LIMIT: Duration = Duration::from_secs(300);

fn path(p: &Path) -> String {
    p.to_str().unwrap().to_owned()
}

fn slave_keys(master: &Path, own: &Path) -> Vec<String> {
    vec![
        "--master-key".into(),
        path(master),
        "--key".into(),
        path(own),
    ]
}

#[test]
fn only_the_slave_whose_key_is_allowed_builds() {
    let test = "only_the_slave_whose_key_is_allowed_builds";
    let work = tempfile::tempdir().unwrap();
    let Some(upstream) = upstream_with(test, work.path(), &[("pure-thing", "1.0", false)]) else {
        return;
    };
    let keys = work.path().join("keys");
    let allowed = work.path().join("allowed");
    fs::create_dir_all(&keys).unwrap();
    fs::create_dir_all(&allowed).unwrap();
    for name in ["master", "good", "bad"] {
        KeyPair::generate()
            .unwrap()
            .write(&keys.join(name))
            .unwrap();
    }
    fs::copy(keys.join("good.key"), allowed.join("good.key")).unwrap();
    let master_secret = path(&keys.join("master.key_secret"));
    let allow_list = path(&allowed);
    let mut farm = Farm::start(
        &upstream.url,
        &[
            "--master-secret-key",
            &master_secret,
            "--allow-list",
            &allow_list,
        ],
    );
    let master_public = keys.join("master.key");
    farm.slave_args = slave_keys(&master_public, &keys.join("bad.key_secret"));
    farm.start_slave();
    let slave1 = farm.dir.path().join("slave1.log");
    let master_log = farm.dir.path().join("master.log");
    wait_until(
        Duration::from_secs(60),
        "the master logs the refusal",
        || {
            let log = fs::read_to_string(&master_log).unwrap_or_default();
            log.contains("key not in the allow-list").then_some(())
        },
    );
    wait_until(
        Duration::from_secs(60),
        "the refused slave says why",
        || {
            let log = fs::read_to_string(&slave1).unwrap_or_default();
            log.contains("the master refused this slave's connection")
                .then_some(())
        },
    );
    farm.slave_args = slave_keys(&master_public, &keys.join("good.key_secret"));
    farm.start_slave();
    farm.add("pure-thing", "1.0");
    let wheel = farm.wait_for_wheel("pure-thing", BUILD_LIMIT);
    assert!(wheel.exists());
    let refused = fs::read_to_string(&slave1).unwrap();
    assert!(
        !refused.contains("connected to the master"),
        "the refused slave got in:\n{}",
        farm.logs()
    );
    let admitted = fs::read_to_string(farm.dir.path().join("slave2.log")).unwrap();
    assert!(
        admitted.contains("connected to the master"),
        "{}",
        farm.logs()
    );
}
