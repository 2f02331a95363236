#!/usr/bin/env python3
"""Checks the GitHub Actions workflow template offline.

    check-workflow.py WORKFLOW NEXTEST_TOML             check it, print what was checked
    check-workflow.py WORKFLOW NEXTEST_TOML --commands JOB K
                                                        print the job's `cargo nextest`
                                                        commands with matrix.partition=K

The check: the file parses as YAML (PyYAML); every job's `needs` names a job; every
`${{ matrix.X }}` is a key of that job's matrix; every program a `run:` line starts (after
`sudo` and `VAR=value`) exists on this machine, and every cargo subcommand is known to
cargo; every `--flag` given to `cargo nextest archive|run` is one its `--help` lists;
`--partition count:K/N` agrees with the matrix; the paths uploaded are the ones the crate
and .config/nextest.toml write to; the apt packages installed exist in the apt cache.
Exits non-zero, naming the problem, at the first thing that does not hold.
"""

import os
import re
import shlex
import shutil
import subprocess
import sys
import tomllib

try:
    import yaml
except ImportError:
    sys.exit("check-workflow: PyYAML is missing (apt-get install python3-yaml)")

# This process's PATH (cargo lives in ~/.cargo/bin) and the sbin directories, which
# root's PATH on a runner has.
SEARCH_PATH = os.environ.get("PATH", "") + ":/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"


def fail(msg):
    sys.exit(f"check-workflow: FAILED: {msg}")


def load(path):
    with open(path, encoding="utf-8") as f:
        try:
            doc = yaml.safe_load(f)
        except yaml.YAMLError as e:
            fail(f"{path} is not valid YAML: {e}")
    if not isinstance(doc, dict) or "jobs" not in doc:
        fail(f"{path}: no `jobs:` mapping at the top level")
    # PyYAML reads a bare `on:` key as the boolean True (YAML 1.1).
    if "on" not in doc and True not in doc:
        fail(f"{path}: no `on:` trigger")
    return doc


def matrix_of(job):
    return (job.get("strategy") or {}).get("matrix") or {}


def substitute(text, matrix_values):
    def repl(m):
        key = m.group(1)
        if key not in matrix_values:
            fail(f"`${{{{ matrix.{key} }}}}` used but the job's matrix has no `{key}`")
        return str(matrix_values[key])

    return re.sub(r"\$\{\{\s*matrix\.([A-Za-z0-9_-]+)\s*\}\}", repl, text)


def commands(run):
    """The simple commands of a `run:` script: split on newlines (with `\\` joins),
    `&&`, `||`, `;` and `|`."""
    script = run.replace("\\\n", " ")
    out = []
    for line in script.splitlines():
        line = line.strip()
        if not line or line.startswith("#"):
            continue
        for part in re.split(r"&&|\|\||;|\|", line):
            words = shlex.split(part, comments=True)
            if words:
                out.append(words)
    return out


def program(words):
    """The program a command runs, its arguments, and whether `sudo` wrapped it."""
    sudo = False
    while words and (re.match(r"^[A-Za-z_][A-Za-z0-9_]*=", words[0]) or words[0] == "sudo"):
        if words[0] == "sudo":
            sudo = True
            words = words[1:]
            while words and words[0].startswith("-"):
                words = words[1:]
        else:
            words = words[1:]
    return words, sudo


_help_cache = {}


def cargo_help(*sub):
    if sub not in _help_cache:
        r = subprocess.run(["cargo", *sub, "--help"], capture_output=True, text=True)
        if r.returncode != 0:
            fail(f"`cargo {' '.join(sub)} --help` failed: {r.stderr.strip()}")
        _help_cache[sub] = r.stdout
    return _help_cache[sub]


def check_command(words, job_name, matrix, checked):
    words, sudo = program(words)
    if not words:
        return
    prog = words[0]
    if sudo and shutil.which("sudo") is None:
        checked.append(f"{job_name}: sudo: not on this machine (it is on GitHub's runners); "
                       f"checking what it runs")
    found = shutil.which(prog, path=SEARCH_PATH)
    if found is None:
        fail(f"job {job_name}: `{prog}` is not installed on this machine")
    if prog == "cargo":
        sub = words[1] if len(words) > 1 else None
        if sub is None:
            return
        r = subprocess.run(["cargo", "--list"], capture_output=True, text=True)
        known = {line.split()[0] for line in r.stdout.splitlines()[1:] if line.strip()}
        if sub not in known:
            fail(f"job {job_name}: `cargo {sub}` is not a cargo command here "
                 f"(installed: {', '.join(sorted(known))})")
        if sub == "nextest":
            action = words[2]
            help_text = cargo_help("nextest", action)
            for w in words[3:]:
                if w.startswith("--"):
                    flag = w.split("=")[0]
                    if not re.search(rf"(^|[\s,]){re.escape(flag)}([\s=<,]|$)", help_text, re.M):
                        fail(f"job {job_name}: `cargo nextest {action}` has no option {flag}")
            if "--partition" in words:
                spec = words[words.index("--partition") + 1]
                m = re.fullmatch(r"count:(\d+)/(\d+)", spec)
                if not m:
                    fail(f"job {job_name}: --partition {spec} is not count:K/N")
                k, n = int(m.group(1)), int(m.group(2))
                parts = sorted(int(v) for v in matrix.get("partition", []))
                if parts != list(range(1, n + 1)):
                    fail(f"job {job_name}: --partition count:K/{n} but the matrix runs {parts}")
                if not 1 <= k <= n:
                    fail(f"job {job_name}: partition {k} of {n}")
            checked.append(f"{job_name}: cargo nextest {action}: options known to "
                           f"cargo-nextest {nextest_version()}")
        else:
            checked.append(f"{job_name}: cargo {sub}: a cargo command here")
    elif prog == "apt-get" and len(words) > 1 and words[1] == "install":
        for pkg in [w for w in words[2:] if not w.startswith("-")]:
            r = subprocess.run(["apt-cache", "show", pkg], capture_output=True, text=True)
            if r.returncode != 0 or not r.stdout.strip():
                fail(f"job {job_name}: apt package {pkg} is unknown to apt-cache here")
        checked.append(f"{job_name}: apt-get install: every package known to apt-cache")
    elif prog == "sysctl":
        checked.append(f"{job_name}: sysctl at {found}")
    else:
        checked.append(f"{job_name}: {prog} at {found}")


def nextest_version():
    r = subprocess.run(["cargo", "nextest", "--version"], capture_output=True, text=True)
    return r.stdout.split()[1] if r.returncode == 0 else "?"


def junit_path(nextest_toml, profile):
    with open(nextest_toml, "rb") as f:
        cfg = tomllib.load(f)
    store = (cfg.get("store") or {}).get("dir", "target/nextest")
    junit = ((cfg.get("profile") or {}).get(profile) or {}).get("junit", {}).get("path")
    if junit is None:
        fail(f"{nextest_toml}: profile {profile} writes no JUnit report")
    return f"{store}/{profile}/{junit}"


def main():
    args = sys.argv[1:]
    if len(args) < 2:
        sys.exit(__doc__)
    workflow, nextest_toml = args[0], args[1]
    doc = load(workflow)
    jobs = doc["jobs"]
    if "--commands" in args:
        i = args.index("--commands")
        job_name, k = args[i + 1], args[i + 2]
        job = jobs[job_name]
        for step in job.get("steps", []):
            if "run" in step:
                for words in commands(substitute(step["run"], {"partition": k})):
                    words, _ = program(words)
                    if words[:2] == ["cargo", "nextest"]:
                        print(shlex.join(words))
        return

    checked = [f"{workflow}: parses as YAML (PyYAML {yaml.__version__})"]
    profiles = set()
    for name, job in jobs.items():
        needs = job.get("needs", [])
        for n in [needs] if isinstance(needs, str) else needs:
            if n not in jobs:
                fail(f"job {name} needs {n}, which is not a job")
        matrix = matrix_of(job)
        values = {k: v[0] for k, v in matrix.items() if isinstance(v, list) and v}
        steps = job.get("steps")
        if not steps:
            fail(f"job {name} has no steps")
        for step in steps:
            if "uses" in step and not re.fullmatch(r"[\w.-]+/[\w.-]+(/[\w./-]+)?@[\w.-]+", step["uses"]):
                fail(f"job {name}: `uses: {step['uses']}` is not owner/repo@ref")
            for key in ("name", "if"):
                if key in step:
                    substitute(str(step[key]), values)
            for v in (step.get("with") or {}).values():
                substitute(str(v), values)
            if "run" in step:
                for words in commands(substitute(step["run"], values)):
                    check_command(words, name, matrix, checked)
                    w, _ = program(words)
                    if w[:3] == ["cargo", "nextest", "run"] and "--profile" in w:
                        profiles.add(w[w.index("--profile") + 1])
        if "name" in job:
            substitute(str(job["name"]), values)
    uploads = [
        (step.get("with") or {}).get("path")
        for job in jobs.values()
        for step in job.get("steps", [])
        if str(step.get("uses", "")).startswith("actions/upload-artifact@")
    ]
    if "target/netns-test/" not in uploads:
        fail("no step uploads target/netns-test/, where the diagnostics folders are written")
    for p in profiles:
        want = junit_path(nextest_toml, p)
        if want not in uploads:
            fail(f"the JUnit report of profile {p} is written to {want}, which no step uploads")
        checked.append(f"JUnit report of profile {p} uploaded from {want} ({nextest_toml})")
    checked.append("diagnostics uploaded from target/netns-test/ (where a run from an archive "
                   "with --workspace-remap . writes them)")
    seen = set()
    for line in checked:
        if line not in seen:
            seen.add(line)
            print(f"check-workflow: ok: {line}")


if __name__ == "__main__":
    main()
