#!/usr/bin/env python3
"""Small parsers for .ci/run.

    ci_tools.py test-binaries < cargo-json     the test executables of a
                                               `cargo test --no-run --message-format=json`
                                               build: one `PATH<TAB>KIND<TAB>TARGET` a line
    ci_tools.py bench-binary NAME < cargo-json the executable of bench target NAME
    ci_tools.py bench-check PAGE               checks that every verdict of the perf
                                               benchmark's block in PAGE (BENCHMARKS.md)
                                               follows from the block's own figures: each
                                               median is the median of its rounds, each
                                               "met" is the target's rule applied to it,
                                               and no verdict stands outside the block
                                               (but in the patchbay comparison's block,
                                               whose ratios and verdicts are checked
                                               against its medians alike)
    ci_tools.py bench-splice GENERATED PAGE    replaces the block in PAGE with the page
                                               the benchmark wrote (GENERATED)
    ci_tools.py compare-splice GENERATED PAGE  the same for the block of
                                               scripts/compare-patchbay.sh --write
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
    ci_tools.py libtest-row BIN LISTED LOG RC [WHY]
                                               one row of .ci/run's table of tests per
                                               binary: LISTED tests, the counts of LOG's
                                               "test result:" line; exits 1 (the row then
                                               ends in `FAILED: why`) if RC is not 0, the
                                               counts are not LISTED, or none passed and
                                               WHY (the reason it may pass none) is empty.
                                               LOG `-`: not run, WHY says why.
                                               `libtest-row --header`: the header
    ci_tools.py package-check DIR              checks the netns-test and netns-test-macros
                                               crates that `cargo package` wrote in DIR:
                                               licences, README (the crate user's view
                                               first), metadata, the doctor's source, the
                                               macros pinned to the exact version
    ci_tools.py snapshot REPO                  the machine as seen from outside every
                                               sandbox: links, routes, nftables ruleset,
                                               mounts, /run/netns, temporary files, REPO's
                                               diagnostics folders (the retry fixture's
                                               aside), processes in other user namespaces
    ci_tools.py leaks BEFORE AFTER             what differs between two snapshots (for
                                               processes, only new ones); exits 1 if any
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


BENCH_BEGIN = "<!-- perf:begin"
BENCH_END = "<!-- perf:end -->"


def bench_block(text):
    """The benchmark's block of a page, markers included, and where it starts and ends."""
    begin = text.find(BENCH_BEGIN)
    end = text.find(BENCH_END)
    if begin < 0 or end < begin or text.count(BENCH_BEGIN) != 1:
        sys.exit(f"bench: no single block between {BENCH_BEGIN!r} and {BENCH_END!r}")
    end += len(BENCH_END)
    return text[begin:end], begin, end


def bench_tables(block):
    """{heading: [cells of each row]} of the block's tables (header and rule left out)."""
    tables, heading = {}, None
    for line in block.splitlines():
        if line.startswith("### "):
            heading = line[4:].strip()
            tables[heading] = []
        elif line.startswith("|") and heading is not None:
            cells = [c.strip() for c in line.strip().strip("|").split("|")]
            if cells[0] in ("target", "figure") or set(cells[0]) <= set("- "):
                continue
            tables[heading].append(cells)
    return tables


COMPARE_BEGIN = "<!-- patchbay-compare:begin"
COMPARE_END = "<!-- patchbay-compare:end -->"


def compare_block(text):
    """The block scripts/compare-patchbay.sh --write puts into a page, markers included, and
    where it starts and ends; None if the page has none."""
    begin = text.find(COMPARE_BEGIN)
    if begin < 0:
        return None
    end = text.find(COMPARE_END)
    if end < begin or text.count(COMPARE_BEGIN) != 1:
        sys.exit(f"bench: no single block between {COMPARE_BEGIN!r} and {COMPARE_END!r}")
    end += len(COMPARE_END)
    return text[begin:end], begin, end


def compare_problems(block):
    """Each ratio of the comparison's block is its two medians' ratio (as printed, to
    rounding), and each verdict is its target's rule applied to the ratio."""
    problems, medians = [], {}
    for line in block.splitlines():
        cells = [c.strip() for c in line.strip().strip("|").split("|")]
        if len(cells) == 4 and cells[1].startswith("**"):
            medians[cells[0]] = float(cells[1].strip("*"))
        elif len(cells) == 6 and cells[4] in ("met", "NOT met"):
            name, ratio, rule, verdict = cells[0], float(cells[1].strip("*")), cells[3], cells[4]
            num, _, den = name.partition(" / ")
            sides = [k for k in medians if k.startswith(num)], medians.get(den)
            if len(sides[0]) != 1 or sides[1] is None:
                problems.append(f"{name}: its two medians are not in the block")
                continue
            expected = medians[sides[0][0]] / sides[1]
            if abs(expected - ratio) > 0.01 * ratio:
                problems.append(f"{name}: the medians give {expected:.3g}, the page says {ratio}")
            m = re.fullmatch(r">= (-?[0-9.]+)", rule)
            if not m:
                problems.append(f"{name}: a target rule that is not '>= N': {rule!r}")
                continue
            want = "met" if ratio >= float(m.group(1)) else "NOT met"
            if verdict != want:
                problems.append(f"{name}: {ratio} {rule} is {want!r}, the page says {verdict!r}")
    return problems


def compare_splice(generated, path):
    with open(generated) as f:
        new = f.read().strip()
    with open(path) as f:
        text = f.read()
    found = compare_block(text)
    if found is None:
        sys.exit(f"compare-splice: {path} has no {COMPARE_BEGIN!r} block")
    _, begin, end = found
    first = text[begin:text.index("\n", begin) + 1]
    with open(path, "w") as f:
        f.write(text[:begin] + first + new + "\n" + COMPARE_END + text[end:])
    print(f"compare-splice: {path} has the block of {generated}")


def bench_problems(text):
    block, begin, end = bench_block(text)
    problems = []
    outside = text[:begin] + text[end:]
    compare = compare_block(outside)
    if compare is not None:
        problems += compare_problems(compare[0])
        outside = outside[:compare[1]] + outside[compare[2]:]
    for line in outside.splitlines():
        if re.search(r"\|\s*(NOT met|met)\s*\|", line):
            problems.append(f"a verdict outside the benchmark's block: {line.strip()}")
    tables = bench_tables(block)
    smoke = "NETNS_PERF_QUICK=1" in block
    figures = {}
    for cells in tables.get("Every figure", []):
        key, rounds, median = cells[0].strip("`"), cells[2], cells[3]
        figures[key] = (rounds, median)
        problems += bench_median(key, rounds, median)
    targets = tables.get("Targets", [])
    if not targets:
        problems.append("no Targets table in the block")
    for cells in targets:
        if len(cells) != 7:
            problems.append(f"a Targets row without 7 cells: {cells}")
            continue
        _, key, rounds, median, _, rule, verdict = cells
        key, median = key.strip("`"), median.strip("*")
        if verdict == "not run (smoke)":
            if not smoke or rounds or median:
                problems.append(f"{key}: 'not run' in a run that is not a smoke run, or with figures")
            continue
        problems += bench_median(key, rounds, median)
        if figures.get(key) != (rounds, median):
            problems.append(f"{key}: {rounds} -> {median} here, {figures.get(key)} among the figures")
        m = re.fullmatch(r"(<=|>=) (-?[0-9.]+)", rule)
        if not m:
            problems.append(f"{key}: a target rule that is not '<= N' or '>= N': {rule!r}")
            continue
        try:
            value, target = float(median), float(m.group(2))
        except ValueError:
            problems.append(f"{key}: median {median!r} is not a number")
            continue
        met = value <= target if m.group(1) == "<=" else value >= target
        want = "met" if met else "NOT met"
        if verdict != want:
            problems.append(f"{key}: {median} {rule} is {want!r}, the page says {verdict!r}")
    return problems, len(targets), len(figures)


def bench_median(key, rounds, median):
    """The benchmark's median of rounds: the upper middle value, as printed."""
    try:
        values = sorted(float(v) for v in rounds.split(" / "))
        m = float(median)
    except ValueError:
        return [f"{key}: rounds {rounds!r} or median {median!r} not numbers"]
    if values[len(values) // 2] != m:
        return [f"{key}: the median of {rounds} is {values[len(values) // 2]}, the page says {median}"]
    return []


def bench_check(path):
    with open(path) as f:
        problems, targets, figures = bench_problems(f.read())
    for p in problems:
        print(f"bench-check: FAILED: {p}")
    if problems:
        sys.exit(1)
    print(f"bench-check: ok: {targets} targets and {figures} figures, every verdict follows from its figures")


def bench_splice(generated, path):
    with open(generated) as f:
        new, _, _ = bench_block(f.read())
    with open(path) as f:
        text = f.read()
    _, begin, end = bench_block(text)
    with open(path, "w") as f:
        f.write(text[:begin] + new + text[end:])
    print(f"bench-splice: {path} has the page of {generated}")


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


ROW = "{:<48} {:>6} {:>6} {:>6} {:>7}  {}"


def libtest_row(args):
    if args == ["--header"]:
        print(ROW.format("binary", "listed", "passed", "failed", "ignored", "note"))
        return
    bin, listed, log, rc, why = (args + [""])[:5]
    if log == "-":
        print(ROW.format(bin, listed, "-", "-", "-", why))
        return
    last = None
    with open(log, encoding="utf-8", errors="replace") as f:
        for line in f:
            last = SUMMARY.search(line) or last
    if last is None:
        print(ROW.format(bin, listed, "?", "?", "?", f"FAILED: no 'test result:' line (exit {rc})"))
        sys.exit(1)
    passed, failed, ignored = map(int, last.groups())
    problems = [f"exit {rc}"] if rc != "0" else []
    if passed + failed + ignored != int(listed):
        problems.append(f"ran {passed + failed + ignored} tests, lists {listed}")
    if passed == 0 and not why:
        problems.append("0 tests passed")
    note = f"FAILED: {'; '.join(problems)}" if problems else (why if passed == 0 else "")
    print(ROW.format(bin, listed, passed, failed, ignored, note))
    sys.exit(1 if problems else 0)


def package_check(folder):
    import os
    import tarfile
    import tomllib
    with open("Cargo.toml", "rb") as f:
        version = tomllib.load(f)["workspace"]["package"]["version"]
    keys = [r'license = "MIT OR Apache-2.0"', r'readme = "README.md"', r"(?m)^keywords = ",
            r'"development-tools::testing"', r'"network-programming"', r'"os::linux-apis"',
            r"(?m)^\[package.metadata.docs.rs\]", r'targets = \["x86_64-unknown-linux-gnu"\]']
    problems = []
    for pkg in ("netns-test-macros", "netns-test"):
        path = os.path.join(folder, f"{pkg}-{version}.crate")
        if not os.path.isfile(path):
            problems.append(f"no {path}")
            continue
        with tarfile.open(path) as tar:
            names = set(tar.getnames())
            def text(name):
                return tar.extractfile(f"{pkg}-{version}/{name}").read().decode()
            need = ["LICENSE-MIT", "LICENSE-APACHE", "README.md", "Cargo.toml"]
            if pkg == "netns-test":
                need += ["src/bin/netns-test-doctor.rs", "src/bin/netns-test.rs"]
            missing = [n for n in need if f"{pkg}-{version}/{n}" not in names]
            problems += [f"{path} lacks {n}" for n in missing]
            if missing:
                continue
            for lic in ("LICENSE-MIT", "LICENSE-APACHE"):
                if len(text(lic)) <= 1000:
                    problems.append(f"{path}: {lic} is empty or short (a symlink not followed?)")
            manifest = text("Cargo.toml")
            problems += [f"{path}: Cargo.toml lacks {k}" for k in keys if not re.search(k, manifest)]
            if re.search(r"(?m)^repository", manifest):
                problems.append(f"{path} names a repository")
            if pkg == "netns-test":
                if f'version = "={version}"' not in manifest:
                    problems.append(f"{path} does not pin netns-test-macros to ={version}")
                head = text("README.md").splitlines()[:20]
                if "## Use it in your crate" not in head:
                    problems.append(f"{path}: the README does not start with the crate user's view")
        print(f"{path}: {len(names)} files; licences, README and metadata checked")
    for p in problems:
        print(f"package-check: FAILED: {p}")
    sys.exit(1 if problems else 0)


RETRY_FOLDER = re.compile(r"/retry_artifacts__fixtures__fails_on_the_first_attempt_only(\.attempt-\d+)?$")


def snapshot(repo):
    import glob
    import os
    import subprocess

    def show(lines):
        for line in lines:  # nothing at all for an empty section
            print(line)

    def out(*cmd):
        run = subprocess.run(cmd, capture_output=True, text=True, stdin=subprocess.DEVNULL)
        return (run.stdout + run.stderr).splitlines()

    print("# links")
    links = [re.sub(r"^\d+: ", "", l).split()[:2] for l in out("ip", "-o", "link", "show")]
    show(sorted(" ".join(l) for l in links))
    print("# routes")
    show(sorted(out("ip", "route", "show")) + sorted(out("ip", "-6", "route", "show")))
    print("# nftables")
    show(out("nft", "list", "ruleset"))
    print("# mounts")
    with open("/proc/self/mounts", encoding="utf-8") as f:
        show(sorted(" ".join(l.split()[1:3]) for l in f))
    print("# netns")
    show(sorted(os.listdir("/run/netns")) if os.path.isdir("/run/netns") else [])
    print("# temporary files")
    temp_files()
    # A test that passed leaves no folder; the retry fixture's failed attempts are kept.
    print("# diagnostics folders")
    kept = glob.glob(os.path.join(repo, "target", "netns-test", "*"))
    show(sorted(p for p in kept if not RETRY_FOLDER.search(p)))
    # A process in another user namespace than this one is a sandbox (kernel threads,
    # which have no command line, aside).
    print("# sandboxed processes")
    own = os.readlink("/proc/self/ns/user")
    for pid in sorted(filter(str.isdigit, os.listdir("/proc")), key=int):
        try:
            ns = os.readlink(f"/proc/{pid}/ns/user")
            with open(f"/proc/{pid}/cmdline", "rb") as f:
                cmd = f.read().replace(b"\0", b" ").decode(errors="replace").strip()
        except OSError:
            continue
        if ns != own and cmd:
            print(pid, cmd)


def leaks(before_path, after_path):
    def sections(path):
        out, name = {}, ""
        with open(path, encoding="utf-8") as f:
            for line in f.read().splitlines():
                if line.startswith("# "):
                    name = line[2:]
                out.setdefault(name, []).append(line)
        return out
    before, after = sections(before_path), sections(after_path)
    problems = []
    for name in sorted(set(before) | set(after)):
        b, a = before.get(name, []), after.get(name, [])
        gone = [l for l in b if l not in a] if name != "sandboxed processes" else []
        new = [l for l in a if l not in b]
        problems += [f"{name}: gone: {l}" for l in gone] + [f"{name}: new: {l}" for l in new]
    for p in problems:
        print(p)
    if not problems:
        print("no leak: " + ", ".join(after) + " as before")
    sys.exit(1 if problems else 0)


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
    elif cmd == "bench-check":
        bench_check(args[1])
    elif cmd == "bench-splice":
        bench_splice(args[1], args[2])
    elif cmd == "compare-splice":
        compare_splice(args[1], args[2])
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
    elif cmd == "libtest-row":
        libtest_row(args[1:])
    elif cmd == "package-check":
        package_check(args[1])
    elif cmd == "snapshot":
        snapshot(args[1])
    elif cmd == "leaks":
        leaks(args[1], args[2])
    elif cmd == "soak-report":
        soak_report(args[1], int(args[2]))
    else:
        sys.exit(__doc__)


if __name__ == "__main__":
    main()
