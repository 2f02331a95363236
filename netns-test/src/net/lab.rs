//! The public way into the namespaces for programs that are not `#[netns_test]` tests: a
//! [`Lab`] is entered once at the start of `main`, then builds any number of networks.
//!
//! Everything a network needs at build time lives here: the check of its cost in file
//! descriptors, its runtime, the files its nodes' programs see. The sandbox of the
//! attribute builds its one network through the same function.

use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, OnceLock};
use std::time::Instant;

use crate::error::{Error, Result};
use crate::kernel::HostNs;
use crate::topology::{Plan, Topology};
use std::os::fd::AsFd;

use crate::environment::explain;
use crate::topology::name_service;
use crate::{environment, kernel, sys};

use super::dns;

use super::Net;

/// Where the nodes' private files (a node's own `resolv.conf`) are written: a tmpfs
/// mounted over `/run` inside the lab, one folder per network and node.
pub(crate) const NODE_FILES: &str = "/run/netns-test";

/// For the project's own tests only ([`crate::__private::set_build_hook`]): called by every
/// network build on its own thread, once the links are made and before they are up.
static BUILD_HOOK: OnceLock<fn()> = OnceLock::new();

/// Sets [`BUILD_HOOK`], once per process; `false` if it was set already.
pub(crate) fn set_build_hook(hook: fn()) -> bool {
    BUILD_HOOK.set(hook).is_ok()
}

/// The namespaces a program's networks live in: a user namespace in which the program is
/// root (its own uid and gid mapped to 0), a mount namespace with the lab's own
/// `/etc/hosts`, `/etc/resolv.conf` and `/etc/nsswitch.conf` (every node asks its own name
/// service), and a network namespace of its own, so that nothing the program does touches
/// the machine's network.
///
/// Enter it once, first thing in `main`, before any thread exists (a process with threads
/// cannot enter a new user namespace); then build networks from [`Topology`] values. Each
/// network is independent of every other: its own `host` node and namespaces, names,
/// routes, nf_tables rules, relays. Dropping the [`Net`] tears it down.
///
/// ```no_run
/// use netns_test::reach::Probe;
/// use netns_test::{presets, Lab};
///
/// fn main() -> netns_test::Result<()> {
///     // Before any thread: tokio's runtime, a logger's thread, anything.
///     let lab = Lab::enter()?;
///     let net = lab.build(&presets::bridge_pair())?;
///     let a = net.node("a");
///     net.block_on(async move { a.assert_reaches("b", Probe::Icmp).await });
///     // Another network, with the same names and addresses, at the same time.
///     let other = lab.build(&presets::bridge_pair())?;
///     println!("{}", other.summary());
///     Ok(()) // both are torn down when dropped
/// }
/// ```
///
/// Cloning gives another handle to the same lab. [`Lab::enter`] called again returns the
/// lab the process is in (also inside a `#[netns_test]` test).
#[derive(Clone, Debug)]
pub struct Lab {
    inner: Arc<LabInner>,
}

#[derive(Debug)]
struct LabInner {
    /// Numbers the networks, for their nodes' file folders.
    next_net: AtomicU64,
    /// Whether `/run` is the lab's own tmpfs yet (mounted when a node first needs a file).
    run_mounted: Mutex<bool>,
    /// The soft and hard `RLIMIT_NOFILE` the process had before entering.
    nofile: Option<(u64, u64)>,
}

/// The lab this process entered, if any: a fact about the process (its namespaces), not
/// about any network.
static ENTERED: OnceLock<Lab> = OnceLock::new();

impl Lab {
    /// Enters fresh user + mount + network namespaces for the whole process (like
    /// `unshare --user --map-root-user --mount --net`, with `--map-auto` where `newuidmap`
    /// and a range in `/etc/subuid` allow it, see
    /// [`crate::environment::lab_id_mapping`]), with the lab's name files mounted and the
    /// soft `RLIMIT_NOFILE` raised to the hard limit.
    ///
    /// Call it before any thread exists. It fails, naming the cause and the remedy, when
    /// the machine does not allow unprivileged user namespaces (see
    /// [`crate::environment::probe`]) or when the process already runs threads.
    pub fn enter() -> Result<Lab> {
        if let Some(lab) = ENTERED.get() {
            return Ok(lab.clone());
        }
        let threads = sys::thread_count().unwrap_or(1);
        if threads > 1 {
            return Err(Error::ThreadsRunning { threads });
        }
        let nofile = environment::raise_nofile();
        // Worked out here: once entered, this process is root of its namespace.
        let ids = crate::id_map::plan();
        sys::unshare_lab(|pid| crate::id_map::write(pid, ids))
            .map_err(|(step, e)| environment::diagnose(&e, step))?;
        mount_name_files()?;
        // A process that entered a lab builds network after network: their namespaces
        // are made ahead of time (see `kernel::pool`).
        kernel::pool::enable();
        let lab = Lab::new(nofile);
        Ok(ENTERED.get_or_init(|| lab).clone())
    }

    /// The lab of a `#[netns_test]` sandbox, whose namespaces the sandbox made (and whose
    /// name files it mounted, with [`mount_name_files`]).
    pub(crate) fn in_sandbox(nofile: Option<(u64, u64)>) -> Lab {
        ENTERED.get_or_init(|| Lab::new(nofile)).clone()
    }

    fn new(nofile: Option<(u64, u64)>) -> Lab {
        Lab {
            inner: Arc::new(LabInner {
                next_net: AtomicU64::new(1),
                run_mounted: Mutex::new(false),
                nofile,
            }),
        }
    }

    /// Builds a network: every node, `host` included, in a network namespace of its own,
    /// with its links, addresses, routes, nf_tables rules and name service, every link up.
    ///
    /// A topology that cannot be planned fails before anything is built, naming every
    /// problem; a machine limit (file descriptors, network namespaces, threads) is named
    /// with its value and the remedy.
    pub fn build(&self, topology: &Topology) -> Result<Net> {
        self.build_network(topology, HostNs::Fresh)
    }

    /// Builds a network whose `host` node is the calling thread's network namespace (the
    /// sandbox's, or a harness-mode test's, where a `#[netns_test]` body runs); `prepared`
    /// when that namespace had [`kernel::pool::prepare`] already.
    pub(crate) fn build_here(&self, topology: &Topology, prepared: bool) -> Result<Net> {
        self.build_network(topology, HostNs::Current { prepared })
    }

    fn build_network(&self, topology: &Topology, host: HostNs) -> Result<Net> {
        let planning = Instant::now();
        let plan = topology.plan()?;
        let seed = super::seed_from_env()?;
        let keep_nft = fd_budget(&plan, self.inner.nofile).map_err(explain)?;
        let planned = planning.elapsed();
        let rt = runtime().map_err(explain)?;
        let start = Instant::now();
        let id = self.inner.next_net.fetch_add(1, Ordering::Relaxed);
        let files = self.node_files(id, &plan).map_err(explain)?;
        let ns = {
            let _guard = rt.enter();
            kernel::open_namespaces(&plan, keep_nft, host)
        }
        .map_err(explain)?;
        let names = start_name_services(&plan, &ns, &rt)?;
        let built = rt.block_on(kernel::build(&plan, &ns)).map_err(explain)?;
        // Relays of impairable links, ready before the first frame.
        let relays = super::relay::start(&plan, &ns).map_err(explain)?;
        super::nat64::start(&plan, &ns, &rt).map_err(explain)?;
        if let Some(hook) = BUILD_HOOK.get() {
            hook();
        }
        rt.block_on(built.wait_up()).map_err(explain)?;
        let net = Net::new(plan, ns, rt, relays, names, files, seed);
        net.block_on(add_planned_dummies(&net))?;
        // The topology's link conditions, in force before the first line of the test.
        net.block_on(super::conditions::apply_planned(&net))?;
        net.set_build_time(planned + start.elapsed());
        Ok(net)
    }

    /// Writes the nodes' private files of network `id` and returns their folder.
    fn node_files(&self, id: u64, plan: &Plan) -> Result<PathBuf> {
        let dir = Path::new(NODE_FILES).join(format!("net{id}"));
        if plan.nodes.iter().all(|n| n.resolv_conf.is_none()) {
            return Ok(dir);
        }
        {
            // A lab-private /run: it also hides the machine's, and with it sockets like
            // nscd's that would answer names from outside the lab.
            let mut mounted = self
                .inner
                .run_mounted
                .lock()
                .unwrap_or_else(|e| e.into_inner());
            if !*mounted {
                sys::mount_tmpfs(Path::new("/run"))
                    .map_err(|e| Error::sys("mounting a tmpfs on /run", e))?;
                *mounted = true;
            }
        }
        for node in &plan.nodes {
            if let Some(text) = &node.resolv_conf {
                let node_dir = dir.join(&node.name);
                std::fs::create_dir_all(&node_dir)
                    .and_then(|()| std::fs::write(node_dir.join("resolv.conf"), text))
                    .map_err(|e| {
                        Error::sys(
                            format!("writing the resolv.conf of node {:?}", node.name),
                            e,
                        )
                    })?;
            }
        }
        Ok(dir)
    }
}

/// The interfaces of the nodes' own that the topology declares
/// ([`crate::topology::NodeBuilder::iface`]), made as [`crate::Node::add_iface`] makes them.
async fn add_planned_dummies(net: &Net) -> Result<()> {
    for (node, planned) in net.nodes().iter().zip(&net.plan().nodes) {
        for d in &planned.dummies {
            let options = d
                .addrs
                .iter()
                .fold(super::IfaceOptions::new(), |o, a| o.addr(&a.to_string()));
            node.add_iface(&d.name, options).await?;
        }
    }
    Ok(())
}

/// Binds each namespace's name service (on its `lo`, up by now) and serves it on the
/// network's runtime: the names that node may know (see [`Plan::names_for`]), the reverse
/// lookups of their addresses, and the records of the store, which starts with the
/// topology's and which `Net::dns` changes.
fn start_name_services(
    plan: &Plan,
    ns: &[kernel::NodeNs],
    rt: &tokio::runtime::Runtime,
) -> Result<dns::NameService> {
    let service = dns::NameService::new(plan);
    for (i, node) in plan.nodes.iter().enumerate() {
        let Some(view) = service.view(i, node.dns64) else {
            continue; // It shares another node's namespace.
        };
        let keeps_53 = name_service::keeper(plan, i).is_some();
        let sock = sys::in_netns(ns[i].netns.as_fd(), || dns::bind(keeps_53))
            .and_then(|r| r)
            .map_err(|e| {
                explain(Error::sys(
                    format!("starting the name service of node {:?}", node.name),
                    e,
                ))
            })?;
        let _guard = rt.enter();
        rt.spawn(dns::serve(sock, view));
    }
    Ok(service)
}

/// Mounts the lab's `/etc/hosts`, `/etc/resolv.conf` and `/etc/nsswitch.conf` (after
/// making every mount private to the lab's mount namespace): names come from each node's
/// own name service at 127.0.0.11 (see `dns`), through glibc's dns module even where the
/// machine routes names elsewhere (nss-resolve).
pub(crate) fn mount_name_files() -> Result<()> {
    sys::make_mounts_private().map_err(|e| Error::sys("making mounts private", e))?;
    let hosts = "127.0.0.1\tlocalhost netns-test\n::1\tlocalhost ip6-localhost ip6-loopback\n";
    let resolv = format!(
        "# netns-test sandbox: every node asks its own name service.\nnameserver {}\noptions ndots:0 timeout:1 attempts:2\n",
        dns::ADDR
    );
    let nsswitch = match std::fs::read_to_string("/etc/nsswitch.conf") {
        Ok(text) => {
            text.lines()
                .map(|l| {
                    if l.trim_start().starts_with("hosts:") {
                        "hosts: files dns"
                    } else {
                        l
                    }
                })
                .collect::<Vec<_>>()
                .join("\n")
                + "\n"
        }
        Err(_) => "hosts: files dns\n".to_string(),
    };
    let files: [(&Path, &[u8]); 3] = [
        (Path::new("/etc/hosts"), hosts.as_bytes()),
        (Path::new("/etc/resolv.conf"), resolv.as_bytes()),
        (Path::new("/etc/nsswitch.conf"), nsswitch.as_bytes()),
    ];
    let failed = sys::bind_memfiles(Path::new("/tmp"), &files)
        .map_err(|e| Error::sys("mounting a tmpfs on /tmp", e))?;
    // /etc/nsswitch.conf may be missing (glibc's default then asks dns); the other two
    // must be ours.
    if let Some((path, e)) = failed
        .into_iter()
        .find(|(p, _)| p != Path::new("/etc/nsswitch.conf"))
    {
        return Err(Error::sys(
            format!("mounting the sandbox's {}", path.display()),
            e,
        ));
    }
    Ok(())
}

/// File descriptors of the sandbox itself, whatever the topology: stdio, the report pipe,
/// the runtime's epoll and eventfd, the capture thread's wake socket... (16 measured,
/// doubled).
const FDS_SANDBOX: u64 = 32;
/// Left free for the test's body: its sockets and files, the pipes of the programs it runs.
const FDS_BODY: u64 = 64;
/// Each node with a network namespace of its own, during the build and after it: the
/// namespace, its rtnetlink socket, its name service's socket (measured: 1000 nodes on a
/// bridge hold 4024 fds, nf_tables sockets included).
const FDS_PER_NAMESPACE: u64 = 3;
/// Each node's nf_tables socket, kept open after its rules went in (see `nft::Kept`)
/// where the limit leaves room for it, else closed at once.
const FDS_NFT: u64 = 1;
/// A node sharing another's namespace: a duplicate of that namespace's fd.
const FDS_PER_SHARED: u64 = 1;
/// A relay of an impairable link: a packet socket on each side.
const FDS_PER_RELAY: u64 = 2;
/// Interfaces one capture socket filters on (see `diag`).
const CAPTURE_IFACES_PER_SOCKET: u64 = 250;

/// Network namespaces a plan needs: one per node with a network of its own, the host's
/// included.
pub(crate) fn namespaces_needed(plan: &Plan) -> u64 {
    plan.nodes.iter().filter(|n| n.net_of.is_none()).count() as u64
}

/// What `plan` costs in file descriptors, nf_tables sockets left out.
pub(crate) fn fds_needed(plan: &Plan) -> environment::FdNeed {
    let namespaces = namespaces_needed(plan);
    let shared = plan.nodes.len() as u64 - namespaces;
    // The capture (diag) needs at most a socket per 250 bridge ports of a node, and one
    // for each link without an end on a bridge.
    let mut ports = vec![0u64; plan.nodes.len()];
    let mut unbridged = 0u64;
    for v in &plan.veths {
        let bridged: Vec<_> = v.ends.iter().filter(|e| e.master.is_some()).collect();
        match bridged.first() {
            Some(e) => ports[e.node] += 1,
            None => unbridged += 1,
        }
    }
    let capture = unbridged
        + ports
            .iter()
            .map(|&p| p.div_ceil(CAPTURE_IFACES_PER_SOCKET))
            .sum::<u64>();
    let reserve = FDS_SANDBOX
        + FDS_BODY
        + capture
        + shared * FDS_PER_SHARED
        + plan.relays.len() as u64 * FDS_PER_RELAY;
    environment::FdNeed {
        total: reserve + namespaces * FDS_PER_NAMESPACE,
        namespaces,
        per_namespace: FDS_PER_NAMESPACE,
        reserve,
    }
}

/// Before anything is built: whether the file descriptor limit allows the topology, and
/// whether it leaves room to keep each node's nf_tables socket open. `nofile` is the
/// limit the process had before the lab raised it.
fn fd_budget(plan: &Plan, nofile: Option<(u64, u64)>) -> Result<bool> {
    let Some((before, _)) = nofile else {
        // The limit cannot be read: build, and let a failure name it.
        return Ok(true);
    };
    let limit = sys::get_rlimit(sys::Rlimit::Nofile).map_or(before, |(soft, _)| soft);
    let need = fds_needed(plan);
    if need.total + need.namespaces * FDS_NFT <= limit {
        Ok(true)
    } else if need.total <= limit {
        Ok(false)
    } else {
        Err(environment::too_few_fds(need, before, limit))
    }
}

/// The tokio runtime a network's own tasks run on (netlink connections, name services),
/// and the `host` node's code. tokio panics when the OS refuses it its worker thread; that
/// panic becomes an error naming the thread limit.
fn runtime() -> Result<tokio::runtime::Runtime> {
    let what = "starting the network's tokio runtime (its worker thread)";
    let built = std::panic::catch_unwind(|| {
        tokio::runtime::Builder::new_multi_thread()
            .worker_threads(1)
            .thread_name("netns-test-host")
            .enable_all()
            .build()
    });
    match built {
        Ok(Ok(rt)) => Ok(rt),
        Ok(Err(e)) => Err(Error::sys(what, e)),
        Err(payload) => {
            let msg = payload
                .downcast_ref::<&str>()
                .map(|s| s.to_string())
                .or_else(|| payload.downcast_ref::<String>().cloned())
                .unwrap_or_default();
            let errno = msg
                .rsplit_once("(os error ")
                .and_then(|(_, n)| n.trim_end_matches(')').parse::<i32>().ok());
            Err(Error::sys(
                what,
                errno.map_or_else(
                    || std::io::Error::other(msg.clone()),
                    std::io::Error::from_raw_os_error,
                ),
            ))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fds_needed_grow_with_the_nodes() {
        let need = |t: Topology| fds_needed(&t.plan().expect("plan"));
        let small = need(crate::presets::docker_bridge(20));
        assert_eq!(small.namespaces, 21);
        assert_eq!(
            small.total,
            FDS_SANDBOX + FDS_BODY + 1 + 21 * FDS_PER_NAMESPACE
        );
        // 1000 nodes fit a hard limit of 4096 (with the nf_tables sockets closed), not 1024.
        let big = need(crate::presets::docker_bridge(1000));
        assert_eq!(big.namespaces, 1001);
        assert!(big.total <= 4096 && big.total > 1024, "{big:?}");
        assert!(big.total + big.namespaces * FDS_NFT > 4000, "{big:?}");
        // A link without a bridge costs a capture socket.
        let link = need(
            Topology::new()
                .node("a", |n| n)
                .link("host", "a", "10.0.0.0/30"),
        );
        assert_eq!(
            link.total,
            FDS_SANDBOX + FDS_BODY + 1 + 2 * FDS_PER_NAMESPACE
        );
    }
}
