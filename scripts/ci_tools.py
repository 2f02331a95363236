#!/usr/bin/env python3
"""Small parsers for .ci/run.

    ci_tools.py test-binaries < cargo-json     the test executables of a
                                               `cargo test --no-run --message-format=json`
                                               build: one `PATH<TAB>KIND<TAB>TARGET` a line
    ci_tools.py bench-binary NAME < cargo-json the executable of bench target NAME
    ci_tools.py libtest-summary LOG            `PASSED FAILED IGNORED` from the last
                                               "test result:" line of a libtest run; exits
                                               1 when there is none
    ci_tools.py listed < nextest-list-json     `BINARY-ID TEST` for every test a
                                               `cargo nextest list --message-format json`
                                               would run (not ignored, not filtered out)
    ci_tools.py junit FILE                     `BINARY-ID TEST` for every test case of a
                                               nextest JUnit report, then on stderr the
                                               flaky and failed ones
    ci_tools.py partitions LIST J1 J2 ...      checks that the JUnit reports of the
                                               partitions together ran every test of LIST
                                               exactly once; prints the counts
    ci_tools.py readme-crate README DIR PATH   a crate in DIR of every ```rust block of
                                               README, each a file of its own (a test, a
                                               harness-mode test, or a program with
                                               `fn main`), netns-test from PATH; prints
                                               `LINE<TAB>KIND<TAB>TARGET` a block, KIND
                                               `ignored` for ```rust,ignore fragments
    ci_tools.py temp-files                     the `netns-test-*` entries of the
                                               temporary folders (/tmp, and $TMPDIR if
                                               set), sorted
    ci_tools.py soak-report DIR N              the report of scripts/soak.sh: every test
                                               that failed in any of the N iterations
                                               under DIR (iter-K/junit.xml), how many
                                               times, and each failure's diagnostics
                                               folder; exits 1 if any test failed
"""

import json
import re
import sys
import xml.etree.ElementTree as ET


def cargo_messages():
    for line in sys.stdin:
        try:
            yield json.loads(line)
        except json.JSONDecodeError:
            continue


def test_binaries():
    seen = set()
    for m in cargo_messages():
        if m.get("reason") != "compiler-artifact" or not m.get("executable"):
            continue
        if not m.get("profile", {}).get("test"):
            continue
        exe = m["executable"]
        if exe in seen:
            continue
        seen.add(exe)
        kind = m["target"]["kind"][0]
        print(f"{exe}\t{kind}\t{m['target']['name']}")


def bench_binary(name):
    # Reads every message: cargo fails with a broken pipe if its reader leaves early.
    found = None
    for m in cargo_messages():
        t = m.get("target", {})
        if m.get("reason") == "compiler-artifact" and m.get("executable") \
                and t.get("kind") == ["bench"] and t.get("name") == name:
            found = m["executable"]
    if found is None:
        sys.exit(f"no executable for bench target {name}")
    print(found)


SUMMARY = re.compile(r"test result: \w+\. (\d+) passed; (\d+) failed; (\d+) ignored")


def libtest_summary(path):
    last = None
    with open(path, encoding="utf-8", errors="replace") as f:
        for line in f:
            m = SUMMARY.search(line)
            if m:
                last = m
    if last is None:
        sys.exit(1)
    print(*last.groups())


def listed():
    doc = json.load(sys.stdin)
    for binary_id, suite in sorted(doc["rust-suites"].items()):
        for name, case in sorted(suite["testcases"].items()):
            match = case.get("filter-match", {})
            if not case.get("ignored") and match.get("status") == "matches":
                print(f"{binary_id} {name}")


def junit_cases(path):
    root = ET.parse(path).getroot()
    cases = []
    for suite in root.iter("testsuite"):
        for case in suite.iter("testcase"):
            kinds = {child.tag for child in case}
            cases.append((suite.get("name"), case.get("name"), kinds))
    return cases


def junit(path):
    for binary_id, name, kinds in junit_cases(path):
        print(f"{binary_id} {name}")
        if kinds & {"failure", "error"}:
            print(f"failed: {binary_id} {name}", file=sys.stderr)
        elif kinds & {"flakyFailure", "flakyError"}:
            print(f"flaky: {binary_id} {name}", file=sys.stderr)


def partitions(list_path, reports):
    with open(list_path, encoding="utf-8") as f:
        want = [line.strip() for line in f if line.strip()]
    problems = []
    if len(set(want)) != len(want):
        problems.append("the list names a test twice")
    want = set(want)
    ran = {}
    for i, report in enumerate(reports, 1):
        names = [f"{b} {n}" for b, n, _ in junit_cases(report)]
        if not names:
            problems.append(f"partition {i} ran no test")
        for n in names:
            ran.setdefault(n, []).append(i)
        print(f"partitions: partition {i}/{len(reports)} ran {len(names)} tests ({report})")
    twice = sorted(n for n, parts in ran.items() if len(parts) > 1)
    missing = sorted(want - ran.keys())
    extra = sorted(ran.keys() - want)
    for n in twice:
        problems.append(f"ran more than once (partitions {ran[n]}): {n}")
    for n in missing:
        problems.append(f"in the suite but run by no partition: {n}")
    for n in extra:
        problems.append(f"run by a partition but not in the suite's list: {n}")
    print(f"partitions: the suite lists {len(want)} tests; the partitions ran {sum(len(p) for p in ran.values())}, "
          f"{len(ran)} distinct, {len(twice)} twice, {len(missing)} missing")
    if problems:
        for p in problems:
            print(f"partitions: FAILED: {p}")
        sys.exit(1)
    print("partitions: ok: together they ran every test of the suite exactly once")


FENCE = re.compile(r"^```(rust[^\n]*)\n(.*?)^```$", re.S | re.M)


def readme_crate(readme, out, netns_test):
    import os
    text = open(readme, encoding="utf-8").read()
    sec = text[text.index("## Use it in your crate"):text.index("## In this repository")]
    toml = re.search(r"```toml\n(.*?)```", sec, re.S).group(1)
    if 'netns-test = "0.1"' not in toml:
        sys.exit("the README's dev-dependency line is not netns-test = \"0.1\"")
    dep = f'netns-test = {{ path = "{netns_test}" }}'
    # The README's own dev-dependencies, and anyhow, which it names for anyhow bodies.
    toml = toml.replace('netns-test = "0.1"', dep) + 'anyhow = "1"\n'
    targets, harness = [], []
    for m in FENCE.finditer(text):
        info, code = m.group(1), m.group(2)
        line = text.count("\n", 0, m.start()) + 1
        flags = info.split(",")[1:]
        if flags and set(flags) <= {"ignore", "no_run"} and "ignore" in flags:
            targets.append((line, "ignored", "-"))
            continue
        if info != "rust":
            sys.exit(f"README.md:{line}: ```{info}: a rust block is ```rust or ```rust,ignore")
        name = f"readme_{line}"
        if re.search(r"^fn main\(", code, re.M):
            path, kind = f"src/bin/{name}.rs", "bin"
        elif "netns_test::main!()" in code:
            path, kind = f"tests/{name}.rs", "harness"
            harness.append(name)
        else:
            path, kind = f"tests/{name}.rs", "test"
        os.makedirs(os.path.dirname(f"{out}/{path}"), exist_ok=True)
        with open(f"{out}/{path}", "w", encoding="utf-8") as f:
            f.write(code)
        targets.append((line, kind, name))
    manifest = ('[package]\nname = "readme-user"\nversion = "0.0.0"\nedition = "2021"\n'
                'publish = false\n\n[workspace]\n\n'
                f'# The programs (fn main) build a Lab of their own.\n[dependencies]\n{dep}\n\n'
                + toml)
    for name in harness:
        manifest += f'\n[[test]]\nname = "{name}"\nharness = false\n'
    os.makedirs(f"{out}/src", exist_ok=True)
    open(f"{out}/src/lib.rs", "a").close()
    with open(f"{out}/Cargo.toml", "w", encoding="utf-8") as f:
        f.write(manifest)
    for t in targets:
        print(*t, sep="\t")


def temp_files():
    import glob
    import os
    dirs = {"/tmp", os.environ.get("TMPDIR") or "/tmp"}
    for path in sorted(p for d in dirs for p in glob.glob(f"{d.rstrip('/')}/netns-test-*")):
        print(path)


DIAG_LINE = re.compile(r"netns-test: diagnostics for this failure are in (.+)")


def soak_report(out, n):
    failed = {}  # "BINARY-ID TEST" -> [(iteration, folders)]
    problems = []
    for k in range(1, n + 1):
        it = f"{out}/iter-{k}"
        try:
            with open(f"{it}/exit", encoding="utf-8") as f:
                rc = int(f.read().strip())
        except (OSError, ValueError):
            problems.append(f"iteration {k} did not run")
            continue
        try:
            root = ET.parse(f"{it}/junit.xml").getroot()
        except (OSError, ET.ParseError) as e:
            problems.append(f"iteration {k} exited {rc} and wrote no JUnit report ({e}): see {it}/log")
            continue
        failures = 0
        for suite in root.iter("testsuite"):
            for case in suite.iter("testcase"):
                if not {child.tag for child in case} & {"failure", "error"}:
                    continue
                failures += 1
                text = "\n".join(child.text or "" for child in case)
                folders = sorted(set(m.strip() for m in DIAG_LINE.findall(text)))
                failed.setdefault(f"{suite.get('name')} {case.get('name')}", []).append((k, folders))
        if rc != 0 and failures == 0:
            problems.append(f"iteration {k} exited {rc} with no failed test in its report: see {it}/log")
    print()
    if not failed and not problems:
        print(f"soak: no test failed in {n} iterations")
        return
    for name, runs in sorted(failed.items()):
        print(f"soak: FAILED {len(runs)} of {n}: {name}")
        for k, folders in runs:
            where = ", ".join(folders) if folders else "no diagnostics folder named in its output"
            print(f"soak:   iteration {k}: {where} (log: {out}/iter-{k}/log)")
    for p in problems:
        print(f"soak: FAILED: {p}")
    sys.exit(1)


def main():
    args = sys.argv[1:]
    cmd = args[0] if args else ""
    if cmd == "test-binaries":
        test_binaries()
    elif cmd == "bench-binary":
        bench_binary(args[1])
    elif cmd == "libtest-summary":
        libtest_summary(args[1])
    elif cmd == "listed":
        listed()
    elif cmd == "junit":
        junit(args[1])
    elif cmd == "partitions":
        partitions(args[1], args[2:])
    elif cmd == "readme-crate":
        readme_crate(args[1], args[2], args[3])
    elif cmd == "temp-files":
        temp_files()
    elif cmd == "soak-report":
        soak_report(args[1], int(args[2]))
    else:
        sys.exit(__doc__)


if __name__ == "__main__":
    main()
