//! `netns-test lab FILE` in a real terminal: tmux runs it, the tests type into it
//! (`send-keys`) and read the screen (`capture-pane`), as a user at the prompt would, then
//! check that nothing the lab started is left.
//!
//! CI runs this test as another user from a copy of the binaries; `NETNS_TEST_CLI` (or
//! the `netns-test` next to `NETNS_TEST_DOCTOR`) points at the copy of `netns-test`.

use std::path::{Path, PathBuf};
use std::process::{Command, Output};
use std::time::{Duration, Instant};

/// The lab every test opens: seed 001's docker0 (con1, con2) and testnet (con3).
const LAB: &str = include_str!("../../examples/labs/docker_bridge.toml");

fn cli() -> PathBuf {
    if let Some(path) = std::env::var_os("NETNS_TEST_CLI") {
        return path.into();
    }
    if let Some(doctor) = std::env::var_os("NETNS_TEST_DOCTOR") {
        let next_to_it = Path::new(&doctor).with_file_name("netns-test");
        if next_to_it.is_file() {
            return next_to_it;
        }
    }
    env!("CARGO_BIN_EXE_netns-test").into()
}

/// One tmux server of its own (its own socket), running `netns-test lab` in one pane; the
/// server is killed when dropped.
struct Terminal {
    dir: PathBuf,
    socket: PathBuf,
}

impl Terminal {
    /// Starts the lab; the pane stays after it ends, showing `lab exited: STATUS`.
    fn open(test: &str) -> Terminal {
        Terminal::open_file(test, LAB)
    }

    /// Starts the lab of the file `text`.
    fn open_file(test: &str, text: &str) -> Terminal {
        let dir = std::env::temp_dir().join(format!("netns-test-{test}-{}", std::process::id()));
        std::fs::create_dir_all(&dir).expect("a temporary folder");
        let lab = dir.join("lab.toml");
        std::fs::write(&lab, text).expect("writing the lab file");
        let term = Terminal {
            socket: dir.join("tmux.sock"),
            dir,
        };
        let shell_line = format!(
            "'{}' lab '{}'; echo \"lab exited: $?\"; sleep 60",
            cli().display(),
            lab.display()
        );
        let out = term.tmux(&["new-session", "-d", "-x", "160", "-y", "50", &shell_line]);
        assert!(out.status.success(), "tmux new-session: {out:?}");
        term.wait_for("Type help for the commands.", 1);
        term
    }

    fn tmux(&self, args: &[&str]) -> Output {
        Command::new("tmux")
            .arg("-S")
            .arg(&self.socket)
            .args(args)
            .env_remove("TMUX")
            .env_remove("NETNS_TEST_SANDBOX")
            .output()
            .expect("running tmux (scripts/setup.sh installs it)")
    }

    /// Types `line` and Enter.
    fn type_line(&self, line: &str) {
        assert!(self.tmux(&["send-keys", "-l", line]).status.success());
        assert!(self.tmux(&["send-keys", "Enter"]).status.success());
    }

    /// Presses a key, like `C-c`.
    fn key(&self, key: &str) {
        assert!(self.tmux(&["send-keys", key]).status.success());
    }

    /// The whole pane, history included, wrapped lines joined.
    fn screen(&self) -> String {
        let out = self.tmux(&["capture-pane", "-p", "-J", "-S", "-"]);
        String::from_utf8_lossy(&out.stdout).into_owned()
    }

    /// Waits (at most 30 s) until `text` shows `times` times on the screen, and returns it.
    #[track_caller]
    fn wait_for(&self, text: &str, times: usize) -> String {
        let deadline = Instant::now() + Duration::from_secs(30);
        loop {
            let screen = self.screen();
            if screen.matches(text).count() >= times {
                return screen;
            }
            if Instant::now() > deadline {
                panic!("{text:?} not on the screen {times} times after 30 s:\n{screen}");
            }
            std::thread::sleep(Duration::from_millis(50));
        }
    }

    /// Waits until the lab `pid` has ended with `status`, saying `said` first, and is gone.
    #[track_caller]
    fn assert_ended(&self, pid: u32, said: &str, status: u8) {
        let screen = self.wait_for("lab exited: ", 1);
        assert!(screen.contains(said), "no {said:?} in:\n{screen}");
        let exited = format!("lab exited: {status}\n");
        assert!(screen.contains(&exited), "no {exited:?} in:\n{screen}");
        assert_gone(pid, "the lab");
    }

    /// The pid of the lab: the child of the pane's shell.
    fn lab_pid(&self) -> u32 {
        let out = self.tmux(&["list-panes", "-F", "#{pane_pid}"]);
        let shell = String::from_utf8_lossy(&out.stdout).trim().to_string();
        let children = processes(|_, ppid, _| ppid == shell);
        assert_eq!(
            children.len(),
            1,
            "the pane's shell {shell} has children {children:?}"
        );
        children[0]
    }
}

impl Drop for Terminal {
    fn drop(&mut self) {
        let _ = self.tmux(&["kill-server"]);
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

/// The live processes for which `keep(pid, ppid, cmdline)` holds.
fn processes(keep: impl Fn(&str, &str, &str) -> bool) -> Vec<u32> {
    let mut found = Vec::new();
    for entry in std::fs::read_dir("/proc").expect("reading /proc").flatten() {
        let name = entry.file_name().to_string_lossy().into_owned();
        let Ok(pid) = name.parse::<u32>() else {
            continue;
        };
        let Ok(stat) = std::fs::read_to_string(format!("/proc/{pid}/stat")) else {
            continue;
        };
        let Some(close) = stat.rfind(')') else {
            continue;
        };
        let mut fields = stat[close + 1..].split_whitespace();
        let (Some(state), Some(ppid)) = (fields.next(), fields.next()) else {
            continue;
        };
        let cmdline = std::fs::read(format!("/proc/{pid}/cmdline"))
            .map(|c| String::from_utf8_lossy(&c).replace('\0', " "))
            .unwrap_or_default();
        if state != "Z" && keep(&name, ppid, cmdline.trim_end()) {
            found.push(pid);
        }
    }
    found
}

/// The processes in the network namespace `netns` (a `net:[INODE]` link).
fn in_netns(netns: &str) -> Vec<u32> {
    processes(|pid, _, _| {
        std::fs::read_link(format!("/proc/{pid}/ns/net"))
            .is_ok_and(|l| l.to_string_lossy() == netns)
    })
}

/// Waits (at most 10 s) until `pid` is gone.
#[track_caller]
fn assert_gone(pid: u32, what: &str) {
    let deadline = Instant::now() + Duration::from_secs(10);
    while Path::new(&format!("/proc/{pid}")).exists()
        && !std::fs::read_to_string(format!("/proc/{pid}/stat")).is_ok_and(|s| s.contains(") Z "))
    {
        assert!(
            Instant::now() < deadline,
            "{what} (pid {pid}) is still running"
        );
        std::thread::sleep(Duration::from_millis(20));
    }
}

#[test]
fn a_session_lists_pings_runs_commands_downs_a_link_and_leaves_nothing() {
    let term = Terminal::open("lab-session");
    let lab = term.lab_pid();

    term.type_line("nodes");
    term.wait_for("con3: eth0 172.19.0.2/16", 1);

    term.type_line("links");
    term.wait_for("con1:eth0 <-> host:con1-eth0 (port of docker0)", 1);

    // Containers on one bridge reach each other, not those on the other bridge.
    term.type_line("pingall");
    let screen = term.wait_for("*** Results:", 1);
    for line in [
        "con1 -> host con2 X",
        "con3 -> host X X",
        "*** Results: 33% dropped (8/12 received)",
    ] {
        assert!(screen.contains(line), "no {line:?} in:\n{screen}");
    }

    term.type_line("con1 ping -c1 -W2 con2");
    term.wait_for("1 packets transmitted, 1 received", 1);

    term.type_line("down con1:eth0");
    term.wait_for("con1:eth0 is down", 1);
    term.type_line("con1 ping -c1 -W1 172.18.0.3");
    term.wait_for("(exit status: ", 1);
    term.type_line("up con1:eth0");
    term.wait_for("con1:eth0 is up", 1);
    term.type_line("con1 ping -c1 -W2 172.18.0.3");
    term.wait_for("1 packets transmitted, 1 received", 2);

    // A shell in the node, then back at the prompt.
    term.type_line("shell con2");
    term.type_line("cat /sys/class/net/eth0/address; exit");
    term.wait_for("02:42:ac:12:00:03", 1);
    term.type_line("summary");
    term.wait_for("netns-test> summary", 1);

    // A process left running in a node, detached from the lab's prompt.
    let marker = format!("600.{}", std::process::id());
    term.type_line(&format!("con1 sleep {marker} &"));
    let deadline = Instant::now() + Duration::from_secs(10);
    let sleeper = loop {
        let found = processes(|_, _, cmd| cmd == format!("sleep {marker}"));
        if let [pid] = found[..] {
            break pid;
        }
        assert!(
            Instant::now() < deadline,
            "no sleep {marker}: {found:?}\n{}",
            term.screen()
        );
        std::thread::sleep(Duration::from_millis(20));
    };
    let netns = std::fs::read_link(format!("/proc/{sleeper}/ns/net"))
        .expect("the sleeper's netns")
        .to_string_lossy()
        .into_owned();

    term.type_line("exit");
    term.assert_ended(lab, "lab torn down (1 leftover processes killed)", 0);
    assert_gone(sleeper, "the process started in con1");
    assert_eq!(
        in_netns(&netns),
        Vec::<u32>::new(),
        "processes left in con1's netns"
    );
}

/// `links` shows what the file declares on each end: link conditions and a down start.
#[test]
fn links_show_declared_conditions_and_down_interfaces() {
    let file = r#"
[[bridge]]
name = "lan"
subnet = "10.0.0.0/24"

[[node]]
name = "a"
on = [{ network = "lan", egress = { delay = "5ms" } }]

[[node]]
name = "b"
on = [{ network = "lan", down = true }]
"#;
    let term = Terminal::open_file("lab-links", file);
    let lab = term.lab_pid();
    term.type_line("links");
    term.wait_for("b:eth0 (starts down) <-> host:b-eth0 (port of lan)", 1);
    term.wait_for("a:eth0 (sends: 5 ms delay) <-> ", 1);
    term.type_line("exit");
    term.assert_ended(lab, "lab torn down", 0);
}

#[test]
fn ctrl_c_stops_the_command_and_at_the_prompt_ends_the_lab() {
    let term = Terminal::open("lab-ctrl-c");
    let lab = term.lab_pid();
    term.type_line("con1 sleep 30");
    std::thread::sleep(Duration::from_millis(300));
    term.key("C-c");
    // The command ended, the lab did not: it answers, once its prompt is back (keys typed
    // before that belong to the command, as in any shell).
    term.wait_for("(signal: 2 (SIGINT))", 1);
    term.wait_for("netns-test> ", 2);
    term.type_line("nodes");
    term.wait_for("con1: eth0 172.18.0.2/16", 1);
    term.key("C-c");
    term.assert_ended(lab, "interrupted: tearing the lab down", 130);
}

#[test]
fn end_of_input_and_sigterm_tear_the_lab_down() {
    let term = Terminal::open("lab-eof");
    let lab = term.lab_pid();
    term.key("C-d");
    term.assert_ended(lab, "\ntearing the lab down", 0);
    drop(term);

    let term = Terminal::open("lab-sigterm");
    let lab = term.lab_pid();
    let pid = nix::unistd::Pid::from_raw(lab as i32);
    nix::sys::signal::kill(pid, nix::sys::signal::Signal::SIGTERM).expect("SIGTERM to the lab");
    term.assert_ended(lab, "terminated: tearing the lab down", 143);
}

/// A file that is not a topology is refused before anything is built, at its line.
#[test]
fn a_wrong_file_is_named_at_its_line_and_no_lab_starts() {
    let dir = std::env::temp_dir().join(format!("netns-test-lab-wrong-{}", std::process::id()));
    std::fs::create_dir_all(&dir).expect("a temporary folder");
    let lab = dir.join("wrong.toml");
    std::fs::write(&lab, "[[node]]\nname = \"a\"\nonn = [\"lan\"]\n").expect("writing");
    let out = Command::new(cli())
        .arg("lab")
        .arg(&lab)
        .env_remove("NETNS_TEST_SANDBOX")
        .output()
        .expect("running netns-test");
    let _ = std::fs::remove_dir_all(&dir);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{out:?}");
    let at = format!("netns-test lab: {}:3:1: unknown field `onn`", lab.display());
    assert!(stderr.starts_with(&at), "{stderr}");
    assert!(out.stdout.is_empty(), "{out:?}");
}

/// `netns-test doctor` is the doctor.
#[test]
fn netns_test_doctor_runs_the_doctor() {
    let out = Command::new(cli())
        .arg("doctor")
        .env_remove("NETNS_TEST_SANDBOX")
        .output()
        .expect("running netns-test doctor");
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(out.status.success(), "{out:?}");
    assert!(text.starts_with("netns-test doctor\n"), "{text}");
    assert!(text.contains("PASS  user + network namespaces"), "{text}");
    assert!(
        text.contains("Everything every test needs is here."),
        "{text}"
    );
}
