"""Which files `docker build` would send as its context, by the rules of .dockerignore (without a
daemon): patterns as Go's filepath.Match with `**`, matched against each path and its parent folders,
`!` re-including, the last matching line deciding."""
from __future__ import annotations

import os
import re
from pathlib import Path


def _regex(pattern: str) -> re.Pattern:
    out, i = [], 0
    while i < len(pattern):
        c = pattern[i]
        if pattern.startswith("**", i):
            out.append(".*")
            i += 2
            if pattern.startswith("/", i):  # "**/" also matches no folder at all
                out[-1] = "(?:.*/)?"
                i += 1
            continue
        out.append("[^/]*" if c == "*" else "[^/]" if c == "?" else re.escape(c))
        i += 1
    return re.compile("".join(out) + "$")


def read_rules(path: Path) -> list[tuple[bool, re.Pattern]]:
    rules = []
    for line in Path(path).read_text().splitlines():
        line = line.strip()
        if not line or line.startswith("#"):
            continue
        include = line.startswith("!")
        pattern = os.path.normpath(line.lstrip("!").strip()).lstrip("/")
        rules.append((include, _regex(pattern)))
    return rules


def excluded(rel: str, rules: list[tuple[bool, re.Pattern]]) -> bool:
    parts = rel.split("/")
    prefixes = ["/".join(parts[:k]) for k in range(1, len(parts) + 1)]
    verdict = False
    for include, rx in rules:
        if any(rx.match(p) for p in prefixes):
            verdict = not include
    return verdict


def context_files(root: Path) -> list[str]:
    """Every file under root that the build context holds (paths relative to root, '/'-separated)."""
    root = Path(root)
    ignore = root / ".dockerignore"
    rules = read_rules(ignore) if ignore.exists() else []
    out = []
    for folder, dirs, files in os.walk(root):
        rel_dir = Path(folder).relative_to(root).as_posix()
        rel_dir = "" if rel_dir == "." else rel_dir + "/"
        for name in files:
            rel = rel_dir + name
            if not excluded(rel, rules):
                out.append(rel)
    return sorted(out)


def copy_sources(dockerfile: Path) -> list[str]:
    """The context paths the Dockerfile's COPY lines take (not those copied from another stage)."""
    sources = []
    for line in Path(dockerfile).read_text().splitlines():
        words = line.split()
        if words[:1] == ["COPY"] and not any(w.startswith("--from") for w in words):
            sources += [w.rstrip("/") for w in words[1:-1] if not w.startswith("--")]
    return sources
