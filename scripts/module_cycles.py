#!/usr/bin/env python3
"""Check that the crate's module groups import one another without a cycle.

Reads every `src/**/*.rs`, collects the `crate::...` and `super::...` paths it names outside
`#[cfg(test)]` modules, maps each path to the group it lands in (the first segment under
`src/`, e.g. `check`, `net`, `cli`), and looks for cycles in the graph of groups. With
`--modules`, the nodes are whole module paths (`check::pipeline`) instead of groups.
Exits 1 and prints each cycle when one exists.

    python3 scripts/module_cycles.py            # groups
    python3 scripts/module_cycles.py --modules  # every module
    python3 scripts/module_cycles.py --edges    # print the edges too
"""
import pathlib
import re
import sys

ROOT = pathlib.Path(__file__).resolve().parent.parent / "src"
IDENT = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")


def module_of(path):
    parts = list(path.relative_to(ROOT).with_suffix("").parts)
    if parts[-1] in ("mod", "lib", "main"):
        parts.pop()
    return parts


def strip_tests(text):
    """Drops `#[cfg(test)]` items: test code may use anything."""
    out, i = [], 0
    for m in re.finditer(r"#\[cfg\(test\)\]\s*(?:pub(?:\([^)]*\))?\s+)?mod\s+\w+\s*\{", text):
        if m.start() < i:
            continue
        out.append(text[i:m.start()])
        depth, j = 1, m.end()
        while depth and j < len(text):
            depth += {"{": 1, "}": -1}.get(text[j], 0)
            j += 1
        i = j
    out.append(text[i:])
    return "".join(out)


def strip_comments(text):
    text = re.sub(r"/\*.*?\*/", "", text, flags=re.S)
    return re.sub(r"//[^\n]*", "", text)


def use_tree(text, pos):
    """Paths (lists of segments) of the use tree starting at `pos`, and where it ends."""
    paths, prefix = [], []
    while pos < len(text):
        while text[pos].isspace():
            pos += 1
        if text[pos] == "{":
            pos += 1
            while True:
                sub, pos = use_tree(text, pos)
                paths += [prefix + s for s in sub]
                while text[pos].isspace():
                    pos += 1
                if text[pos] == ",":
                    pos += 1
                    while text[pos].isspace():
                        pos += 1
                if text[pos] == "}":
                    return paths, pos + 1
        m = IDENT.match(text, pos)
        if not m:
            return paths + [prefix] if prefix else paths, pos
        prefix = prefix + [m.group()]
        pos = m.end()
        if text.startswith("::", pos):
            pos += 2
            continue
        return paths + [prefix], pos
    return paths, pos


def references(path):
    text = strip_comments(strip_tests(path.read_text()))
    here = module_of(path)
    is_mod_file = path.stem in ("mod", "lib", "main")
    for m in re.finditer(r"\b(crate|super)::", text):
        trees, _ = use_tree(text, m.end())
        for tree in trees:
            if m.group(1) == "crate":
                yield tree
            else:
                # `super` of a mod.rs is its parent; of a leaf file, its directory's module.
                base = here[:-1] if not is_mod_file else here[:-1]
                yield base + tree


def main():
    by_module = "--modules" in sys.argv
    files = sorted(ROOT.rglob("*.rs"))
    known = {tuple(module_of(f)) for f in files}

    def node(segments):
        # The longest known module prefix of the path.
        for n in range(len(segments), 0, -1):
            if tuple(segments[:n]) in known:
                segments = segments[:n]
                break
        else:
            return None
        return "::".join(segments) if by_module else segments[0]

    edges = {}
    for f in files:
        src = module_of(f)
        if not src:
            continue  # lib.rs / main.rs sit above every group
        a = "::".join(src) if by_module else src[0]
        for ref in references(f):
            b = node(ref)
            if b and b != a and not (b.startswith(a + "::") or a.startswith(b + "::")):
                edges.setdefault(a, set()).add(b)
    if "--edges" in sys.argv:
        for a in sorted(edges):
            print(f"{a} -> {', '.join(sorted(edges[a]))}")

    # Tarjan's strongly connected components: any with two or more nodes is a cycle.
    index, low, stack, on, cycles, counter = {}, {}, [], set(), [], [0]

    def visit(v):
        index[v] = low[v] = counter[0]
        counter[0] += 1
        stack.append(v)
        on.add(v)
        for w in sorted(edges.get(v, ())):
            if w not in index:
                visit(w)
                low[v] = min(low[v], low[w])
            elif w in on:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            comp = []
            while True:
                w = stack.pop()
                on.discard(w)
                comp.append(w)
                if w == v:
                    break
            if len(comp) > 1:
                cycles.append(sorted(comp))

    sys.setrecursionlimit(10000)
    for v in sorted(set(edges) | {w for ws in edges.values() for w in ws}):
        if v not in index:
            visit(v)
    for c in cycles:
        print(f"cycle among {len(c)}: {', '.join(c)}")
    if not cycles:
        print("no cycles")
    return 1 if cycles else 0


if __name__ == "__main__":
    sys.exit(main())
