use netns_test::__private::{run_async, run_sync, TestSpec};
use netns_test::{presets, Net};

#[test]
fn pair_talks_over_tcp() {
    run_async(
        TestSpec {
            path: concat!(module_path!(), "::", "pair_talks_over_tcp"),
            timeout_ms: Some(20_000),
            keep_artifacts: false,
        },
        presets::bridge_pair,
        |net: Net| async move {
            let b = net.node("b");
            let listener = b
                .run(async { tokio::net::TcpListener::bind("0.0.0.0:7000").await.unwrap() })
                .await;
            let acc = b.spawn(async move {
                let (mut s, _) = listener.accept().await.unwrap();
                use tokio::io::AsyncWriteExt;
                s.write_all(b"hi").await.unwrap();
            });
            let got = net
                .node("a")
                .run(async {
                    use tokio::io::AsyncReadExt;
                    let mut s = tokio::net::TcpStream::connect(("b", 7000)).await.unwrap();
                    let mut v = Vec::new();
                    s.read_to_end(&mut v).await.unwrap();
                    v
                })
                .await;
            acc.await.unwrap();
            assert_eq!(got, b"hi");
            println!("{}", net.summary());
            Ok::<(), std::io::Error>(())
        },
    )
}

#[test]
fn ping_and_ip_route_work() {
    run_sync(
        TestSpec {
            path: concat!(module_path!(), "::", "ping_and_ip_route_work"),
            timeout_ms: Some(20_000),
            keep_artifacts: false,
        },
        presets::two_networks,
        |net: Net| {
            let out = net
                .node("con1")
                .command("ip")
                .args(["route"])
                .output()
                .unwrap();
            println!("{}", String::from_utf8_lossy(&out.stdout));
            let out = net
                .node("con1")
                .command("ip")
                .args(["addr"])
                .output()
                .unwrap();
            println!("{}", String::from_utf8_lossy(&out.stdout));
        },
    )
}
