//! TCP between two nodes by name, in Rust only (no external tools): `b` echoes what `a`
//! sends. Node names resolve inside the sandbox (through its own `/etc/hosts`), so
//! `connect(("b", 7000))` works from any node.
//!
//! The first test is async: futures run inside a node with `node.run` / `node.spawn`. The
//! second is a plain `fn`: blocking std sockets run inside a node with `node.run_blocking` /
//! `node.spawn_thread`, and `net.block_on` drives the async `Node` methods.

use std::io::{Read, Write};

use netns_test::{netns_test, presets, Net};
use tokio::io::{AsyncReadExt, AsyncWriteExt};

// presets::bridge_pair(): nodes `a` and `b` on bridge `br0` (10.0.0.0/24).

#[netns_test(topology = presets::bridge_pair())]
async fn a_echoes_through_b_by_name(net: Net) -> anyhow::Result<()> {
    let b = net.node("b");
    let listener = b
        .run(async { tokio::net::TcpListener::bind("0.0.0.0:7000").await })
        .await?;
    let server = b.spawn(async move {
        let (mut conn, peer) = listener.accept().await?;
        let mut buf = [0u8; 64];
        let n = conn.read(&mut buf).await?;
        conn.write_all(&buf[..n]).await?;
        Ok::<_, std::io::Error>(peer)
    });

    let reply = net
        .node("a")
        .run(async {
            let mut conn = tokio::net::TcpStream::connect(("b", 7000)).await?;
            conn.write_all(b"hello from a").await?;
            let mut reply = Vec::new();
            conn.read_to_end(&mut reply).await?; // b closes after echoing
            Ok::<_, std::io::Error>(reply)
        })
        .await?;

    assert_eq!(reply, b"hello from a");
    let peer = server.await??;
    assert_eq!(peer.ip(), net.node("a").ip(), "b saw a's address");
    Ok(())
}

#[netns_test(topology = presets::bridge_pair())]
fn a_echoes_through_b_with_std_sockets(net: Net) -> anyhow::Result<()> {
    let (a, b) = (net.node("a"), net.node("b"));
    let listener = b.run_blocking(|| std::net::TcpListener::bind("0.0.0.0:7000"))?;
    let server = b.spawn_thread(move || -> std::io::Result<()> {
        let (mut conn, _) = listener.accept()?;
        let mut buf = [0u8; 64];
        let n = conn.read(&mut buf)?;
        conn.write_all(&buf[..n])
    });

    let echo = || -> std::io::Result<Vec<u8>> {
        let mut conn = std::net::TcpStream::connect(("b", 7000))?;
        conn.write_all(b"hello again")?;
        let mut reply = Vec::new();
        conn.read_to_end(&mut reply)?;
        Ok(reply)
    };
    assert_eq!(a.run_blocking(echo)?, b"hello again");
    server.join().expect("the server thread panicked")?;

    // With its only interface down, `a` has no route to `b` at all.
    net.block_on(a.link("eth0").down())?;
    let err = a
        .run_blocking(|| std::net::TcpStream::connect(("b", 7000)))
        .expect_err("a's eth0 is down");
    assert_eq!(err.kind(), std::io::ErrorKind::NetworkUnreachable, "{err}");
    net.block_on(a.link("eth0").up())?;
    Ok(())
}
