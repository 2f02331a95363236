//! The live network a test body gets: nodes, their interfaces and addresses, code and
//! programs running inside a node, and changes at run time.

use std::ffi::OsStr;
use std::fmt;
use std::future::Future;
use std::net::{IpAddr, Ipv6Addr};
use std::os::fd::{AsFd, AsRawFd, BorrowedFd, OwnedFd};
use std::sync::{Arc, OnceLock};

use ipnet::IpNet;
use rtnetlink::Handle;
use tokio::runtime::Runtime;

pub(crate) use self::notes::{DiffCell, LinkConditions, MatrixDiff};
use crate::error::{Error, Result};
use crate::kernel::NodeNs;
pub use crate::kernel::RouteEntry;
use crate::sys;
use crate::topology::{Plan, HOST};

pub use self::iface::{IfaceKind, IfaceOptions};

pub(crate) mod conditions;
pub(crate) mod dns;
mod dns_handle;
mod handles;
mod iface;
mod lab;
mod nat64;
mod notes;
pub(crate) mod relay;
mod state;

pub use dns_handle::DnsHandle;
pub use handles::{AddrHandle, LinkHandle, NftHandle, RouteHandle};
pub use lab::Lab;
pub(crate) use lab::{mount_name_files, namespaces_needed, set_build_hook};
pub use relay::RelayStats;
pub use state::SEED_ENV;
pub(crate) use state::{seed_from_env, NetState};

/// A network: every node of its topology, built and up. A `#[netns_test]` body gets one;
/// a program builds any number with [`Lab::build`].
///
/// Cheap to clone; every clone refers to the same network. When the last clone is dropped
/// the network is torn down: its nodes' runtimes stop, their namespaces are freed by the
/// kernel. A [`Node`] kept longer still names its namespace, but the network's own tasks
/// (netlink connections, name services, relays) are gone.
#[derive(Clone)]
pub struct Net {
    inner: Arc<NetInner>,
}

pub(crate) struct NetInner {
    plan: Plan,
    nodes: Vec<Node>,
    rt: tokio::runtime::Handle,
    /// Set once the network is complete (see `Lab::build`).
    build_time: OnceLock<std::time::Duration>,
    /// What features above keep per network (probe results, counters).
    pub(crate) state: NetState,
    /// The relays of the network's impairable links.
    relays: Vec<Arc<relay::Relay>>,
    /// The name services: the DNS records they read (see [`Net::dns`]) and node names.
    names: dns::NameService,
    // Last: the runtime the network's tasks run on, stopped when the network goes.
    _runtime: OwnedRuntime,
}

/// A runtime shut down without blocking when dropped (dropping a runtime blocks, which is
/// not allowed inside another runtime).
struct OwnedRuntime(Option<Runtime>);

impl Drop for OwnedRuntime {
    fn drop(&mut self) {
        if let Some(rt) = self.0.take() {
            rt.shutdown_background();
        }
    }
}

impl fmt::Debug for Net {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Net")
            .field("nodes", &self.inner.nodes)
            .finish()
    }
}

impl Net {
    pub(crate) fn new(
        plan: Plan,
        ns: Vec<NodeNs>,
        rt: Runtime,
        relays: Vec<Arc<relay::Relay>>,
        names: dns::NameService,
        files: std::path::PathBuf,
        seed: u64,
    ) -> Net {
        let handle = rt.handle().clone();
        let max_ifindex = plan
            .bridges
            .iter()
            .map(|b| b.index)
            .chain(
                plan.veths
                    .iter()
                    .flat_map(|v| v.ends.iter().map(|e| e.index)),
            )
            .chain(plan.vxlans.iter().map(|x| x.index))
            .max()
            .unwrap_or(1);
        let inner = Arc::new_cyclic(|net: &std::sync::Weak<NetInner>| {
            let nodes = ns
                .into_iter()
                .enumerate()
                .map(|(i, ns)| {
                    let p = &plan.nodes[i];
                    // A node sharing another's namespace has its interfaces and indexes.
                    let owner = p.net_of.unwrap_or(i);
                    let ifaces = p
                        .ifaces
                        .iter()
                        .map(|f| Iface {
                            name: f.name.clone(),
                            index: plan
                                .ifindex(owner, &f.name)
                                .expect("the plan gives every interface an index"),
                            mac: f.mac,
                            network: f.network.clone(),
                            addrs: f.addrs.clone(),
                            kind: if plan
                                .bridges
                                .iter()
                                .any(|b| b.node == owner && b.name == f.name)
                            {
                                IfaceKind::Bridge
                            } else {
                                IfaceKind::Veth
                            },
                        })
                        .collect();
                    Node {
                        inner: Arc::new(NodeInner {
                            runtime: OnceLock::new(),
                            net: net.clone(),
                            name: p.name.clone(),
                            ifaces: std::sync::RwLock::new(ifaces),
                            nl: ns.nl,
                            dumps: tokio::sync::Mutex::new(()),
                            resolv_conf: p
                                .resolv_conf
                                .is_some()
                                .then(|| files.join(&p.name).join("resolv.conf")),
                            mounts: OnceLock::new(),
                            _nft: ns.nft,
                            netns: ns.netns,
                        }),
                    }
                })
                .collect();
            NetInner {
                plan,
                nodes,
                rt: handle,
                build_time: OnceLock::new(),
                state: NetState {
                    netem: OnceLock::new(),
                    partitions: Default::default(),
                    next_ifindex: std::sync::atomic::AtomicU32::new(max_ifindex + 1),
                    iface_changes: Default::default(),
                    replug_routes: Default::default(),
                    seed,
                    seed_used: Default::default(),
                    conditions: Default::default(),
                    matrix_mismatch: Default::default(),
                    link_conditions: Default::default(),
                },
                relays,
                names,
                _runtime: OwnedRuntime(Some(rt)),
            }
        });
        Net { inner }
    }

    /// The seed every random impairment of this network draws from (relay loss, jitter,
    /// reorder, duplicate, corrupt, bursty loss; netem's where the kernel takes a seed),
    /// unless [`Conditions::seed`](crate::fault::Conditions::seed) gives one:
    /// `NETNS_TEST_SEED` when set, else a fresh one per network. A failing test that used
    /// random impairments prints it; running it again with `NETNS_TEST_SEED=SEED` draws
    /// the same losses for the same traffic (see [`crate::fault`]).
    pub fn seed(&self) -> u64 {
        self.inner.state.seed
    }

    /// Whether random impairments were applied on this network (its failure then names
    /// [`Net::seed`]).
    pub(crate) fn seed_used(&self) -> bool {
        self.inner
            .state
            .seed_used
            .load(std::sync::atomic::Ordering::Relaxed)
    }

    /// The relays of the network's impairable links.
    pub(crate) fn relays(&self) -> &[Arc<relay::Relay>] {
        &self.inner.relays
    }

    /// What the features above keep for this network.
    pub(crate) fn state(&self) -> &NetState {
        &self.inner.state
    }

    /// The runtime the network's own tasks run on.
    pub(crate) fn handle(&self) -> &tokio::runtime::Handle {
        &self.inner.rt
    }

    /// The node called `name`.
    ///
    /// # Panics
    /// If there is none; the message lists the nodes there are and the panic's location
    /// is the caller's line. See [`Net::try_node`].
    #[track_caller]
    pub fn node(&self, name: &str) -> Node {
        match self.try_node(name) {
            Ok(node) => node,
            Err(e) => panic!("{e}"),
        }
    }

    /// The node called `name`, or an error listing the nodes there are.
    pub fn try_node(&self, name: &str) -> Result<Node> {
        self.inner
            .nodes
            .iter()
            .find(|n| n.name() == name)
            .cloned()
            .ok_or_else(|| Error::UnknownNode {
                name: name.to_string(),
                known: self
                    .inner
                    .nodes
                    .iter()
                    .map(|n| n.name().to_string())
                    .collect(),
            })
    }

    /// The host node: the sandbox's own network namespace, where the test body runs.
    pub fn host(&self) -> Node {
        self.inner.nodes[0].clone()
    }

    /// Every node, the host first.
    pub fn nodes(&self) -> &[Node] {
        &self.inner.nodes
    }

    /// The plan the network was built from.
    pub fn plan(&self) -> &Plan {
        &self.inner.plan
    }

    /// How long building the network took, from planning to every link up (namespaces,
    /// netlink sockets, links, addresses, routes), without the sandbox's own start.
    pub fn build_time(&self) -> std::time::Duration {
        self.inner.build_time.get().copied().unwrap_or_default()
    }

    /// Records how long building the network took, once it is complete.
    pub(crate) fn set_build_time(&self, took: std::time::Duration) {
        let _ = self.inner.build_time.set(took);
    }

    /// A one-screen summary of nodes, interfaces, addresses and routes.
    pub fn summary(&self) -> String {
        self.inner.plan.summary()
    }

    /// Runs a future to completion from synchronous code, on the network's runtime: the
    /// way to await the handles' requests ([`Node::link`], [`Node::nft`], ...) in a sync
    /// test or a program's `main`, which run in their node whichever thread drives them.
    /// The future runs on the calling thread: a socket it opens itself is in the calling
    /// thread's namespace (the `host` node's in a `#[netns_test]` body). To run a future
    /// of your own inside a node, use [`Node::block_on`] (or [`Node::run`]).
    pub fn block_on<F: Future>(&self, fut: F) -> F::Output {
        self.inner.rt.block_on(fut)
    }
}

/// One node of the network: a network namespace with its interfaces.
///
/// Cheap to clone. Changes at run time go through one handle per kind of object, each
/// mirroring a command: [`Node::link`] (`ip link`), [`Node::addr`] (`ip addr`),
/// [`Node::route`] (`ip route`), [`Node::nft`] (`nft`, `conntrack`) and
/// [`Node::conditions`] (`tc qdisc`).
///
/// Code that should see the node's network (sockets, `getaddrinfo` with
/// its `/etc/hosts`, programs) runs through [`Node::run`], [`Node::spawn`],
/// [`Node::run_blocking`], [`Node::spawn_thread`] or [`Node::command`].
///
/// Programs ([`Node::command`], [`Node::tokio_command`], [`Node::output`]) and Rust code
/// run through `run`, `spawn`, `run_blocking` or `spawn_thread` see the node's files, as
/// under `ip netns exec`: at `/sys` a sysfs of the node's network, at `/proc/net` the
/// network of the reading thread (a link to `/proc/thread-self/net`; `/proc/self/net`
/// stays the process's first thread's), and the node's own `/etc/resolv.conf` where it has
/// one, so a resolver in the node (hickory, `to_socket_addrs`) asks the server the node
/// is given. Each thread enters the node's mount namespace once, when it starts, with a
/// filesystem context of its own: it keeps the working directory's path, and a later
/// `std::env::set_current_dir` elsewhere does not move it.
#[derive(Clone)]
pub struct Node {
    inner: Arc<NodeInner>,
}

struct NodeInner {
    /// The network the node belongs to (see [`Node::network`]).
    net: std::sync::Weak<NetInner>,
    // Dropped before `netns`: the runtime's threads stand in it.
    runtime: OnceLock<NodeRuntime>,
    name: String,
    /// Its interfaces now: as planned, then as replugged, added and removed at run time
    /// (see [`Node::replug`]).
    ifaces: std::sync::RwLock<Vec<Iface>>,
    nl: Handle,
    /// The kernel allows one dump at a time per netlink socket (EBUSY otherwise).
    dumps: tokio::sync::Mutex<()>,
    /// The node's own resolv.conf, where it has one (written by `Lab`).
    resolv_conf: Option<std::path::PathBuf>,
    /// The mount namespace of the node's programs and threads, made at the first one (see
    /// `Node::command`), or why it could not be made.
    mounts: OnceLock<std::result::Result<Arc<OwnedFd>, (String, i32)>>,
    /// Kept open while the network lives (see `nft::Kept`).
    _nft: Option<crate::nft::Kept>,
    netns: OwnedFd,
}

/// A multi-thread tokio runtime whose every thread (workers and blocking pool) enters the
/// node's namespace when it starts.
struct NodeRuntime(Option<Runtime>);

impl Drop for NodeRuntime {
    fn drop(&mut self) {
        // Dropping a runtime blocks, which is not allowed inside another runtime.
        if let Some(rt) = self.0.take() {
            rt.shutdown_background();
        }
    }
}

impl fmt::Debug for Node {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Node")
            .field("name", &self.inner.name)
            .field("ifaces", &self.ifaces())
            .finish()
    }
}

/// An interface of a node, as planned, or as [`Node::replug`] and [`Node::add_iface`] made
/// it at run time: other changes (addresses added with [`Node::addr`], links taken down
/// with [`Node::link`]) do not show here. For the kernel's live view, use
/// [`Node::netlink`] or run `ip addr` in the node.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Iface {
    /// Interface name (`eth0`, or the bridge's name for a bridge the node holds).
    pub name: String,
    /// Interface index in the node's namespace.
    pub index: u32,
    /// MAC address.
    pub mac: [u8; 6],
    /// The network (bridge) or link it belongs to.
    pub network: String,
    /// Addresses with prefix length.
    pub addrs: Vec<IpNet>,
    /// The kind of device it is made of.
    pub kind: IfaceKind,
}

impl Node {
    /// The network this node belongs to, or `None` once that network has been dropped
    /// (torn down).
    pub fn network(&self) -> Option<Net> {
        self.inner.net.upgrade().map(|inner| Net { inner })
    }

    /// The node's name.
    pub fn name(&self) -> &str {
        &self.inner.name
    }

    /// True for the host node.
    pub fn is_host(&self) -> bool {
        self.inner.name == HOST
    }

    /// Its interfaces other than `lo`, now: those [`Node::replug`], [`Node::add_iface`]
    /// and [`Node::remove_iface`] changed at run time as they are after the change.
    pub fn ifaces(&self) -> Vec<Iface> {
        self.inner
            .ifaces
            .read()
            .unwrap_or_else(|e| e.into_inner())
            .clone()
    }

    /// Changes the node's interfaces as the kernel now has them.
    pub(crate) fn update_ifaces<R>(&self, f: impl FnOnce(&mut Vec<Iface>) -> R) -> R {
        f(&mut self.inner.ifaces.write().unwrap_or_else(|e| e.into_inner()))
    }

    /// The interface called `name`.
    ///
    /// # Panics
    /// If there is none; the message lists the interfaces there are and the panic's
    /// location is the caller's line. See [`Node::try_iface`].
    #[track_caller]
    pub fn iface(&self, name: &str) -> Iface {
        match self.try_iface(name) {
            Ok(iface) => iface,
            Err(e) => panic!("{e}"),
        }
    }

    /// The interface called `name`, or an error listing the interfaces there are.
    pub fn try_iface(&self, name: &str) -> Result<Iface> {
        let ifaces = self.ifaces();
        match ifaces.iter().position(|i| i.name == name) {
            Some(i) => Ok(ifaces[i].clone()),
            None => Err(Error::UnknownInterface {
                node: self.inner.name.clone(),
                name: name.to_string(),
                known: ifaces.into_iter().map(|i| i.name).collect(),
                conditions: false,
            }),
        }
    }

    /// Every address of the node.
    pub fn addrs(&self) -> impl Iterator<Item = IpNet> + '_ {
        self.ifaces().into_iter().flat_map(|i| i.addrs)
    }

    /// Its first IPv4 address.
    ///
    /// # Panics
    /// If it has none (a node on no network, or IPv6 only); the panic's location is the
    /// caller's line. See [`Node::try_ip`].
    #[track_caller]
    pub fn ip(&self) -> IpAddr {
        match self.try_ip() {
            Ok(ip) => ip,
            Err(e) => panic!("{e}"),
        }
    }

    /// Its first IPv4 address, or [`Error::NoAddress`] if it has none.
    pub fn try_ip(&self) -> Result<IpAddr> {
        self.addrs()
            .map(|a| a.addr())
            .find(IpAddr::is_ipv4)
            .ok_or_else(|| Error::NoAddress {
                node: self.inner.name.clone(),
                network: None,
            })
    }

    /// Its first IPv6 address, if any: `None` is an answer (most topologies are IPv4
    /// only), not a failed lookup.
    pub fn ip6(&self) -> Option<Ipv6Addr> {
        self.addrs().find_map(|a| match a.addr() {
            IpAddr::V6(ip) => Some(ip),
            IpAddr::V4(_) => None,
        })
    }

    /// Its first IPv4 address on `network` (a bridge network or a link, by name).
    ///
    /// # Panics
    /// If it has none there; the panic's location is the caller's line. See
    /// [`Node::try_ip_on`].
    #[track_caller]
    pub fn ip_on(&self, network: &str) -> IpAddr {
        match self.try_ip_on(network) {
            Ok(ip) => ip,
            Err(e) => panic!("{e}"),
        }
    }

    /// Its first IPv4 address on `network`, or [`Error::NoAddress`] naming the networks
    /// it is on.
    pub fn try_ip_on(&self, network: &str) -> Result<IpAddr> {
        self.ifaces()
            .iter()
            .filter(|i| i.network == network)
            .flat_map(|i| &i.addrs)
            .map(|a| a.addr())
            .find(IpAddr::is_ipv4)
            .ok_or_else(|| Error::NoAddress {
                node: self.inner.name.clone(),
                network: Some(network.to_string()),
            })
    }

    /// The namespace's fd (for `setns` by code of your own).
    pub fn netns(&self) -> BorrowedFd<'_> {
        self.inner.netns.as_fd()
    }

    /// The node's rtnetlink handle, for requests this API does not cover.
    pub fn netlink(&self) -> &Handle {
        &self.inner.nl
    }

    fn runtime(&self) -> &Runtime {
        self.inner
            .runtime
            .get_or_init(|| {
                // The runtime's threads may start as long as it lives: each enters the
                // namespace through an fd of the runtime's own.
                let fd = Arc::new(self.inner.netns.try_clone().unwrap_or_else(|e| {
                    panic!(
                        "duplicating the netns fd of node {:?}: {e}",
                        self.inner.name
                    )
                }));
                let mounts = self.thread_mounts();
                let name = self.inner.name.clone();
                let rt = tokio::runtime::Builder::new_multi_thread()
                    .worker_threads(2)
                    .thread_name(format!("netns-{name}"))
                    .enable_all()
                    .on_thread_start(move || {
                        sys::enter_node(fd.as_fd(), mounts.as_deref().map(AsFd::as_fd))
                            .unwrap_or_else(|e| panic!("entering node {name:?}: {e}"))
                    })
                    .build()
                    .unwrap_or_else(|e| {
                        panic!("starting the runtime of node {:?}: {e}", self.inner.name)
                    });
                NodeRuntime(Some(rt))
            })
            .0
            .as_ref()
            .expect("runtime present until drop")
    }

    /// Spawns a task on the node's own multi-thread tokio runtime: every socket it opens
    /// is in the node's namespace (like `ip netns exec NODE`, for async Rust).
    pub fn spawn<F>(&self, fut: F) -> tokio::task::JoinHandle<F::Output>
    where
        F: Future + Send + 'static,
        F::Output: Send + 'static,
    {
        self.runtime().spawn(fut)
    }

    /// Runs a future inside the node and returns its output; a panic in it is re-raised
    /// here.
    pub fn run<F>(&self, fut: F) -> impl Future<Output = F::Output> + Send + 'static
    where
        F: Future + Send + 'static,
        F::Output: Send + 'static,
    {
        let task = self.spawn(fut);
        let name = self.inner.name.clone();
        async move {
            match task.await {
                Ok(v) => v,
                Err(e) if e.is_panic() => std::panic::resume_unwind(e.into_panic()),
                Err(e) => panic!("the task in node {name:?} was cancelled: {e}"),
            }
        }
    }

    /// Runs a future inside the node from synchronous code, blocking until it is done:
    /// [`Node::run`], waited for. Its sockets are the node's, unlike those of a future
    /// given to [`Net::block_on`], which runs on the calling thread.
    pub fn block_on<F>(&self, fut: F) -> F::Output
    where
        F: Future + Send + 'static,
        F::Output: Send + 'static,
    {
        futures::executor::block_on(self.run(fut))
    }

    /// Runs a closure on a thread standing in the node's namespace and returns its result
    /// (std sockets, blocking code), like [`Node::run`] for a future. A panic in it is
    /// re-raised here. It starts no program: see [`Node::command`] for that.
    ///
    /// ```no_run
    /// # #[allow(dead_code)] fn f(net: netns_test::Net) -> std::io::Result<()> {
    /// // A socket of b's, used from any thread afterwards.
    /// let socket = net.node("b").run_blocking(|| std::net::UdpSocket::bind("0.0.0.0:53"))?;
    /// println!("b listens on {}", socket.local_addr()?);
    /// # Ok(()) }
    /// ```
    pub fn run_blocking<R: Send>(&self, f: impl FnOnce() -> R + Send) -> R {
        std::thread::scope(|s| {
            let t = s.spawn(|| {
                self.enter_here();
                f()
            });
            t.join().unwrap_or_else(|p| std::panic::resume_unwind(p))
        })
    }

    /// The former name of [`Node::run_blocking`], which it calls: the closure runs on a
    /// thread, no program is executed.
    #[deprecated(note = "renamed to `Node::run_blocking`")]
    pub fn exec<R: Send>(&self, f: impl FnOnce() -> R + Send) -> R {
        self.run_blocking(f)
    }

    /// Spawns a thread standing in the node's namespace.
    pub fn spawn_thread<R, F>(&self, f: F) -> std::thread::JoinHandle<R>
    where
        F: FnOnce() -> R + Send + 'static,
        R: Send + 'static,
    {
        let node = self.clone();
        std::thread::Builder::new()
            .name(format!("netns-{}", self.inner.name))
            .spawn(move || {
                node.enter_here();
                f()
            })
            .expect("spawning a thread")
    }

    /// A [`std::process::Command`] whose program starts inside the node (like
    /// `ip netns exec NODE PROGRAM`). It dies with the test's sandbox at the latest.
    ///
    /// What the program sees, as under `ip netns exec`:
    ///
    /// - the node's network, and at `/sys` a sysfs of it: `/sys/class/net` lists exactly
    ///   `lo` and the node's interfaces, `/sys/class/net/eth0/address` is its MAC;
    /// - the node's own `/etc/resolv.conf` when the topology gives it one;
    /// - everything else as the sandbox has it, mounts made there during the test included.
    ///
    /// A `program` without a `/` is looked up when the Command is made: in this process's
    /// `PATH`, then in `/usr/local/sbin`, `/usr/sbin` and `/sbin`, as root's `PATH` would
    /// (`ip`, `sysctl`, `nft`, `tc`, `bridge` live there, outside an ordinary user's
    /// `PATH`); the program still gets the bare name as its `argv[0]`. One found nowhere
    /// fails to spawn with [`std::io::ErrorKind::NotFound`]; [`Node::output`] says which
    /// package provides it.
    pub fn command(&self, program: impl AsRef<OsStr>) -> std::process::Command {
        self.command_of(program.as_ref()).0
    }

    /// The Command of [`Node::command`], and where its program is.
    fn command_of(&self, program: &OsStr) -> (std::process::Command, Program) {
        use std::os::unix::process::CommandExt;
        let found = find_program(program);
        let mut cmd = match &found {
            Program::Found(path) => {
                let mut cmd = std::process::Command::new(path);
                cmd.arg0(program);
                cmd
            }
            Program::AsGiven | Program::Missing => std::process::Command::new(program),
        };
        let mounts = match self.mounts() {
            Ok(fd) => Ok(fd.as_raw_fd()),
            Err((_, errno)) => Err(*errno),
        };
        sys::command_in_netns(&mut cmd, self.inner.netns.as_raw_fd(), mounts);
        (cmd, found)
    }

    /// Runs a program inside the node to completion and returns its standard output, or
    /// an error naming the node, the command, its exit status and its standard error
    /// (like `ip netns exec NODE PROGRAM ARGS...` in a script with `set -e`). The program
    /// is found and sees the node as with [`Node::command`]; when it is installed nowhere,
    /// the error names the package that provides it.
    ///
    /// ```no_run
    /// # #[allow(dead_code)] fn f(net: netns_test::Net) -> netns_test::Result<()> {
    /// let routes = net.node("con1").output("ip", ["route"])?;
    /// assert!(routes.contains("default via 172.17.0.1 dev eth0"));
    /// let mac = net.node("con1").output("cat", ["/sys/class/net/eth0/address"])?;
    /// assert_eq!(mac.trim(), "02:42:ac:11:00:02");
    /// # Ok(()) }
    /// ```
    pub fn output<I, S>(&self, program: &str, args: I) -> Result<String>
    where
        I: IntoIterator<Item = S>,
        S: AsRef<OsStr>,
    {
        let args: Vec<std::ffi::OsString> =
            args.into_iter().map(|a| a.as_ref().to_owned()).collect();
        let shown = || {
            std::iter::once(program.to_string())
                .chain(args.iter().map(|a| a.to_string_lossy().into_owned()))
                .collect::<Vec<_>>()
                .join(" ")
        };
        let starting = || format!("node {:?}: starting `{}`", self.inner.name, shown());
        if let Err((what, errno)) = self.mounts() {
            return Err(Error::sys(
                format!("{}: {what}", starting()),
                std::io::Error::from_raw_os_error(*errno),
            ));
        }
        let (mut cmd, found) = self.command_of(program.as_ref());
        if let Program::Missing = found {
            return Err(Error::sys(starting(), missing_program(program)));
        }
        let out = cmd
            .args(&args)
            .output()
            .map_err(|e| Error::sys(starting(), e))?;
        if !out.status.success() {
            return Err(Error::Command {
                node: self.inner.name.clone(),
                command: shown(),
                status: out.status,
                stderr: String::from_utf8_lossy(&out.stderr).trim_end().to_string(),
            });
        }
        Ok(String::from_utf8_lossy(&out.stdout).into_owned())
    }

    /// A [`tokio::process::Command`] whose program starts inside the node, found and
    /// seeing the node as with [`Node::command`].
    pub fn tokio_command(&self, program: impl AsRef<OsStr>) -> tokio::process::Command {
        tokio::process::Command::from(self.command(program))
    }

    /// The mount namespace of the node's programs (see [`Node::command`]), made at the
    /// first one, or what failed and its errno.
    fn mounts(&self) -> &std::result::Result<Arc<OwnedFd>, (String, i32)> {
        self.inner.mounts.get_or_init(|| {
            // The node's own resolv.conf, written by `Lab` when the network was built.
            let resolv_conf = self.inner.resolv_conf.clone();
            match sys::node_mounts(self.netns(), resolv_conf.as_deref()) {
                Ok(mounts) => {
                    if let Some(e) = mounts.sysfs {
                        static WARNED: std::sync::atomic::AtomicBool =
                            std::sync::atomic::AtomicBool::new(false);
                        if !WARNED.swap(true, std::sync::atomic::Ordering::Relaxed) {
                            eprintln!(
                                "netns-test: node {:?}: this machine refuses to mount a sysfs \
                                 of the node's network ({e}), so programs in nodes see the \
                                 machine's /sys/class/net instead of the node's interfaces",
                                self.inner.name
                            );
                        }
                    }
                    if let Some(e) = mounts.proc_net {
                        static WARNED: std::sync::atomic::AtomicBool =
                            std::sync::atomic::AtomicBool::new(false);
                        if !WARNED.swap(true, std::sync::atomic::Ordering::Relaxed) {
                            eprintln!(
                                "netns-test: node {:?}: this machine refuses to mount a link \
                                 to /proc/thread-self/net over /proc/net ({e}; Linux 5.2 or \
                                 later can), so Rust code in nodes reads /proc/net of the \
                                 process's first thread",
                                self.inner.name
                            );
                        }
                    }
                    Ok(Arc::new(mounts.ns))
                }
                Err(e) => Err((
                    format!(
                        "making the mount namespace of its programs (its /sys{})",
                        if self.inner.resolv_conf.is_some() {
                            " and /etc/resolv.conf"
                        } else {
                            ""
                        }
                    ),
                    e.raw_os_error().unwrap_or(libc::EIO),
                )),
            }
        })
    }

    /// The node's mount namespace for its threads, or `None` (with a warning, once) where
    /// it cannot be made: the threads then enter the node's network only.
    fn thread_mounts(&self) -> Option<Arc<OwnedFd>> {
        match self.mounts() {
            Ok(fd) => Some(fd.clone()),
            Err((what, errno)) => {
                static WARNED: std::sync::atomic::AtomicBool =
                    std::sync::atomic::AtomicBool::new(false);
                if !WARNED.swap(true, std::sync::atomic::Ordering::Relaxed) {
                    eprintln!(
                        "netns-test: node {:?}: {what} failed ({}), so its threads see the \
                         sandbox's files (/etc/resolv.conf, /sys, /proc/net)",
                        self.inner.name,
                        std::io::Error::from_raw_os_error(*errno)
                    );
                }
                None
            }
        }
    }

    /// Moves the calling thread into the node: its network and mount namespaces.
    fn enter_here(&self) {
        let mounts = self.thread_mounts();
        sys::enter_node(self.netns(), mounts.as_deref().map(AsFd::as_fd))
            .unwrap_or_else(|e| panic!("entering node {:?}: {e}", self.inner.name));
    }

    /// The lock that keeps dumps on the node's rtnetlink socket one at a time (the
    /// kernel answers a second concurrent dump with EBUSY).
    pub(crate) fn dump_lock(&self) -> &tokio::sync::Mutex<()> {
        &self.inner.dumps
    }
}

/// Where the program of a Command is.
enum Program {
    /// A path (it has a `/`): used as given.
    AsGiven,
    /// Found in `PATH` or an sbin directory.
    Found(std::path::PathBuf),
    /// Found nowhere.
    Missing,
}

/// The directories searched after `PATH`, as root's `PATH` has them.
const SBIN_DIRS: [&str; 3] = ["/usr/local/sbin", "/usr/sbin", "/sbin"];

/// `PATH` when the process has none (glibc's `execvp` default, with `/usr/local/bin`).
const DEFAULT_PATH: &str = "/usr/local/bin:/usr/bin:/bin";

fn find_program(name: &OsStr) -> Program {
    use std::os::unix::ffi::OsStrExt;
    use std::os::unix::fs::PermissionsExt;
    if name.is_empty() || name.as_bytes().contains(&b'/') {
        return Program::AsGiven;
    }
    let path = std::env::var_os("PATH").unwrap_or_else(|| DEFAULT_PATH.into());
    std::env::split_paths(&path)
        .filter(|dir| !dir.as_os_str().is_empty())
        .chain(SBIN_DIRS.iter().map(std::path::PathBuf::from))
        .map(|dir| dir.join(name))
        .find(|p| {
            std::fs::metadata(p).is_ok_and(|m| m.is_file() && m.permissions().mode() & 0o111 != 0)
        })
        .map_or(Program::Missing, Program::Found)
}

/// The Debian/Ubuntu package of the programs tests commonly run in nodes.
fn package_of(program: &str) -> Option<&'static str> {
    Some(match program {
        "ip" | "bridge" | "tc" | "ss" => "iproute2",
        "ping" => "iputils-ping",
        "nft" => "nftables",
        "iptables" | "ip6tables" => "iptables",
        "curl" => "curl",
        "python3" => "python3",
        "tcpdump" => "tcpdump",
        "sysctl" => "procps",
        "brctl" => "bridge-utils",
        "route" | "ifconfig" | "netstat" | "arp" => "net-tools",
        "nc" => "netcat-openbsd",
        "dig" | "nslookup" => "dnsutils",
        "socat" => "socat",
        "iperf3" => "iperf3",
        "conntrack" => "conntrack",
        _ => return None,
    })
}

/// The error for a program found nowhere: where it was looked for, and how to install it.
fn missing_program(program: &str) -> std::io::Error {
    let path = std::env::var_os("PATH").map_or_else(
        || format!("{DEFAULT_PATH} (the default: PATH is unset)"),
        |p| p.to_string_lossy().into_owned(),
    );
    let remedy = match package_of(program) {
        Some(pkg) => {
            format!("it comes with the package {pkg} on Debian and Ubuntu (apt-get install {pkg})")
        }
        None => "install it, or give the program's full path".to_string(),
    };
    std::io::Error::new(
        std::io::ErrorKind::NotFound,
        format!(
            "there is no program {program:?} in PATH ({path}) nor in {}; {remedy}",
            SBIN_DIRS.join(", ")
        ),
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_missing_program_names_its_package_and_where_it_was_looked_for() {
        let e = missing_program("brctl").to_string();
        assert!(e.contains("\"brctl\""), "{e}");
        assert!(e.contains("apt-get install bridge-utils"), "{e}");
        assert!(e.contains("/usr/local/sbin, /usr/sbin, /sbin"), "{e}");
        let e = missing_program("netns-test-unknown").to_string();
        assert!(
            e.contains("install it, or give the program's full path"),
            "{e}"
        );
        assert_eq!(missing_program("ip").kind(), std::io::ErrorKind::NotFound);
    }

    #[test]
    fn every_program_of_the_issue_has_its_package() {
        for (program, package) in [
            ("ip", "iproute2"),
            ("bridge", "iproute2"),
            ("tc", "iproute2"),
            ("ss", "iproute2"),
            ("ping", "iputils-ping"),
            ("nft", "nftables"),
            ("iptables", "iptables"),
            ("curl", "curl"),
            ("python3", "python3"),
            ("tcpdump", "tcpdump"),
            ("sysctl", "procps"),
            ("brctl", "bridge-utils"),
            ("route", "net-tools"),
            ("ifconfig", "net-tools"),
            ("netstat", "net-tools"),
            ("nc", "netcat-openbsd"),
            ("dig", "dnsutils"),
            ("socat", "socat"),
            ("iperf3", "iperf3"),
            ("conntrack", "conntrack"),
        ] {
            assert_eq!(package_of(program), Some(package), "{program}");
        }
    }

    #[test]
    fn a_path_is_used_as_given_and_a_name_is_searched() {
        assert!(matches!(find_program(OsStr::new("./x")), Program::AsGiven));
        assert!(matches!(
            find_program(OsStr::new("/bin/sh")),
            Program::AsGiven
        ));
        match find_program(OsStr::new("sh")) {
            Program::Found(p) => assert!(p.is_absolute() && p.ends_with("sh"), "{p:?}"),
            _ => panic!("sh not found"),
        }
        assert!(matches!(
            find_program(OsStr::new("netns-test-no-such-program")),
            Program::Missing
        ));
    }
}
