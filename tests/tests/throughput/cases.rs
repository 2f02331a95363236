//! 50 tests of two nodes on a link (no bridge), each with a TCP connection from one to the
//! other, in both modes: `throughput_default` runs them under libtest (a sandbox process per
//! test), `throughput_harness` in harness mode (one process). The perf benchmark
//! (`netns-test/benches/perf/`) times suites like it.

use std::net::{TcpListener, TcpStream};
use std::time::Duration;

use netns_test::{netns_test, Net, Topology};

fn two_nodes() -> Topology {
    Topology::new()
        .node("a", |n| n)
        .node("b", |n| n)
        .link("a", "b", "10.0.0.0/30")
}

/// `a` connects to a listener of `b`, which accepts.
fn a_connects_to_b(net: &Net) {
    let b = net.node("b");
    let listener = b
        .run_blocking(|| TcpListener::bind(("0.0.0.0", 7000)))
        .expect("bind in b");
    let to = (b.ip(), 7000).into();
    net.node("a")
        .run_blocking(|| TcpStream::connect_timeout(&to, Duration::from_secs(2)))
        .expect("a connects to b");
    listener.accept().expect("b accepts");
}

macro_rules! tcp_tests {
    ($($name:ident)*) => {
        $(
            #[netns_test(topology = two_nodes())]
            fn $name(net: Net) {
                a_connects_to_b(&net);
            }
        )*
    };
}

tcp_tests! {
    tcp01 tcp02 tcp03 tcp04 tcp05 tcp06 tcp07 tcp08 tcp09 tcp10
    tcp11 tcp12 tcp13 tcp14 tcp15 tcp16 tcp17 tcp18 tcp19 tcp20
    tcp21 tcp22 tcp23 tcp24 tcp25 tcp26 tcp27 tcp28 tcp29 tcp30
    tcp31 tcp32 tcp33 tcp34 tcp35 tcp36 tcp37 tcp38 tcp39 tcp40
    tcp41 tcp42 tcp43 tcp44 tcp45 tcp46 tcp47 tcp48 tcp49 tcp50
}
