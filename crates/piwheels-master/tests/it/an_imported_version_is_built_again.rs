//! Issue 14, item 5: after `piw-add tinyimp 2.0` and a successful `piw-import` of its
//! `py3-none-any` wheel, the master handed tinyimp 2.0 to a slave seconds later, and a
//! useless failed build was stored. A version whose wheels serve a target is not handed
//! out for it, imported wheels included, and not even from a queue read before the import.

use crate::core_support;

use core_support::farm::*;
use core_support::*;
use piwheels_master::mr_chase::MrChase;
use piwheels_protocol::import::{ImportProtocol, ImportReply, ImportRequest};
use piwheels_protocol::slave::SlaveReply;
use piwheels_protocol::states::BuildState;
use piwheels_protocol::transport::asynchronous::Req;
use piwheels_protocol::transport::{SocketOptions, zmq};

async fn ask(req: &mut Req<ImportProtocol>, request: ImportRequest) -> ImportReply {
    tokio::time::timeout(WAIT, req.request(&request))
        .await
        .expect("MrChase answers")
        .unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_imported_version_is_not_handed_to_a_slave() {
    let farm = Farm::start(|_, _| {}).await;
    farm.hub
        .db
        .skip_package("bar", "not in this test")
        .await
        .unwrap();
    farm.hub
        .db
        .skip_package("foo", "not in this test")
        .await
        .unwrap();
    let chase = MrChase::bind(farm.hub.clone()).unwrap();
    let endpoint = chase.endpoint().unwrap();
    piwheels_master::hub::supervise(chase, farm.hub.quit.clone());
    let ctx = zmq::Context::new();
    let mut tool = Req::<ImportProtocol>::connect(
        &ctx,
        &endpoint,
        &SocketOptions::new().linger(Some(std::time::Duration::ZERO)),
    )
    .unwrap();

    // piw-add tinyimp 2.0, and the queue has it.
    assert_eq!(
        ask(&mut tool, ImportRequest::AddPackage(addpkg("tinyimp"))).await,
        ImportReply::Done("NEWPKG".into())
    );
    assert_eq!(
        ask(
            &mut tool,
            ImportRequest::AddVersion(addver("tinyimp", "2.0"))
        )
        .await,
        ImportReply::Done("NEWVER".into())
    );
    farm.wait_for_queue(|jobs| jobs.iter().any(|(p, _)| p == "tinyimp"))
        .await;

    // piw-import of its pure wheel: IMPORT, the upload as slave 0, SENT, DONE.
    let data = wheel("tinyimp", "2.0", 500);
    let name = "tinyimp-2.0-py3-none-any.whl";
    let reply = ask(
        &mut tool,
        ImportRequest::Import(BuildState {
            slave_id: 0,
            package: "tinyimp".into(),
            version: "2.0".into(),
            abi_tag: target().abi,
            status: true,
            duration: chrono::TimeDelta::seconds(3),
            output: "imported".into(),
            files: vec![file_state(name, &data, "any")],
        }),
    )
    .await;
    assert_eq!(reply, ImportReply::Send(name.into()));
    assert!(send_file(&farm.files, 0, &data, None).await.done);
    assert_eq!(
        ask(&mut tool, ImportRequest::Sent).await,
        ImportReply::Done("IMPORT".into())
    );
    assert!(farm.env.simple().join("tinyimp").join(name).exists());

    // An idle slave, at once and later, gets nothing: the wheel serves its target.
    let (mut s, _) = farm.our_hello(hello()).await;
    assert_eq!(s.ask(idle()).await, SlaveReply::Sleep(false));
    farm.wait_for_queue(|jobs| !jobs.iter().any(|(p, _)| p == "tinyimp"))
        .await;
    assert_eq!(s.ask(idle()).await, SlaveReply::Sleep(false));
    // And no build but the import was stored.
    assert_eq!(farm.hub.db.all_build_ids().await.unwrap().len(), 1);
    farm.stop().await;
}
