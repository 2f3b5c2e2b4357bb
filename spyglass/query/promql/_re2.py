"""RE2 patterns (Prometheus's regex dialect) on Python's ``re``: fully anchored, ``.`` matches newline.

RE2 lets a flag group like ``(?i)`` appear anywhere, applying to the rest of the enclosing group;
Python only allows it at the very start. Such groups are rewritten as scoped ``(?i:...)`` groups.
"""

from __future__ import annotations

import functools
import re

_FLAGS = re.compile(r"\(\?([imsU]+)\)")


def translate(pattern: str) -> str:
    """Rewrite mid-pattern ``(?flags)`` into scoped groups that close with their enclosing group."""
    out: list[str] = []
    # Per open group: the scoped flag groups opened inside it (closed at its end, and around each |).
    opened: list[list[str]] = [[]]
    i = 0
    in_class = False
    while i < len(pattern):
        c = pattern[i]
        if c == "\\" and i + 1 < len(pattern):
            out.append(pattern[i : i + 2])
            i += 2
            continue
        if in_class:
            if c == "]":
                in_class = False
            out.append(c)
            i += 1
            continue
        if c == "[":
            in_class = True
            out.append(c)
            i += 1
            if i < len(pattern) and pattern[i] == "^":
                out.append("^")
                i += 1
            if i < len(pattern) and pattern[i] == "]":
                out.append("]")
                i += 1
            continue
        m = _FLAGS.match(pattern, i)
        if m:
            flags = m.group(1).replace("U", "")
            group = f"(?{flags}:" if flags else "(?:"
            out.append(group)
            opened[-1].append(group)
            i = m.end()
            continue
        if c == "(":
            opened.append([])
        elif c == ")":
            out.append(")" * len(opened.pop()))
            if not opened:
                opened.append([])
        elif c == "|" and opened[-1]:
            # The flags still apply after the bar: close the scopes for this branch, reopen them after.
            out.append(")" * len(opened[-1]) + "|" + "".join(opened[-1]))
            i += 1
            continue
        out.append(c)
        i += 1
    out.append(")" * len(opened[-1]))
    return "".join(out)


@functools.lru_cache(maxsize=1024)
def compile_anchored(pattern: str) -> re.Pattern[str]:
    """The pattern as Prometheus uses it in matchers: ``^(?s:pattern)$``."""
    return re.compile(r"(?s:" + translate(pattern) + r")\Z")
