"""check-workflow.py accepts the template and refuses each broken copy of it.

    python3 -m unittest discover -s scripts/tests      (from the repository root)
"""

import os
import re
import subprocess
import sys
import tempfile
import unittest

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
SCRIPT = os.path.join(ROOT, "scripts", "check-workflow.py")
WORKFLOW = os.path.join(ROOT, "docs", "ci", "github-actions.yml")
NEXTEST = os.path.join(ROOT, ".config", "nextest.toml")


def check(text, *extra):
    with tempfile.NamedTemporaryFile("w", suffix=".yml") as f:
        f.write(text)
        f.flush()
        return subprocess.run(
            [sys.executable, SCRIPT, f.name, NEXTEST, *extra],
            capture_output=True, text=True, stdin=subprocess.DEVNULL,
        )


class CheckWorkflow(unittest.TestCase):
    def setUp(self):
        with open(WORKFLOW, encoding="utf-8") as f:
            self.template = f.read()

    def test_the_template_passes(self):
        run = check(self.template)
        self.assertEqual(run.returncode, 0, run.stdout + run.stderr)
        self.assertIn("check-workflow: ok:", run.stdout)

    def test_commands_of_a_job(self):
        run = check(self.template, "--commands", "test", "2")
        self.assertEqual(run.returncode, 0, run.stderr)
        self.assertIn("--partition count:2/2", run.stdout)
        self.assertEqual(len(run.stdout.splitlines()), 1, run.stdout)

    def test_each_broken_copy_is_refused(self):
        # (pattern, replacement, a word of the refusal)
        broken = [
            (r"sysctl -w", "sysctll -w", "sysctll"),
            (r"archive --workspace", "archive --workspaces", "--workspaces"),
            (r"count:\$\{\{ matrix.partition \}\}/2", "count:${{ matrix.partition }}/3", "partition"),
            (r"path: target/netns-test/", "path: target/elsewhere/", "target/netns-test/"),
            (r"needs: build", "needs: nobuild", "nobuild"),
            (r"(?m)^jobs:", "jobs: [", "YAML"),
        ]
        for pattern, new, word in broken:
            with self.subTest(pattern=pattern):
                text, n = re.subn(pattern, lambda _: new, self.template, count=1)
                self.assertEqual(n, 1, f"the template has no {pattern!r} to break")
                run = check(text)
                self.assertNotEqual(run.returncode, 0, f"accepted with {new!r}: {run.stdout}")
                self.assertIn("FAILED", run.stdout + run.stderr)
                self.assertIn(word, run.stdout + run.stderr)


if __name__ == "__main__":
    unittest.main()
