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
    ci_tools.py bench-splice GENERATED PAGE    replaces the block in PAGE with the page
                                               the benchmark wrote (GENERATED)
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


def bench_problems(text):
    block, begin, end = bench_block(text)
    problems = []
    outside = text[:begin] + text[end:]
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
    elif cmd == "libtest-summary":
        libtest_summary(args[1])
    elif cmd == "listed":
        listed()
    elif cmd == "junit":
        junit(args[1])
    elif cmd == "partitions":
        partitions(args[1], args[2:])
    else:
        sys.exit(__doc__)


if __name__ == "__main__":
    main()
