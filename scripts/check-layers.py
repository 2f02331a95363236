#!/usr/bin/env python3
"""Checks the layer rule of netns-test/src (CONTRIBUTING.md, "The layers").

    check-layers.py [SRC]          SRC defaults to netns-test/src

Each top-level module of SRC belongs to one layer of LAYERS; through `crate::` paths
(comments, `#[cfg(test)] mod` blocks and test files aside; a name re-exported by lib.rs counts as its
module) a module may use only modules of its own layer or of the layers before it, and no
modules may use each other in a circle. Prints every breach and exits 1 if there is any;
a module that is in no layer is a breach too (add it where it belongs).
"""

import os
import re
import sys

# From the top of the picture down: each layer uses only the ones before it.
LAYERS = [
    ["error", "parse"],
    ["sys", "id_map"],
    ["environment"],
    ["nft"],
    ["topology"],
    ["kernel"],
    ["net"],
    ["reach", "fault", "diag"],
    ["sandbox"],
    ["harness"],
]
# Not modules of a layer: the crate root, its re-exports, and the programs.
ROOTS = {"lib", "main", "bin"}


def read(path):
    with open(path, encoding="utf-8") as f:
        return f.read()


def strip(text):
    """The code of TEXT without comments and `#[cfg(test)] mod` blocks."""
    text = re.sub(r"//[^\n]*", "", text)
    out, i = [], 0
    for m in re.finditer(r"#\[cfg\(test\)\]\s*mod\s+\w+\s*\{", text):
        if m.start() < i:
            continue
        out.append(text[i : m.start()])
        depth, j = 1, m.end()
        while j < len(text) and depth:
            depth += {"{": 1, "}": -1}.get(text[j], 0)
            j += 1
        i = j
    out.append(text[i:])
    return "".join(out)


def modules(src):
    """Top-level module name -> its files."""
    mods = {}
    for root, _, files in os.walk(src):
        for f in sorted(files):
            if f.endswith(".rs"):
                rel = os.path.relpath(os.path.join(root, f), src)
                top = rel.split(os.sep)[0].removesuffix(".rs")
                mods.setdefault(top, []).append(os.path.join(root, f))
    return mods


def reexports(src):
    """Name re-exported at the crate root -> the module it comes from."""
    text = strip(read(os.path.join(src, "lib.rs")))
    names = {}
    for m in re.finditer(r"pub use (\w+)::([^;]*);", text):
        if m.group(1) != "crate":
            for name in re.findall(r"\w+", m.group(2).split("::")[-1]):
                names[name] = m.group(1)
    return names


def uses(text, mods, names):
    """The modules a file's `crate::` paths name (`crate::{a, b::c}` groups too)."""
    refs = set(re.findall(r"crate::(\w+)", text))
    for group in re.findall(r"crate::\{([^}]*)\}", text):
        refs.update(re.findall(r"(?:^|,)\s*(\w+)", group))
    return {names.get(r, r) for r in refs} & set(mods)


def cycles(edges):
    """Every set of two or more modules that use each other in a circle (Tarjan)."""
    index, low, stack, on, found = {}, {}, [], set(), []

    def visit(v):
        index[v] = low[v] = len(index)
        stack.append(v)
        on.add(v)
        for w in sorted(edges[v]):
            if w not in index:
                visit(w)
                low[v] = min(low[v], low[w])
            elif w in on:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            comp = []
            while not comp or comp[-1] != v:
                comp.append(stack.pop())
                on.discard(comp[-1])
            if len(comp) > 1:
                found.append(sorted(comp))

    for v in sorted(edges):
        if v not in index:
            visit(v)
    return found


def problems(src):
    mods = modules(src)
    names = reexports(src)
    rank = {m: i for i, layer in enumerate(LAYERS) for m in layer}
    edges = {m: set() for m in mods if m not in ROOTS}
    out = [f"{m}: in no layer of scripts/check-layers.py" for m in edges if m not in rank]
    for m in edges:
        for f in mods[m]:
            if os.path.basename(f) == "tests.rs" or f"{os.sep}tests{os.sep}" in f:
                continue
            edges[m] |= uses(strip(read(f)), mods, names) - ROOTS - {m}
        for used in sorted(edges[m]):
            if m in rank and used in rank and rank[used] > rank[m]:
                out.append(f"{m} uses {used}, a layer below it")
    for c in cycles(edges):
        inner = [f"{a}->{b}" for a in c for b in sorted(edges[a]) if b in c]
        out.append(f"cycle: {' '.join(c)} | {', '.join(inner)}")
    return out


def main():
    src = sys.argv[1] if len(sys.argv) > 1 else "netns-test/src"
    found = problems(src)
    for p in found:
        print(p)
    sys.exit(1 if found else 0)


if __name__ == "__main__":
    main()
