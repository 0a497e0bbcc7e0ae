#!/usr/bin/env python3
"""Checks that keep the code easy to enter, which rustfmt and clippy do not make:

- no line of Rust longer than rustfmt's `max_width` (rustfmt silently leaves alone an expression it
  cannot fit, and `cargo fmt --check` still passes);
- no file over 400 lines, and no function over 80 lines outside tests; no HTTP handler (a `pub async
  fn` in a `routes/` folder or the gateway's `proxy.rs`) over 35 lines: handlers read, delegate and
  answer;
- no cycle between the top-level modules of a crate (`use crate::a` in `b` and `use crate::b` in `a`,
  directly or through others);
- every file the maps cite (`docs/ARCHITECTURE.md`, `CONTRIBUTING.md`, the READMEs) exists, and every
  test they cite as `path.rs::name` (or `::name` after such a citation) is a function in that file.

Run from the repository's root: `python3 .ci/tidy.py`. Prints every finding and exits 1 if any.
"""

import pathlib
import re
import sys

ROOT = pathlib.Path(__file__).resolve().parent.parent
MAX_WIDTH = int(re.search(r"max_width\s*=\s*(\d+)", (ROOT / "rustfmt.toml").read_text()).group(1))
MAX_FILE_LINES = 400
MAX_FUNCTION_LINES = 80
MAX_HANDLER_LINES = 35


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
        limit = MAX_HANDLER_LINES if is_handler(path, match) else MAX_FUNCTION_LINES
        if started and length > limit:
            yield f"{path}:{index + 1}: fn {match.group(6)} is {length} lines (at most {limit})"
        index = cursor + 1 if started else index + 1


def is_handler(path, match):
    """An actix handler: a public async fn where handlers live."""
    public_async = match.group(1) is not None and match.group(4) is not None
    where = "routes" in path.parts or path.as_posix() == "resource-gateway/src/proxy.rs"
    return public_async and where


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


MAPS = ["docs/ARCHITECTURE.md", "CONTRIBUTING.md", "README.md", "*/README.md", "deploy/README.md"]
CITED_PATH = re.compile(r"`((?:[\w.-]+/)+[\w.-]+\.(?:rs|toml|yaml|yml|sql|md|py|html|txt))(?:::(\w+))?`")
CITED_TEST = re.compile(r"`::(\w+)`")


def stale_citations():
    """Paths and tests the maps name that are not there. `a.rs::t`, then `::u` means `a.rs::u`."""
    for pattern in MAPS:
        for map_file in sorted(ROOT.glob(pattern)):
            shown = map_file.relative_to(ROOT)
            for number, line in enumerate(map_file.read_text().splitlines(), 1):
                yield from stale_in_line(shown, number, line, map_file.parent)


def repository_files():
    """Every file outside `target/` and hidden folders, relative to the root, as posix paths."""
    if not hasattr(repository_files, "cache"):
        repository_files.cache = [
            path.relative_to(ROOT).as_posix()
            for path in ROOT.rglob("*")
            if path.is_file()
            and not any(part in ("target",) or part.startswith(".") for part in path.relative_to(ROOT).parts[:-1])
        ]
    return repository_files.cache


def resolve(cited, folder):
    """The file a citation means: from the root, from the map's folder, or, for a path given inside
    a crate (`routes/token.rs`), the one file of the repository it ends."""
    for base in (ROOT, folder):
        if (base / cited).is_file():
            return base / cited
    matches = [path for path in repository_files() if path.endswith("/" + cited)]
    return ROOT / matches[0] if matches else None


def stale_in_line(shown, number, line, folder):
    last_file = None
    tokens = sorted(
        [(m.start(), "path", m) for m in CITED_PATH.finditer(line)]
        + [(m.start(), "test", m) for m in CITED_TEST.finditer(line)],
        key=lambda token: token[0],
    )
    for _, kind, found in tokens:
        if kind == "path":
            cited = found.group(1)
            if "<" in cited or "*" in cited:
                continue
            target = resolve(cited, folder)
            if target is None:
                yield f"{shown}:{number}: cites {cited}, which does not exist"
                last_file = None
                continue
            last_file = target
            test = found.group(2)
        else:
            test = found.group(1)
        if test and last_file is not None and last_file.suffix == ".rs":
            if not re.search(rf"\bfn {re.escape(test)}\b", last_file.read_text()):
                yield f"{shown}:{number}: cites {last_file.relative_to(ROOT)}::{test}, which is not there"


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
    findings.extend(stale_citations())
    for finding in findings:
        print(finding)
    if findings:
        print(f"\n{len(findings)} finding(s); see CONTRIBUTING.md, Lint", file=sys.stderr)
        return 1
    print("tidy: no long line, long file, long function or handler, module cycle or stale citation")
    return 0


if __name__ == "__main__":
    sys.exit(main())
