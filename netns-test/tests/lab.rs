//! The public entry for programs: a `Lab` entered once in `main`, networks built from it,
//! several at a time and fully independent of each other.
//!
//! A `harness = false` target: `Lab::enter` must run before any thread exists, so `main`
//! enters first and only then hands the trials to libtest-mimic (whose threads come
//! after). Two trials run in a child process of this binary (`LAB_TEST_CHILD`): one starts
//! a thread before entering, to see the refusal; one lowers its lab's namespace limit, which
//! must not bind the other trials.

use std::io::{Read, Write};
use std::net::{IpAddr, TcpListener, TcpStream};
use std::time::{Duration, Instant};

use libtest_mimic::{Arguments, Failed, Trial};
use netns_test::fault::Conditions;
use netns_test::nft::{Hook, Rule, Ruleset};
use netns_test::reach::Probe;
use netns_test::{presets, Lab, Net, Topology};

const CHILD: &str = "LAB_TEST_CHILD";

fn main() {
    match std::env::var(CHILD).as_deref() {
        Ok("threads") => {
            // Started by `enter_refuses_a_process_with_threads`.
            let t = std::thread::spawn(|| std::thread::sleep(Duration::from_secs(5)));
            match Lab::enter() {
                Ok(_) => println!("entered"),
                Err(e) => println!("refused: {e}"),
            }
            drop(t);
            std::process::exit(0);
        }
        Ok("release") => {
            // Started by `a_dropped_network_releases_its_namespaces`.
            match networks_built_and_dropped_in_turn() {
                Ok(()) => println!("released"),
                Err(e) => println!("failed: {e}"),
            }
            std::process::exit(0);
        }
        _ => {}
    }
    let lab = Lab::enter().unwrap_or_else(|e| panic!("{e}"));
    let args = Arguments::from_args();
    let trial = |name: &'static str, f: fn(&Lab) -> Result<(), Failed>| {
        let lab = lab.clone();
        Trial::test(name, move || f(&lab))
    };
    let trials = vec![
        trial(
            "two_networks_with_the_same_names_and_addresses_carry_their_own_traffic",
            same_names_own_traffic,
        ),
        trial("names_are_those_of_each_network", names_per_network),
        trial(
            "routes_rules_and_partitions_of_one_network_leave_the_other_alone",
            routes_rules_partitions,
        ),
        trial(
            "the_relay_of_one_network_leaves_the_other_alone",
            relays_per_network,
        ),
        trial("a_dropped_network_releases_its_namespaces", dropped_network),
        trial(
            "namespaces_made_ahead_of_time_are_fresh_and_never_shared",
            pooled_namespaces_are_fresh,
        ),
        trial("enter_again_gives_the_same_lab", |_| {
            Lab::enter().map(drop).map_err(|e| e.to_string().into())
        }),
        trial("a_topology_that_cannot_be_planned_is_an_error", |lab| {
            let bad = Topology::new().node("a", |n| n.on("nowhere"));
            match lab.build(&bad) {
                Ok(_) => Err("built a topology with an unknown network".into()),
                Err(e) if e.to_string().contains("nowhere") => Ok(()),
                Err(e) => Err(format!("the error does not name the network: {e}").into()),
            }
        }),
        Trial::test("enter_refuses_a_process_with_threads", enter_with_threads),
    ];
    libtest_mimic::run(&args, trials).exit();
}

/// A TCP server in node `b` that answers every connection with `reply`.
fn serve(net: &Net, port: u16, reply: &'static str) -> std::thread::JoinHandle<()> {
    let listener = net
        .node("b")
        .run_blocking(|| TcpListener::bind(("0.0.0.0", port)))
        .expect("bind in b");
    std::thread::spawn(move || {
        for stream in listener.incoming().take(2) {
            let Ok(mut stream) = stream else { return };
            let _ = stream.write_all(reply.as_bytes());
        }
    })
}

fn fetch(net: &Net, from: &str, to: IpAddr, port: u16) -> std::io::Result<String> {
    net.node(from).run_blocking(|| {
        let mut s = TcpStream::connect_timeout(&(to, port).into(), Duration::from_secs(3))?;
        let mut out = String::new();
        s.read_to_string(&mut out)?;
        Ok(out)
    })
}

fn same_names_own_traffic(lab: &Lab) -> Result<(), Failed> {
    let one = lab.build(&presets::bridge_pair())?;
    let two = lab.build(&presets::bridge_pair())?;
    let (b1, b2) = (one.node("b").ip(), two.node("b").ip());
    if b1 != b2 || one.node("a").ip() != two.node("a").ip() {
        return Err(format!("the same topology planned differently: {b1} vs {b2}").into());
    }
    // Each network has its own host node, not the calling thread's namespace.
    let h1 = one
        .host()
        .run_blocking(|| std::fs::read_link("/proc/thread-self/ns/net"))?;
    let h2 = two
        .host()
        .run_blocking(|| std::fs::read_link("/proc/thread-self/ns/net"))?;
    if h1 == h2 {
        return Err("two networks share their host node's namespace".into());
    }
    // The same address and port in both, each answering its own network's clients.
    let s1 = serve(&one, 7000, "one");
    let s2 = serve(&two, 7000, "two");
    for _ in 0..2 {
        let (r1, r2) = (fetch(&one, "a", b1, 7000)?, fetch(&two, "a", b2, 7000)?);
        if (r1.as_str(), r2.as_str()) != ("one", "two") {
            return Err(format!("replies crossed networks: {r1:?}, {r2:?}").into());
        }
    }
    s1.join().unwrap();
    s2.join().unwrap();
    Ok(())
}

fn names_per_network(lab: &Lab) -> Result<(), Failed> {
    let with_c = presets::bridge_pair().node("c", |n| n.on("br0"));
    let one = lab.build(&with_c)?;
    let two = lab.build(&presets::bridge_pair())?;
    // Positive control: `c` is known in the network that has it...
    let c = one.node("a").output("getent", ["hosts", "c"])?;
    if !c.contains(&one.node("c").ip().to_string()) {
        return Err(format!("getent hosts c in the first network printed {c:?}").into());
    }
    // ... and not in the other, whose name service is its own.
    let out = two
        .node("a")
        .command("getent")
        .args(["hosts", "c"])
        .output()?;
    if out.status.code() != Some(2) || !out.stdout.is_empty() {
        return Err(format!(
            "the second network resolved c: {:?} {:?}",
            out.status,
            String::from_utf8_lossy(&out.stdout)
        )
        .into());
    }
    // `b` resolves in both, to each network's own b.
    for net in [&one, &two] {
        let b = net.node("a").output("getent", ["hosts", "b"])?;
        if !b.contains(&net.node("b").ip().to_string()) {
            return Err(format!("getent hosts b printed {b:?}").into());
        }
    }
    Ok(())
}

fn routes_rules_partitions(lab: &Lab) -> Result<(), Failed> {
    let one = lab.build(&presets::bridge_pair())?;
    let two = lab.build(&presets::bridge_pair())?;
    // A route added in one network's `a`...
    one.node("a")
        .output("ip", ["route", "add", "198.51.100.0/24", "dev", "eth0"])?;
    let r1 = one.node("a").output("ip", ["route"])?;
    let r2 = two.node("a").output("ip", ["route"])?;
    if !r1.contains("198.51.100.0/24") {
        return Err(format!("the route is not in the first network: {r1}").into());
    }
    if r2.contains("198.51.100.0/24") || !r2.contains("default") {
        return Err(format!("the second network's routes changed: {r2}").into());
    }
    // A drop rule in one network's `b` cuts a -> b there only.
    let both_reach = |what: &str| -> Result<(), Failed> {
        for net in [&one, &two] {
            let a = net.node("a");
            net.block_on(async move { a.reach("b", Probe::Icmp).reaches().await })
                .map_err(|e| format!("{what}: {e}"))?;
        }
        Ok(())
    };
    both_reach("before the rule")?;
    let drop_all = Ruleset::named("cut").filter(Hook::Input, Rule::new().drop());
    one.block_on(one.node("b").nft().apply(&drop_all))?;
    let (a1, a2) = (one.node("a"), two.node("a"));
    one.block_on(async move { a1.reach("b", Probe::Icmp).cannot_reach().await })
        .map_err(|e| format!("the rule did not cut the first network: {e}"))?;
    two.block_on(async move { a2.reach("b", Probe::Icmp).reaches().await })
        .map_err(|e| format!("the first network's rule cut the second: {e}"))?;
    one.block_on(one.node("b").nft().delete_table("cut"))?;
    both_reach("after the flush")?;
    // A partition of one network leaves the other whole.
    let split = one.partition(&[&["a"], &["b"]])?;
    let (a1, a2) = (one.node("a"), two.node("a"));
    one.block_on(async move { a1.reach("b", Probe::Icmp).cannot_reach().await })
        .map_err(|e| format!("the partition did not cut the first network: {e}"))?;
    two.block_on(async move { a2.reach("b", Probe::Icmp).reaches().await })
        .map_err(|e| format!("the first network's partition cut the second: {e}"))?;
    split.heal()?;
    both_reach("after healing")?;
    Ok(())
}

fn relays_per_network(lab: &Lab) -> Result<(), Failed> {
    let pair =
        Topology::new()
            .node("a", |n| n)
            .node("b", |n| n)
            .link_with("a", "b", "10.0.0.0/30", |l| l.impairable());
    let one = lab.build(&pair)?;
    let two = lab.build(&pair)?;
    let ifname = one.node("a").ifaces()[0].name.clone();
    // Positive control: both links carry pings through their relays.
    for net in [&one, &two] {
        let a = net.node("a");
        net.block_on(async move { a.reach("b", Probe::Icmp).reaches().await })
            .map_err(|e| format!("before any condition: {e}"))?;
    }
    // All loss on the first network's relay...
    let (a1, a2) = (one.node("a"), two.node("a"));
    let cond = a1.conditions(&ifname);
    one.block_on(async move { cond.set(Conditions::new().loss(1.0)).await })?;
    one.block_on(async move { a1.reach("b", Probe::Icmp).cannot_reach().await })
        .map_err(|e| format!("the loss did not cut the first network: {e}"))?;
    // ... leaves the second's alone, and each relay counts its own frames.
    two.block_on(async move { a2.reach("b", Probe::Icmp).reaches().await })
        .map_err(|e| format!("the first network's relay cut the second: {e}"))?;
    let lost_one = one
        .block_on(one.node("a").conditions(&ifname).stats())?
        .lost;
    let lost_two = two
        .block_on(two.node("a").conditions(&ifname).stats())?
        .lost;
    if lost_one == 0 || lost_two != 0 {
        return Err(format!("relay counters crossed: lost {lost_one} and {lost_two}").into());
    }
    Ok(())
}

/// The network built and dropped in turn: eight network namespaces (its host's included),
/// more than the lab's pool keeps made.
fn eight_namespaces() -> Topology {
    presets::docker_bridge(7)
}

/// Namespaces of a lab that no network holds: the lab's own, and those its pool keeps made
/// ahead of time (`kernel::pool::READY`).
const LAB_OWN_NAMESPACES: u64 = 1 + 6;

/// A dropped network gives its namespaces back: with a namespace limit that fits one
/// network at a time, networks built and dropped in turn all get theirs. The namespaces of
/// the lab and its pool leave room for one network of eight, and no second one (not even
/// a ninth namespace once the pool is spent), so a network that kept any namespace alive
/// makes a build within the next eight fail. The kernel frees a namespace asynchronously:
/// a build that finds the limit reached tries again, for up to 10 s.
fn networks_built_and_dropped_in_turn() -> Result<(), String> {
    let lab = Lab::enter().map_err(|e| e.to_string())?;
    let limit = LAB_OWN_NAMESPACES + 8;
    std::fs::write("/proc/sys/user/max_net_namespaces", limit.to_string())
        .map_err(|e| format!("setting the lab's user.max_net_namespaces to {limit}: {e}"))?;
    for round in 1..=20 {
        let deadline = Instant::now() + Duration::from_secs(10);
        let net = loop {
            match lab.build(&eight_namespaces()) {
                Ok(net) => break net,
                Err(netns_test::Error::Limit {
                    limit: "user.max_net_namespaces",
                    ..
                }) if Instant::now() < deadline => std::thread::sleep(Duration::from_millis(10)),
                Err(e) => {
                    return Err(format!(
                        "round {round}: the namespaces of the networks before were not given back \
                         (limit {limit}): {e}"
                    ))
                }
            }
        };
        let node = net.node("con1");
        drop(net);
        if node.network().is_some() {
            return Err(format!(
                "round {round}: a node still reaches its network after the network was dropped"
            ));
        }
    }
    Ok(())
}

fn dropped_network(_: &Lab) -> Result<(), Failed> {
    let out = std::process::Command::new(std::env::current_exe()?)
        .env(CHILD, "release")
        .output()?;
    let text = String::from_utf8_lossy(&out.stdout);
    if out.status.success() && text.trim_end() == "released" {
        Ok(())
    } else {
        Err(format!(
            "the child ({}) said {text:?} {}",
            out.status,
            String::from_utf8_lossy(&out.stderr)
        )
        .into())
    }
}

/// A lab makes namespaces ahead of time (see `kernel::pool`): networks built back to back,
/// more of them than the pool holds, each get namespaces nobody else has, with nothing in
/// them but what their topology asks for, `lo` up and unprivileged ping allowed.
fn pooled_namespaces_are_fresh(lab: &Lab) -> Result<(), Failed> {
    let nets: Vec<Net> = (0..8)
        .map(|_| lab.build(&presets::bridge_pair()))
        .collect::<Result<_, _>>()?;
    let plan = presets::bridge_pair().plan()?;
    let mut seen = std::collections::HashSet::new();
    for net in &nets {
        for node in net.nodes() {
            let inode = nix::sys::stat::fstat(node.netns())
                .map_err(|e| format!("fstat: {e}"))?
                .st_ino;
            if !seen.insert(inode) {
                return Err(format!("node {} shares namespace {inode}", node.name()).into());
            }
            let (dev, ping) = node.run_blocking(|| {
                (
                    std::fs::read_to_string("/proc/thread-self/net/dev"),
                    std::fs::read_to_string("/proc/sys/net/ipv4/ping_group_range"),
                )
            });
            let mut have: Vec<String> = dev?
                .lines()
                .skip(2)
                .filter_map(|l| l.split(':').next().map(|n| n.trim().to_string()))
                .collect();
            have.sort();
            // Every device the plan puts in this node's namespace, bridge ports included.
            let i = plan
                .node_index(node.name())
                .ok_or("a node not in the plan")?;
            let mut want: Vec<String> = plan
                .bridges
                .iter()
                .filter(|b| b.node == i)
                .map(|b| b.name.clone())
                .collect();
            want.extend(
                plan.veths
                    .iter()
                    .flat_map(|v| &v.ends)
                    .filter(|e| e.node == i)
                    .map(|e| e.name.clone()),
            );
            want.push("lo".to_string());
            want.sort();
            if have != want {
                return Err(format!(
                    "node {}: interfaces {have:?}, planned {want:?}",
                    node.name()
                )
                .into());
            }
            if ping?.split_whitespace().collect::<Vec<_>>() != ["0", "0"] {
                return Err(format!("node {}: ping_group_range not set", node.name()).into());
            }
        }
    }
    // lo is up: every node answers on it.
    for net in &nets {
        let node = net.node("a");
        node.run_blocking(|| {
            TcpListener::bind("127.0.0.1:0").and_then(|l| TcpStream::connect(l.local_addr()?))
        })?;
    }
    Ok(())
}

fn enter_with_threads() -> Result<(), Failed> {
    let out = std::process::Command::new(std::env::current_exe()?)
        .env(CHILD, "threads")
        .output()?;
    let text = String::from_utf8_lossy(&out.stdout);
    if text.contains("refused: Lab::enter must run before the process starts any thread") {
        Ok(())
    } else {
        Err(format!(
            "the child said {text:?} {}",
            String::from_utf8_lossy(&out.stderr)
        )
        .into())
    }
}
