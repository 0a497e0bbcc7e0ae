#!/usr/bin/env python3
"""Checks that keep the code easy to enter, which rustfmt and clippy do not make:

- no line of Rust longer than rustfmt's `max_width` (rustfmt silently leaves alone an expression it
  cannot fit, and `cargo fmt --check` still passes);
- no file over 400 lines, and no function over 80 lines outside tests;
- no cycle between the top-level modules of a crate (`use crate::a` in `b` and `use crate::b` in `a`,
  directly or through others).

Run from the repository's root: `python3 .ci/tidy.py`. Prints every finding and exits 1 if any.
"""

import pathlib
import re
import sys

ROOT = pathlib.Path(__file__).resolve().parent.parent
MAX_WIDTH = int(re.search(r"max_width\s*=\s*(\d+)", (ROOT / "rustfmt.toml").read_text()).group(1))
MAX_FILE_LINES = 400
MAX_FUNCTION_LINES = 80


def rust_files():
    for path in sorted(ROOT.rglob("*.rs")):
        parts = path.relative_to(ROOT).parts
        if parts[0] in ("target", ".git") or any(part.startswith(".") for part in parts):
            continue
        yield path


def is_test_file(shown):
    """Test code: a crate's `tests/` (examples and benchmarks count as code)."""
    return "tests" in shown.parts


def long_lines(path, lines):
    for number, line in enumerate(lines, 1):
        if len(line) > MAX_WIDTH:
            yield f"{path}:{number}: {len(line)} characters (rustfmt's max_width is {MAX_WIDTH})"


def test_module_start(lines):
    """The line index where `#[cfg(test)]` begins, or len(lines)."""
    for index, line in enumerate(lines):
        if line.strip() == "#[cfg(test)]":
            return index
    return len(lines)


FUNCTION = re.compile(r"^\s*(pub(\([^)]*\))?\s+)?(const\s+)?(async\s+)?(unsafe\s+)?fn\s+(\w+)")


def long_functions(path, lines):
    end_of_code = len(lines) if not is_test_file(path) else 0
    end_of_code = min(end_of_code, test_module_start(lines))
    index = 0
    while index < end_of_code:
        match = FUNCTION.match(lines[index])
        if not match:
            index += 1
            continue
        depth, started, body_start = 0, False, index
        cursor = index
        while cursor < len(lines):
            code = re.sub(r'"(\\.|[^"\\])*"', '""', lines[cursor].split("//")[0])
            for character in code:
                if character == "{":
                    depth += 1
                    started = True
                elif character == "}":
                    depth -= 1
            if started and depth == 0:
                break
            if not started and code.rstrip().endswith(";"):
                break  # a declaration without a body
            cursor += 1
        length = cursor - body_start + 1
        if started and length > MAX_FUNCTION_LINES:
            yield f"{path}:{index + 1}: fn {match.group(6)} is {length} lines (at most {MAX_FUNCTION_LINES})"
        index = cursor + 1 if started else index + 1


def crates():
    for manifest in sorted(ROOT.glob("*/Cargo.toml")):
        source = manifest.parent / "src"
        if source.is_dir():
            yield manifest.parent.name, source


def module_of(source, path):
    relative = path.relative_to(source).parts
    if relative[0] in ("lib.rs", "main.rs"):
        return None
    return relative[0].removesuffix(".rs")


def module_cycles():
    reference = re.compile(r"\bcrate::(\w+)")
    for crate, source in crates():
        edges = {}
        for path in source.rglob("*.rs"):
            module = module_of(source, path)
            if module is None:
                continue
            text = path.read_text()
            text = text[: text.find("#[cfg(test)]")] if "#[cfg(test)]" in text else text
            for target in reference.findall(text):
                if target != module:
                    edges.setdefault(module, set()).add(target)
        for cycle in cycles_of(edges):
            yield f"{crate}: module cycle {' -> '.join(cycle + [cycle[0]])}"


def cycles_of(edges):
    """The strongly connected components of more than one module (Tarjan), each as a list."""
    index_of, low, stack, on_stack, found, counter = {}, {}, [], set(), [], [0]

    def visit(node):
        index_of[node] = low[node] = counter[0]
        counter[0] += 1
        stack.append(node)
        on_stack.add(node)
        for target in sorted(edges.get(node, ())):
            if target not in index_of:
                visit(target)
                low[node] = min(low[node], low[target])
            elif target in on_stack:
                low[node] = min(low[node], index_of[target])
        if low[node] == index_of[node]:
            component = []
            while True:
                member = stack.pop()
                on_stack.discard(member)
                component.append(member)
                if member == node:
                    break
            if len(component) > 1:
                found.append(sorted(component))

    for node in sorted(edges):
        if node not in index_of:
            visit(node)
    return found


def main():
    findings = []
    for path in rust_files():
        lines = path.read_text().splitlines()
        shown = path.relative_to(ROOT)
        findings.extend(long_lines(shown, lines))
        if len(lines) > MAX_FILE_LINES:
            findings.append(f"{shown}: {len(lines)} lines (at most {MAX_FILE_LINES}: move a concept out)")
        findings.extend(long_functions(shown, lines))
    findings.extend(module_cycles())
    for finding in findings:
        print(finding)
    if findings:
        print(f"\n{len(findings)} finding(s); see CONTRIBUTING.md, Lint", file=sys.stderr)
        return 1
    print("tidy: no long line, long file, long function or module cycle")
    return 0


if __name__ == "__main__":
    sys.exit(main())
