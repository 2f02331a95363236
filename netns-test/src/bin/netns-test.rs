//! `netns-test`: a rootless lab on the command line, and the environment doctor.
//!
//! ```sh
//! netns-test lab examples/labs/docker_bridge.toml   # build the file's topology, then a prompt
//! netns-test doctor                                 # the same checks as netns-test-doctor
//! ```
//!
//! `lab FILE` reads a topology file ([`Topology::from_file`]), enters a [`Lab`] as the
//! ordinary user it runs as, builds the network and reads commands in the spirit of
//! Mininet's CLI: `NODE CMD...`, `shell NODE`, `nodes`, `links`, `summary`, `pingall`,
//! `down NODE:IFACE`, `up NODE:IFACE`, `help`, `exit`. `exit`, end of input (Ctrl-D),
//! SIGINT at the prompt (Ctrl-C), SIGTERM and SIGHUP tear the network down: every process
//! started in a node is killed (the lab is their subreaper, so those that detached are
//! found too) and the namespaces go with the process. Ctrl-C while a command runs stops
//! the command, not the lab.

#[path = "netns-test-doctor.rs"]
mod doctor;

use std::io::{BufRead, Write};
use std::process::ExitCode;
use std::time::{Duration, Instant};

use netns_test::reach::{Matrix, Probe};
use netns_test::{Lab, Net, Node, Topology};
use tokio::signal::unix::{signal, SignalKind};

const USAGE: &str =
    "usage: netns-test lab FILE    build the topology of FILE (TOML) and open a prompt in it
       netns-test doctor      check what netns-test needs on this machine";

const HELP: &str = "commands:
  NODE CMD...        run CMD in NODE through sh -c (like ip netns exec NODE sh -c CMD)
  shell NODE         an interactive shell in NODE ($SHELL, else /bin/sh); exit returns here
  nodes              the nodes, their interfaces and addresses
  links              the links and bridges, each end as NODE:IFACE
  summary            nodes, interfaces, addresses and routes on one screen
  pingall            who reaches whom by ICMP echo, every pair at once
  down NODE:IFACE    set an interface down (ip link set IFACE down in NODE)
  up NODE:IFACE      set it up again, with the routes the topology gave it
  help               this list
  exit               tear the lab down and leave (also Ctrl-D, or Ctrl-C at the prompt)";

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let args: Vec<&str> = args.iter().map(String::as_str).collect();
    match args.as_slice() {
        ["doctor"] => doctor::main(),
        ["lab", file] => lab(file),
        ["help" | "-h" | "--help"] => {
            println!("{USAGE}");
            ExitCode::SUCCESS
        }
        _ => {
            eprintln!("{USAGE}");
            ExitCode::from(2)
        }
    }
}

/// Why the session ended, and the exit status it gives.
#[derive(Clone, Copy, Debug)]
enum End {
    Exit,
    Eof,
    Signal(&'static str, u8),
}

fn lab(file: &str) -> ExitCode {
    let topology = match Topology::from_file(file).and_then(|t| t.plan().map(|_| t)) {
        Ok(t) => t,
        Err(e) => {
            eprintln!("netns-test lab: {e}");
            return ExitCode::FAILURE;
        }
    };
    // First, before any thread: a process with threads cannot enter a user namespace.
    let lab = match Lab::enter() {
        Ok(lab) => lab,
        Err(e) => {
            eprintln!("netns-test lab: {e}");
            return ExitCode::FAILURE;
        }
    };
    // Programs started in nodes that detach (`sleep 100 &`, daemons) are reparented to
    // this process rather than to init, so that the teardown finds and kills them.
    if let Err(e) = nix::sys::prctl::set_child_subreaper(true) {
        eprintln!("netns-test lab: cannot become the subreaper of the lab's processes: {e}");
        return ExitCode::FAILURE;
    }
    let start = Instant::now();
    let net = match lab.build(&topology) {
        Ok(net) => net,
        Err(e) => {
            eprintln!("netns-test lab: {e}");
            return ExitCode::FAILURE;
        }
    };
    println!(
        "netns-test lab {file}: {} nodes built in {} ms, as uid {} outside. Type help for the commands.",
        net.nodes().len(),
        start.elapsed().as_millis(),
        outside_uid(),
    );
    let rt = match tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
    {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("netns-test lab: starting the prompt's runtime: {e}");
            return ExitCode::FAILURE;
        }
    };
    let end = rt.block_on(session(&net));
    drop(rt);
    match end {
        End::Signal(name, _) => println!("\n{name}: tearing the lab down"),
        End::Eof => println!("\ntearing the lab down"),
        End::Exit => println!("tearing the lab down"),
    }
    let killed = kill_leftovers();
    drop(net);
    println!("lab torn down ({killed} leftover processes killed)");
    match end {
        End::Signal(_, code) => ExitCode::from(code),
        End::Exit | End::Eof => ExitCode::SUCCESS,
    }
}

/// The uid this process had before it entered the lab (it is root inside).
fn outside_uid() -> String {
    std::fs::read_to_string("/proc/self/uid_map")
        .ok()
        .and_then(|m| {
            let mut fields = m.split_whitespace();
            (fields.next() == Some("0")).then(|| fields.next().map(str::to_string))?
        })
        .unwrap_or_else(|| "?".to_string())
}

/// Reads a line from standard input on a thread of its own, only when asked: while a
/// command runs, nothing here reads the terminal the command is using.
fn line_reader() -> (
    std::sync::mpsc::Sender<()>,
    tokio::sync::mpsc::UnboundedReceiver<Option<String>>,
) {
    let (ask, asked) = std::sync::mpsc::channel::<()>();
    let (send, lines) = tokio::sync::mpsc::unbounded_channel();
    std::thread::spawn(move || {
        let stdin = std::io::stdin();
        for () in asked {
            let mut line = String::new();
            let read = match stdin.lock().read_line(&mut line) {
                Ok(0) | Err(_) => None,
                Ok(_) => Some(line),
            };
            let eof = read.is_none();
            if send.send(read).is_err() || eof {
                break;
            }
        }
    });
    (ask, lines)
}

/// The signals that end the session.
struct Signals {
    int: tokio::signal::unix::Signal,
    term: tokio::signal::unix::Signal,
    hup: tokio::signal::unix::Signal,
}

impl Signals {
    fn new() -> std::io::Result<Signals> {
        Ok(Signals {
            int: signal(SignalKind::interrupt())?,
            term: signal(SignalKind::terminate())?,
            hup: signal(SignalKind::hangup())?,
        })
    }
}

async fn session(net: &Net) -> End {
    let mut signals = match Signals::new() {
        Ok(s) => s,
        Err(e) => {
            eprintln!("netns-test lab: cannot handle signals: {e}");
            return End::Exit;
        }
    };
    let (ask, mut lines) = line_reader();
    loop {
        print!("netns-test> ");
        let _ = std::io::stdout().flush();
        if ask.send(()).is_err() {
            return End::Eof;
        }
        let line = tokio::select! {
            line = lines.recv() => line.flatten(),
            _ = signals.int.recv() => return End::Signal("interrupted", 130),
            _ = signals.term.recv() => return End::Signal("terminated", 143),
            _ = signals.hup.recv() => return End::Signal("hung up", 129),
        };
        let Some(line) = line else {
            return End::Eof;
        };
        if let Some(end) = command(net, line.trim(), &mut signals).await {
            return end;
        }
    }
}

/// Runs one command line; `Some` when the session ends.
async fn command(net: &Net, line: &str, signals: &mut Signals) -> Option<End> {
    let (word, rest) = match line.split_once(char::is_whitespace) {
        Some((w, r)) => (w, r.trim()),
        None => (line, ""),
    };
    match (word, rest) {
        ("", _) => {}
        ("exit" | "quit", "") => return Some(End::Exit),
        ("help" | "?", "") => println!("{HELP}"),
        ("nodes", "") => print!("{}", nodes(net)),
        ("links", "") => print!("{}", links(net)),
        ("summary", "") => print!("{}", net.summary()),
        ("pingall", "") => print!("{}", pingall(net).await),
        ("down" | "up", iface) => set_link(net, word == "up", iface).await,
        ("shell", name) => match net.try_node(name) {
            Ok(node) => {
                let shell = std::env::var("SHELL").unwrap_or_else(|_| "/bin/sh".to_string());
                let mut cmd = node.tokio_command(&shell);
                cmd.env("PS1", format!("{name}# "))
                    .env("NETNS_TEST_NODE", name);
                return run(cmd, &shell, signals).await;
            }
            Err(e) => println!("{e}"),
        },
        (name, cmd) => match net.try_node(name) {
            Ok(node) if !cmd.is_empty() => return run_in(&node, cmd, signals).await,
            Ok(_) => println!("{name}: which command? Like: {name} ip addr"),
            Err(_) => println!(
                "{name:?} is neither a command nor a node (nodes: {}); type help for the commands",
                node_names(net).join(", ")
            ),
        },
    }
    None
}

fn node_names(net: &Net) -> Vec<&str> {
    net.nodes().iter().map(Node::name).collect()
}

async fn run_in(node: &Node, line: &str, signals: &mut Signals) -> Option<End> {
    let mut cmd = node.tokio_command("sh");
    cmd.arg("-c").arg(line);
    run(cmd, line, signals).await
}

/// Runs a program on the terminal until it ends. Ctrl-C reaches it (the terminal signals
/// the whole foreground group) and not the session; SIGTERM and SIGHUP end both.
async fn run(mut cmd: tokio::process::Command, what: &str, signals: &mut Signals) -> Option<End> {
    let mut child = match cmd.kill_on_drop(true).spawn() {
        Ok(child) => child,
        Err(e) => {
            println!("{what}: {e}");
            return None;
        }
    };
    loop {
        tokio::select! {
            status = child.wait() => {
                match status {
                    Ok(s) if s.success() => {}
                    Ok(s) => println!("({s})"),
                    Err(e) => println!("{what}: {e}"),
                }
                return None;
            }
            _ = signals.int.recv() => {}
            _ = signals.term.recv() => return Some(End::Signal("terminated", 143)),
            _ = signals.hup.recv() => return Some(End::Signal("hung up", 129)),
        }
    }
}

fn nodes(net: &Net) -> String {
    let mut out = String::new();
    for node in net.plan().nodes.iter() {
        let kind = match (&node.net_of, node.forwarding) {
            (Some(other), _) => format!(" (shares {})", net.plan().nodes[*other].name),
            (None, true) => " (router)".to_string(),
            (None, false) => String::new(),
        };
        let ifaces: Vec<String> = node
            .ifaces
            .iter()
            .map(|i| {
                let addrs: Vec<String> = i.addrs.iter().map(|a| a.to_string()).collect();
                format!("{} {}", i.name, addrs.join(" "))
                    .trim_end()
                    .to_string()
            })
            .collect();
        let ifaces = if ifaces.is_empty() || node.net_of.is_some() {
            "lo only".to_string()
        } else {
            ifaces.join(", ")
        };
        out += &format!("{}{kind}: {ifaces}\n", node.name);
    }
    if node_names(net).len() != net.plan().nodes.len() {
        out += "(and hidden relay nodes of impairable links)\n";
    }
    out
}

fn links(net: &Net) -> String {
    let plan = net.plan();
    let name = |i: usize| plan.nodes.get(i).map_or("?", |n| n.name.as_str());
    let mut out = String::new();
    for b in &plan.bridges {
        let addrs: Vec<String> = b.addrs.iter().map(|a| a.to_string()).collect();
        out += &format!(
            "bridge {} in {}{}{}\n",
            b.name,
            name(b.node),
            if addrs.is_empty() { "" } else { ", " },
            addrs.join(" ")
        );
    }
    for v in &plan.veths {
        let [a, b] = &v.ends;
        let end = |e: &netns_test::topology::VethEnd| {
            let mut out = format!("{}:{}", name(e.node), e.name);
            if let Some(m) = e.master {
                out += &format!(" (port of {})", plan.bridges[m].name);
            }
            if e.down {
                out += " (starts down)";
            }
            let declared = &plan.conditions;
            if let Some(c) = declared
                .iter()
                .find(|c| c.node == e.node && c.ifname == e.name)
            {
                out += &format!(" (sends: {})", c.conditions);
            }
            out
        };
        out += &format!("{} <-> {}\n", end(a), end(b));
    }
    out
}

async fn pingall(net: &Net) -> String {
    // Nodes with a namespace and an IPv4 address of their own.
    let names: Vec<&str> = net
        .plan()
        .nodes
        .iter()
        .filter(|n| {
            n.net_of.is_none()
                && n.ifaces
                    .iter()
                    .any(|i| i.addrs.iter().any(|a| a.addr().is_ipv4()))
        })
        .map(|n| n.name.as_str())
        .collect();
    if names.len() < 2 {
        return "pingall: fewer than two nodes with an IPv4 address\n".to_string();
    }
    let matrix = Matrix::new(&names).isolation_wait(Duration::from_millis(500));
    let report = match net.check_matrix(Probe::Icmp, matrix).await {
        Ok(r) => r,
        Err(e) => return format!("pingall: {e}\n"),
    };
    let mut out = String::from("*** Ping: testing reachability by ICMP echo\n");
    let (mut sent, mut received) = (0, 0);
    for from in &names {
        let row: Vec<&str> = names
            .iter()
            .filter(|to| to != &from)
            .map(|to| {
                sent += 1;
                if report.reached(from, to) == Some(true) {
                    received += 1;
                    *to
                } else {
                    "X"
                }
            })
            .collect();
        out += &format!("{from} -> {}\n", row.join(" "));
    }
    out += &format!(
        "*** Results: {}% dropped ({received}/{sent} received)\n",
        (sent - received) * 100 / sent
    );
    out
}

async fn set_link(net: &Net, up: bool, which: &str) {
    let Some((name, iface)) = which.split_once(':') else {
        println!(
            "which interface? Like: {} con1:eth0 (see links)",
            if up { "up" } else { "down" }
        );
        return;
    };
    let node = match net.try_node(name) {
        Ok(node) => node,
        Err(e) => return println!("{e}"),
    };
    if let Err(e) = node.try_iface(iface) {
        return println!("{e}");
    }
    let link = node.link(iface);
    let done = if up {
        link.up().await
    } else {
        link.down().await
    };
    match done {
        Ok(()) => println!("{name}:{iface} is {}", if up { "up" } else { "down" }),
        Err(e) => println!("{e}"),
    }
}

/// Kills every process left in the lab: this process's children, and the orphans it
/// adopted as their subreaper, until none is left (at most 2 s).
fn kill_leftovers() -> usize {
    use nix::sys::signal::{kill, Signal};
    use nix::sys::wait::{waitpid, WaitPidFlag};
    use nix::unistd::Pid;
    let me = std::process::id().to_string();
    let deadline = Instant::now() + Duration::from_secs(2);
    let mut killed = 0;
    loop {
        let children = children_of(&me);
        for &pid in &children {
            if kill(Pid::from_raw(pid), Signal::SIGKILL).is_ok() {
                killed += 1;
            }
        }
        // Reap them all, zombies of earlier commands included.
        while let Ok(status) = waitpid(None, Some(WaitPidFlag::WNOHANG)) {
            if status == nix::sys::wait::WaitStatus::StillAlive {
                break;
            }
        }
        if children.is_empty() || Instant::now() > deadline {
            return killed;
        }
        std::thread::sleep(Duration::from_millis(10));
    }
}

/// The live processes whose parent is `parent`, from `/proc/PID/stat`.
fn children_of(parent: &str) -> Vec<i32> {
    let Ok(dir) = std::fs::read_dir("/proc") else {
        return Vec::new();
    };
    dir.filter_map(|e| {
        let pid: i32 = e.ok()?.file_name().to_str()?.parse().ok()?;
        let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
        // The fields after the command name, which may hold spaces and parentheses.
        let mut fields = stat[stat.rfind(')')? + 1..].split_whitespace();
        let state = fields.next()?;
        (fields.next()? == parent && state != "Z").then_some(pid)
    })
    .collect()
}
