//! The kept build queue equals the queue recomputed from scratch, after any sequence of
//! operations (property-based, on both backends).

use crate::common;

use common::{Backend, build, day, target, wheel};
use piwheels_db::{Database, NewFile};
use proptest::prelude::*;

const PACKAGES: &[&str] = &["alpha", "beta", "gamma"];
const VERSIONS: &[&str] = &["1.0", "1.1", "2.0"];
const TARGETS: &[&str] = &[
    "cp39/linux_armv7l",
    "cp311/linux_armv7l",
    "cp311/linux_aarch64",
    "cp311/linux_armv6l",
];

#[derive(Debug, Clone)]
enum Outcome {
    Fail,
    Pure,
    Compiled,
    Abi3(u32),
}

#[derive(Debug, Clone)]
enum Op {
    AddVersion(usize, usize, i64),
    SkipPackage(usize, bool),
    SkipVersion(usize, usize, bool),
    Build(usize, usize, usize, Outcome),
    DeleteBuild(usize, usize),
    DeleteVersion(usize, usize),
    Targets(Vec<bool>),
}

fn op() -> impl Strategy<Value = Op> {
    let p = 0..PACKAGES.len();
    let v = 0..VERSIONS.len();
    let t = 0..TARGETS.len();
    let outcome = prop_oneof![
        Just(Outcome::Fail),
        Just(Outcome::Pure),
        Just(Outcome::Compiled),
        (7u32..13).prop_map(Outcome::Abi3)
    ];
    prop_oneof![
        4 => (p.clone(), v.clone(), 0i64..5).prop_map(|(p, v, d)| Op::AddVersion(p, v, d)),
        1 => (p.clone(), any::<bool>()).prop_map(|(p, s)| Op::SkipPackage(p, s)),
        1 => (p.clone(), v.clone(), any::<bool>()).prop_map(|(p, v, s)| Op::SkipVersion(p, v, s)),
        5 => (p.clone(), v.clone(), t, outcome).prop_map(|(p, v, t, o)| Op::Build(p, v, t, o)),
        1 => (p.clone(), v.clone()).prop_map(|(p, v)| Op::DeleteBuild(p, v)),
        1 => (p, v).prop_map(|(p, v)| Op::DeleteVersion(p, v)),
        1 => proptest::collection::vec(any::<bool>(), TARGETS.len()).prop_map(Op::Targets),
    ]
}

fn files(package: &str, version: &str, target: &str, outcome: &Outcome) -> Option<Vec<NewFile>> {
    let (abi, platform) = target.split_once('/').unwrap();
    let py = abi.trim_end_matches('m');
    match outcome {
        Outcome::Fail => None,
        Outcome::Pure => Some(vec![wheel(
            &format!("{package}-{version}-py3-none-any.whl"),
            &[],
        )]),
        Outcome::Compiled => Some(vec![wheel(
            &format!("{package}-{version}-{py}-{abi}-{platform}.whl"),
            &[],
        )]),
        Outcome::Abi3(minor) => Some(vec![wheel(
            &format!("{package}-{version}-cp3{minor}-abi3-{platform}.whl"),
            &[],
        )]),
    }
}

async fn apply(db: &Database, op: &Op) {
    // Operations on things that do not exist fail with NotFound; that is part of the run.
    match op {
        Op::AddVersion(p, v, d) => {
            let _ = db.add_new_package(PACKAGES[*p], "", "").await;
            db.add_new_package_version(PACKAGES[*p], VERSIONS[*v], Some(day(*d)), "")
                .await
                .unwrap();
        }
        Op::SkipPackage(p, s) => {
            let _ = db
                .skip_package(PACKAGES[*p], if *s { "skip" } else { "" })
                .await;
        }
        Op::SkipVersion(p, v, s) => {
            let _ = db
                .skip_package_version(PACKAGES[*p], VERSIONS[*v], if *s { "skip" } else { "" })
                .await;
        }
        Op::Build(p, v, t, o) => {
            let (p, v, t) = (PACKAGES[*p], VERSIONS[*v], TARGETS[*t]);
            let _ = db.log_build(&build(p, v, t, files(p, v, t, o))).await;
        }
        Op::DeleteBuild(p, v) => {
            db.delete_build(PACKAGES[*p], VERSIONS[*v]).await.unwrap();
        }
        Op::DeleteVersion(p, v) => {
            db.delete_version(PACKAGES[*p], VERSIONS[*v]).await.unwrap();
        }
        Op::Targets(on) => {
            let list: Vec<_> = TARGETS
                .iter()
                .zip(on)
                .filter(|(_, on)| **on)
                .map(|(t, _)| target(t))
                .collect();
            db.set_build_targets(&list).await.unwrap();
        }
    }
}

fn check(backend: Backend, ops: Vec<Op>) -> Result<(), TestCaseError> {
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap();
    rt.block_on(async {
        let Some(t) = common::fresh(backend, "queue_property").await else {
            return Ok(());
        };
        t.db.set_build_targets(&TARGETS[..2].iter().map(|t| target(t)).collect::<Vec<_>>())
            .await
            .unwrap();
        for op in &ops {
            apply(&t.db, op).await;
        }
        let kept = t.db.build_queue(1000).await.unwrap();
        t.db.rebuild_build_queue().await.unwrap();
        let rebuilt = t.db.build_queue(1000).await.unwrap();
        prop_assert_eq!(kept, rebuilt, "after {:?}", ops);
        Ok(())
    })
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 48, ..ProptestConfig::default() })]
    #[test]
    fn sqlite_kept_queue_equals_rebuilt(ops in proptest::collection::vec(op(), 1..40)) {
        check(Backend::Sqlite, ops)?;
    }
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 16, ..ProptestConfig::default() })]
    #[test]
    fn postgres_kept_queue_equals_rebuilt(ops in proptest::collection::vec(op(), 1..40)) {
        check(Backend::Postgres, ops)?;
    }
}
