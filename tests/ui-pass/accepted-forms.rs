// Every form of `#[netns_test]` that the README shows builds: sync and async bodies, a
// `Result` return, the settings, and the crate reached under another name.
use netns_test::{netns_test, presets, Net};

#[netns_test]
fn the_default_topology(net: Net) {
    drop(net);
}

#[netns_test(topology = presets::bridge_pair(), timeout = "30s", keep_artifacts = true)]
async fn async_with_settings(net: Net) -> anyhow::Result<()> {
    net.node("a").assert_reaches(&net.node("b"), netns_test::reach::Probe::Icmp).await;
    Ok(())
}

#[netns_test(topology = presets::bridge_pair())]
#[should_panic(expected = "on purpose")]
fn should_panic(_net: Net) {
    panic!("on purpose");
}

#[netns_test]
#[ignore = "an ignored test builds too"]
fn ignored(_net: Net) {}

mod renamed {
    use netns_test as nt;

    #[nt::netns_test(crate = "nt")]
    fn the_crate_under_another_name(net: nt::Net) {
        drop(net);
    }
}

fn main() {}
