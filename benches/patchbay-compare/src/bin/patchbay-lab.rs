//! The lab in patchbay 0.7, as its README writes a lab: the user namespace entered first,
//! a `Lab`, routers from presets, devices behind them; then the exchange and the drop.
//! IPv4 only (`PublicV4`, and `Home` with `IpSupport::V4Only`), as the netns-test side.

use std::net::{IpAddr, SocketAddr, UdpSocket};

use anyhow::Context;
use patchbay::{IpSupport, Lab, RouterPreset};
use patchbay_compare::{exchange, RELAY_PORT};

fn main() -> anyhow::Result<()> {
    // Before any thread: patchbay's own bootstrap into a user namespace.
    patchbay::init_userns().context("patchbay::init_userns")?;
    run()
}

#[tokio::main]
async fn run() -> anyhow::Result<()> {
    let lab = Lab::new().await?;
    let dc = lab
        .add_router("dc")
        .preset(RouterPreset::PublicV4)
        .build()
        .await?;
    let home1 = lab
        .add_router("home1")
        .preset(RouterPreset::Home)
        .ip_support(IpSupport::V4Only)
        .build()
        .await?;
    let home2 = lab
        .add_router("home2")
        .preset(RouterPreset::Home)
        .ip_support(IpSupport::V4Only)
        .build()
        .await?;
    let relay = lab
        .add_device("relay")
        .iface("eth0", dc.id())
        .build()
        .await?;
    let alice = lab
        .add_device("alice")
        .iface("eth0", home1.id())
        .build()
        .await?;
    let bob = lab
        .add_device("bob")
        .iface("eth0", home2.id())
        .build()
        .await?;

    let relay_ip = relay.ip().context("the relay has no IPv4 address")?;
    let relay_addr = SocketAddr::from((relay_ip, RELAY_PORT));
    let r = relay.run_sync(move || Ok(UdpSocket::bind(relay_addr)?))?;
    let a = alice.run_sync(|| Ok(UdpSocket::bind(("0.0.0.0", 0))?))?;
    let b = bob.run_sync(|| Ok(UdpSocket::bind(("0.0.0.0", 0))?))?;
    let seen = exchange(&r, relay_addr, &a, &b).context("udp exchange")?;
    let wan = |ip: Option<std::net::Ipv4Addr>| IpAddr::from(ip.expect("a router's WAN address"));
    seen.check(wan(home1.uplink_ip()), wan(home2.uplink_ip()));
    println!("{seen}");
    drop((r, a, b));
    drop(lab);
    Ok(())
}
