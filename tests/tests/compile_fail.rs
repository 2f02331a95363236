//! Misuses of `#[netns_test]` and the errors they produce, one per file in `ui/`; the
//! forms it accepts, which must build, in `ui-pass/`.
//!
//! After changing a message, regenerate the expected output with
//! `TRYBUILD=overwrite cargo test -p netns-test-suite --test compile_fail` and review the
//! `.stderr` files.
//!
//! trybuild builds binaries, as in a `harness = false` target; how the same errors point
//! in a test build (`rustc --test`, where the `#[test]` function of the default mode exists
//! too and must not repeat them) is checked by the cases in `ui-test-build/`, compiled with
//! `rustc --test` against the netns-test this test was built with; `//~ TEXT: MESSAGE` on a
//! line says that an error points at TEXT there and says MESSAGE.

use std::path::{Path, PathBuf};
use std::process::Command;

#[test]
fn compile_fail() {
    let t = trybuild::TestCases::new();
    t.compile_fail("ui/*.rs");
    t.pass("ui-pass/*.rs");
}

/// The deps folder the netns-test library this test binary was built with is in, and the
/// library: next to this binary, or (for a binary run from a `cargo nextest archive`,
/// extracted elsewhere) in `$CARGO_TARGET_DIR/debug/deps`.
fn built_netns_test() -> (PathBuf, PathBuf) {
    let exe = std::env::current_exe().expect("own path");
    let beside = exe.parent().expect("deps folder").to_path_buf();
    let target =
        std::env::var_os("CARGO_TARGET_DIR").map(|d| PathBuf::from(d).join("debug").join("deps"));
    std::iter::once(beside)
        .chain(target)
        .find_map(|deps| {
            let rlib = std::fs::read_dir(&deps)
                .ok()?
                .flatten()
                .map(|e| e.path())
                .filter(|p| {
                    let name = p.file_name().unwrap_or_default().to_string_lossy();
                    name.starts_with("libnetns_test-") && name.ends_with(".rlib")
                })
                .max_by_key(|p| p.metadata().and_then(|m| m.modified()).ok())?;
            Some((deps, rlib))
        })
        .expect("libnetns_test-*.rlib next to this test binary or in $CARGO_TARGET_DIR/debug/deps")
}

/// `rustc` of the toolchain that runs this test.
fn rustc() -> PathBuf {
    std::env::var_os("CARGO")
        .map(|cargo| Path::new(&cargo).with_file_name("rustc"))
        .filter(|p| p.exists())
        .unwrap_or_else(|| PathBuf::from("rustc"))
}

/// Pulls `"key":"value"` or `"key":number` out of one JSON object of rustc's output (no
/// JSON crate in this workspace's dependencies); enough for the fields read here.
fn field<'a>(json: &'a str, key: &str) -> Option<&'a str> {
    let start = json.find(&format!("\"{key}\":"))? + key.len() + 3;
    let rest = &json[start..];
    if let Some(s) = rest.strip_prefix('"') {
        let mut end = 0;
        let bytes = s.as_bytes();
        while end < bytes.len() && !(bytes[end] == b'"' && (end == 0 || bytes[end - 1] != b'\\')) {
            end += 1;
        }
        Some(&s[..end])
    } else {
        let end = rest.find([',', '}']).unwrap_or(rest.len());
        Some(&rest[..end])
    }
}

#[test]
fn errors_of_a_test_build_point_at_the_code() {
    let (deps, rlib) = built_netns_test();
    let out_dir = std::env::temp_dir().join(format!("netns-test-ui-{}", std::process::id()));
    std::fs::create_dir_all(&out_dir).expect("output folder");
    let cases = Path::new(env!("CARGO_MANIFEST_DIR")).join("ui-test-build");
    let mut files: Vec<PathBuf> = std::fs::read_dir(&cases)
        .expect("ui-test-build/")
        .flatten()
        .map(|e| e.path())
        .filter(|p| p.extension().is_some_and(|e| e == "rs"))
        .collect();
    files.sort();
    assert!(!files.is_empty(), "no case in {}", cases.display());
    for file in files {
        let source = std::fs::read_to_string(&file).expect("case");
        let mut expected: Vec<(usize, String, String)> = source
            .lines()
            .enumerate()
            .filter(|(_, line)| !line.trim_start().starts_with("//"))
            .filter_map(|(i, line)| {
                let (_, note) = line.split_once("//~ ")?;
                let (text, message) = note.split_once(": ")?;
                Some((i + 1, text.to_string(), message.to_string()))
            })
            .collect();
        let out = Command::new(rustc())
            .args([
                "--edition",
                "2021",
                "--test",
                "--emit=metadata",
                "--error-format=json",
            ])
            .args(["--crate-name", "ui_case", "--out-dir"])
            .arg(&out_dir)
            .arg("-L")
            .arg(format!("dependency={}", deps.display()))
            .arg("--extern")
            .arg(format!("netns_test={}", rlib.display()))
            .arg(&file)
            .output()
            .expect("running rustc");
        let stderr = String::from_utf8_lossy(&out.stderr);
        let mut found = Vec::new();
        for message in stderr.lines().filter(|l| l.starts_with('{')) {
            if field(message, "level") != Some("error") || !message.contains("\"is_primary\":true")
            {
                continue;
            }
            let text = field(message, "message")
                .unwrap_or("")
                .replace("\\\"", "\"");
            // The primary span: its line, and the text it highlights in that line.
            let span = &message[message.find("\"is_primary\":true").expect("primary")..];
            let span_start = message[..message.len() - span.len()]
                .rfind("{\"file_name\"")
                .expect("span");
            let span = &message[span_start..];
            let line: usize = field(span, "line_start")
                .and_then(|l| l.parse().ok())
                .expect("line");
            let from: usize = field(span, "column_start")
                .and_then(|c| c.parse().ok())
                .expect("column");
            let to: usize = field(span, "column_end")
                .and_then(|c| c.parse().ok())
                .expect("column");
            let source_line = source.lines().nth(line - 1).unwrap_or("");
            let highlighted: String = source_line
                .chars()
                .skip(from - 1)
                .take(to.saturating_sub(from))
                .collect();
            found.push((line, highlighted, text));
        }
        for (line, highlighted, text) in &found {
            let Some(k) = expected
                .iter()
                .position(|(l, h, m)| l == line && h == highlighted && text.contains(m.as_str()))
            else {
                panic!(
                    "{}:{line}: unexpected error at `{highlighted}`: {text}\n{stderr}",
                    file.display()
                );
            };
            expected.remove(k);
        }
        assert!(
            expected.is_empty(),
            "{}: expected errors not reported: {expected:?}\n{stderr}",
            file.display()
        );
        assert!(!out.status.success(), "{}: compiled", file.display());
    }
    let _ = std::fs::remove_dir_all(&out_dir);
}
