"""check-layers.py passes on netns-test/src's layers and finds each kind of breach.

    python3 -m unittest discover -s scripts/tests      (from the repository root)
"""

import importlib.util
import os
import tempfile
import unittest

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
spec = importlib.util.spec_from_file_location(
    "check_layers", os.path.join(ROOT, "scripts", "check-layers.py"))
check_layers = importlib.util.module_from_spec(spec)
spec.loader.exec_module(check_layers)


def crate(files):
    """A src/ folder of FILES (path -> text), with a lib.rs unless given."""
    d = tempfile.TemporaryDirectory()
    files = {"lib.rs": "pub use net::Net;\n", **files}
    for path, text in files.items():
        full = os.path.join(d.name, path)
        os.makedirs(os.path.dirname(full), exist_ok=True)
        with open(full, "w", encoding="utf-8") as f:
            f.write(text)
    return d


class CheckLayers(unittest.TestCase):
    def problems(self, files):
        with crate(files) as src:
            return check_layers.problems(src)

    def test_uses_only_upwards_pass(self):
        self.assertEqual(self.problems({
            "sys/mod.rs": "use crate::error::Error;\n",
            "error.rs": "",
            "net/mod.rs": "use crate::{kernel, sys::x};\n",
            "kernel/mod.rs": "use crate::topology::Plan;\n",
            "topology/mod.rs": "",
        }), [])

    def test_a_use_of_a_lower_layer(self):
        self.assertEqual(self.problems({
            "kernel/mod.rs": "fn f() { crate::net::thing() }\n",
            "net/mod.rs": "",
        }), ["kernel uses net, a layer below it"])

    def test_a_reexported_name_counts_as_its_module(self):
        self.assertEqual(self.problems({
            "kernel/ops.rs": "use crate::Net;\n",
            "net/mod.rs": "",
        }), ["kernel uses net, a layer below it"])

    def test_a_circle_in_one_layer(self):
        found = self.problems({
            "reach.rs": "use crate::fault::Fault;\n",
            "fault/mod.rs": "use crate::reach::Reach;\n",
        })
        self.assertEqual(len(found), 1, found)
        self.assertTrue(found[0].startswith("cycle: fault reach"), found)

    def test_comments_and_tests_do_not_count(self):
        self.assertEqual(self.problems({
            "kernel/mod.rs": "/// See [`crate::net`].\n// crate::net\n"
                             "#[cfg(test)]\nmod tests { use crate::net; }\n",
            "kernel/tests.rs": "use crate::net;\n",
            "kernel/tests/x.rs": "use crate::net;\n",
            "net/mod.rs": "",
        }), [])

    def test_a_module_in_no_layer(self):
        self.assertEqual(self.problems({"gadget.rs": ""}),
                         ["gadget: in no layer of scripts/check-layers.py"])


if __name__ == "__main__":
    unittest.main()
