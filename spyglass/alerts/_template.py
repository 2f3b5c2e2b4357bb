"""Prometheus rule templates: the part of Go's ``text/template`` that annotations and labels use.

Supported: text and actions with ``{{-``/``-}}`` trimming and ``{{/* comments */}}``; pipelines
(``|``) of functions, fields (``.Labels.x``, ``$labels.x``), variables (``$x := ...``, ``$x =``),
literals and parenthesised pipelines; ``if``/``else if``/``else``/``end``, ``range`` (over
lists and maps in key order, with ``$k, $v :=``), ``with``, ``define``/``template``; Go's
builtins ``and or not len index print printf println eq ne lt le gt ge html js urlquery``; and
Prometheus's functions (``humanize``, ``humanize1024``, ``humanizeDuration``,
``humanizePercentage``, ``humanizeTimestamp``, ``title``, ``toUpper``, ``toLower``,
``reReplaceAll``, ``match``, ``stripPort``, ``stripDomain``, ``query``, ``first``, ``label``,
``value``, ``sortByLabel``, ``args``, ``graphLink``, ``tableLink``, ``externalURL``,
``pathPrefix``, ``now``, ``parseDuration``, ``urlQueryEscape``). Output and error messages are
Go's and Prometheus's (``error executing template NAME: template: NAME:1:3: executing ...``),
checked against Prometheus's own template tests.

Alert templates get Prometheus's prefix ``{{$labels := .Labels}}{{$externalLabels :=
.ExternalLabels}}{{$externalURL := .ExternalURL}}{{$value := .Value}}`` (see :func:`expand_alert`).
"""

from __future__ import annotations

import html
import json
import re
import urllib.parse
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from ._gofmt import (
    GoError,
    go_printf,
    go_quote,
    go_str,
    humanize,
    humanize1024,
    humanize_duration,
    humanize_percentage,
    humanize_timestamp,
)

__all__ = ["ALERT_DEFS", "QueryFunc", "Struct", "Template", "TemplateError", "expand_alert"]

QueryFunc = Callable[[str], list[dict[str, Any]]]

ALERT_DEFS = (
    "{{$labels := .Labels}}{{$externalLabels := .ExternalLabels}}{{$externalURL := .ExternalURL}}{{$value := .Value}}"
)


class TemplateError(Exception):
    """A template failed to parse or execute; the message is Prometheus's."""


class Struct(dict[str, Any]):
    """A Go struct value: a missing field is an error, unlike a map's missing key."""

    type_name = "*template.sample"


class _Missing:
    def __repr__(self) -> str:
        return "<no value>"


_NO_VALUE = _Missing()

# --- lexing --------------------------------------------------------------------------------

_TOKEN = re.compile(
    r"""
    (?P<ws>\s+)
  | (?P<decl>:=)
  | (?P<assign>=)
  | (?P<pipe>\|)
  | (?P<lparen>\()
  | (?P<rparen>\))
  | (?P<comma>,)
  | (?P<str>"(?:[^"\\\n]|\\.)*")
  | (?P<raw>`[^`]*`)
  | (?P<char>'(?:[^'\\]|\\.)+')
  | (?P<num>[+-]?(?:0[xX][0-9a-fA-F_]+|(?:\d[\d_]*(?:\.\d*)?|\.\d+)(?:[eE][+-]?\d+)?)(?![\w.]))
  | (?P<var>\$\w*(?:\.\w+)*)
  | (?P<field>(?:\.\w+)+)
  | (?P<dot>\.)
  | (?P<ident>[A-Za-z_]\w*(?:\.\w+)*)
    """,
    re.VERBOSE,
)

_KEYWORDS = {"if", "else", "end", "range", "with", "define", "template", "block", "break", "continue"}


@dataclass
class _Tok:
    kind: str
    text: str
    pos: int


# --- nodes ------------------------------------------------------------------------------------


@dataclass
class _Node:
    pos: int


@dataclass
class _Text(_Node):
    text: str


@dataclass
class _Lit(_Node):
    value: Any
    src: str


@dataclass
class _Field(_Node):
    receiver: Any  # None for dot, a variable name, or a node
    chain: list[str]
    src: str


@dataclass
class _Ident(_Node):
    name: str


@dataclass
class _Cmd(_Node):
    args: list[Any]
    src: str


@dataclass
class _Pipe(_Node):
    decl: list[str]
    assign: bool
    cmds: list[_Cmd]


@dataclass
class _Action(_Node):
    pipe: _Pipe


@dataclass
class _Branch(_Node):
    kind: str  # if, range, with
    pipe: _Pipe
    body: list[_Node]
    orelse: list[_Node] = field(default_factory=list)


@dataclass
class _Call(_Node):
    name: str
    pipe: _Pipe | None


class _Parser:
    def __init__(self, name: str, text: str, funcs: dict[str, Callable[..., Any]]) -> None:
        self.name = name
        self.text = text
        self.funcs = funcs
        self.defines: dict[str, list[_Node]] = {}
        self.items = self._lex()
        self.i = 0
        self.vars: list[str] = ["$"]

    def error(self, pos: int, msg: str) -> TemplateError:
        line = self.text.count("\n", 0, pos) + 1
        return TemplateError(f"template: {self.name}:{line}: {msg}")

    def _lex(self) -> list[tuple[str, Any, int]]:
        items: list[tuple[str, Any, int]] = []
        text, pos = self.text, 0
        while pos < len(text):
            start = text.find("{{", pos)
            if start < 0:
                items.append(("text", text[pos:], pos))
                break
            chunk = text[pos:start]
            inner = start + 2
            if text.startswith("- ", inner) or text.startswith("-\t", inner) or text.startswith("-\n", inner):
                chunk = chunk.rstrip(" \t\r\n")
                inner += 1
            if chunk:
                items.append(("text", chunk, pos))
            if text.startswith("/*", inner.__index__()) or text[inner:].lstrip().startswith("/*"):
                close = text.find("*/", inner)
                end = text.find("}}", close if close >= 0 else inner)
                if close < 0 or end < 0:
                    raise self.error(start, "unclosed comment")
                pos = end + 2
                if text[end - 2 : end] == " -" or text[end - 1 : end] == "-":
                    pos = self._trim_right(pos)
                continue
            toks: list[_Tok] = []
            p = inner
            while True:
                if p >= len(text):
                    raise self.error(start, "unclosed action")
                if text.startswith("}}", p):
                    end, trim = p, False
                    break
                if text.startswith(" -}}", p) or text.startswith("\t-}}", p) or text.startswith("\n-}}", p):
                    end, trim = p + 2, True
                    break
                m = _TOKEN.match(text, p)
                if not m or m.end() == p:
                    raise self.error(p, f"unexpected {go_quote(text[p])[1:-1]!s} in command")
                if m.lastgroup == "str" and "\n" in m.group():
                    raise self.error(p, "unterminated quoted string")
                if m.lastgroup != "ws":
                    toks.append(_Tok(m.lastgroup or "", m.group(), p))
                p = m.end()
            items.append(("action", toks, start))
            pos = end + 2
            if trim:
                pos = self._trim_right(pos)
        return items

    def _trim_right(self, pos: int) -> int:
        while pos < len(self.text) and self.text[pos] in " \t\r\n":
            pos += 1
        return pos

    def parse(self) -> list[_Node]:
        nodes, stop = self._list(top=True)
        if stop is not None:
            raise self.error(stop[1], f"unexpected {{{{{stop[0]}}}}}")
        return nodes

    def _list(self, top: bool = False) -> tuple[list[_Node], tuple[str, int, list[_Tok]] | None]:
        nodes: list[_Node] = []
        while self.i < len(self.items):
            kind, payload, pos = self.items[self.i]
            self.i += 1
            if kind == "text":
                nodes.append(_Text(pos, payload))
                continue
            toks: list[_Tok] = payload
            if not toks:
                raise self.error(pos, "missing value for command")
            head = toks[0]
            if head.kind == "ident" and head.text in ("end", "else"):
                return nodes, (head.text, pos, toks[1:])
            if head.kind == "ident" and head.text in ("if", "range", "with"):
                nodes.append(self._branch(head.text, toks[1:], pos))
            elif head.kind == "ident" and head.text == "define":
                self._define(toks[1:], pos)
            elif head.kind == "ident" and head.text == "template":
                if not toks[1:] or toks[1].kind not in ("str", "raw"):
                    raise self.error(pos, "unexpected token in template clause")
                pipe = self._pipe(toks[2:], pos, "template") if len(toks) > 2 else None
                nodes.append(_Call(pos, _unquote(toks[1].text), pipe))
            elif head.kind == "ident" and head.text in ("break", "continue", "block"):
                raise self.error(pos, f"{{{{{head.text}}}}} is not supported in Spyglass rule templates")
            else:
                nodes.append(_Action(pos, self._pipe(toks, pos, "command")))
        if not top:
            raise self.error(len(self.text), "unexpected EOF")
        return nodes, None

    def _branch(self, kind: str, toks: list[_Tok], pos: int) -> _Branch:
        depth = len(self.vars)
        pipe = self._pipe(toks, pos, kind)
        body, stop = self._list()
        assert stop is not None
        node = _Branch(pos, kind, pipe, body)
        if stop[0] == "else":
            rest = stop[2]
            if rest and rest[0].kind == "ident" and rest[0].text in ("if", "with") and kind == rest[0].text:
                del self.vars[depth:]
                node.orelse = [self._branch(rest[0].text, rest[1:], stop[1])]
                return node
            del self.vars[depth:]
            node.orelse, stop = self._list()
            assert stop is not None
            if stop[0] != "end":
                raise self.error(stop[1], f"expected end; found {{{{{stop[0]}}}}}")
        del self.vars[depth:]
        return node

    def _define(self, toks: list[_Tok], pos: int) -> None:
        if len(toks) != 1 or toks[0].kind not in ("str", "raw"):
            raise self.error(pos, "define clause needs one quoted name")
        saved = self.vars
        self.vars = ["$"]
        body, stop = self._list()
        self.vars = saved
        if stop is None or stop[0] != "end":
            raise self.error(pos, "unexpected EOF")
        self.defines[_unquote(toks[0].text)] = body

    def _pipe(self, toks: list[_Tok], pos: int, context: str) -> _Pipe:
        decl: list[str] = []
        assign = False
        for split in range(len(toks)):
            if toks[split].kind in ("decl", "assign"):
                names = [t for t in toks[:split] if t.kind != "comma"]
                if names and all(t.kind == "var" and "." not in t.text for t in names):
                    decl = [t.text for t in names]
                    assign = toks[split].kind == "assign"
                    toks = toks[split + 1 :]
                break
        groups: list[list[_Tok]] = [[]]
        depth = 0
        for t in toks:
            if t.kind == "lparen":
                depth += 1
            elif t.kind == "rparen":
                depth -= 1
                if depth < 0:
                    raise self.error(t.pos, "unexpected right paren")
            if t.kind == "pipe" and depth == 0:
                groups.append([])
            else:
                groups[-1].append(t)
        if depth:
            raise self.error(pos, "unclosed left paren")
        if not groups[-1] and len(groups) == 1:
            raise self.error(pos, f"missing value for {context}")
        cmds = []
        for group in groups:
            if not group:
                raise self.error(pos, "missing command")
            cmds.append(self._cmd(group))
        for name in decl:
            if assign:
                if name not in self.vars:
                    raise self.error(pos, f"undefined variable {go_quote(name)}")
            else:
                self.vars.append(name)
        return _Pipe(pos, decl, assign, cmds)

    def _cmd(self, toks: list[_Tok]) -> _Cmd:
        args: list[Any] = []
        i = 0
        while i < len(toks):
            node, i = self._operand(toks, i)
            args.append(node)
        src = self.text[toks[0].pos : toks[-1].pos + len(toks[-1].text)]
        return _Cmd(toks[0].pos, args, src)

    def _operand(self, toks: list[_Tok], i: int) -> tuple[Any, int]:
        t = toks[i]
        if t.kind == "lparen":
            depth, j = 1, i + 1
            while j < len(toks) and depth:
                depth += {"lparen": 1, "rparen": -1}.get(toks[j].kind, 0)
                j += 1
            inner = self._pipe(toks[i + 1 : j - 1], t.pos, "parenthesized pipeline")
            if j < len(toks) and toks[j].kind == "field" and toks[j].pos == toks[j - 1].pos + 1:
                chain = toks[j].text.split(".")[1:]
                return _Field(t.pos, inner, chain, self.text[t.pos : toks[j].pos + len(toks[j].text)]), j + 1
            return inner, j
        if t.kind in ("str", "raw"):
            return _Lit(t.pos, _unquote(t.text), t.text), i + 1
        if t.kind == "char":
            return _Lit(t.pos, ord(_unquote('"' + t.text[1:-1] + '"')), t.text), i + 1
        if t.kind == "num":
            return _Lit(t.pos, _number(t.text), t.text), i + 1
        if t.kind == "dot":
            return _Field(t.pos, None, [], "."), i + 1
        if t.kind == "field":
            return _Field(t.pos, None, t.text.split(".")[1:], t.text), i + 1
        if t.kind == "var":
            name, *chain = t.text.split(".")
            if name not in self.vars:
                raise self.error(t.pos, f"undefined variable {go_quote(name)}")
            return _Field(t.pos, name, chain, t.text), i + 1
        if t.kind == "ident":
            name, *chain = t.text.split(".")
            if name in ("true", "false"):
                return _Lit(t.pos, name == "true", name), i + 1
            if name == "nil":
                return _Lit(t.pos, None, name), i + 1
            if name in _KEYWORDS:
                raise self.error(t.pos, f"unexpected <{name}> in command")
            if name not in self.funcs and name not in _BUILTINS:
                raise self.error(t.pos, f"function {go_quote(name)} not defined")
            return _Ident(t.pos, name), i + 1
        raise self.error(t.pos, f"unexpected {go_quote(t.text)} in operand")


def _unquote(text: str) -> str:
    if text.startswith("`"):
        return text[1:-1]
    return str(json.loads(re.sub(r"\\x([0-9a-fA-F]{2})", r"\\u00\1", text.replace("\\'", "'"))))


def _number(text: str) -> int | float:
    clean = text.replace("_", "")
    if re.fullmatch(r"[+-]?(0[xX][0-9a-fA-F]+|\d+)", clean):
        return int(clean, 0) if clean.lstrip("+-").startswith(("0x", "0X")) else int(clean)
    return float(clean)


# --- evaluation ------------------------------------------------------------------------------


class _ExecError(Exception):
    def __init__(self, node: Any, msg: str) -> None:
        super().__init__(msg)
        self.node = node


def _truth(value: Any) -> bool:
    if value is None or value is _NO_VALUE:
        return False
    if isinstance(value, (bool, int, float, str, dict, list)):
        return bool(value)
    return True


def _cmp_kind(a: Any) -> str:
    if isinstance(a, bool):
        return "bool"
    if isinstance(a, int):
        return "int"
    if isinstance(a, float):
        return "float"
    if isinstance(a, str):
        return "string"
    return "other"


def _compare(name: str, a: Any, b: Any) -> Any:
    ka, kb = _cmp_kind(a), _cmp_kind(b)
    if ka != kb or ka == "other":
        if name in ("eq", "ne") and (a is None or b is None):
            return (a is b) == (name == "eq")
        raise GoError("incompatible types for comparison")
    if ka == "bool" and name not in ("eq", "ne"):
        raise GoError("invalid type for comparison")
    ops: dict[str, Callable[[Any, Any], bool]] = {
        "eq": lambda x, y: x == y,
        "ne": lambda x, y: x != y,
        "lt": lambda x, y: x < y,
        "le": lambda x, y: x <= y,
        "gt": lambda x, y: x > y,
        "ge": lambda x, y: x >= y,
    }
    return ops[name](a, b)


def _eq(a: Any, *rest: Any) -> bool:
    if not rest:
        raise GoError("missing argument for comparison")
    return any(_compare("eq", a, b) for b in rest)


def _index(item: Any, *keys: Any) -> Any:
    for key in keys:
        if isinstance(item, dict):
            item = item.get(key, "")
        elif isinstance(item, (list, str)):
            if not isinstance(key, int) or not 0 <= key < len(item):
                raise GoError(f"error calling index: index out of range: {go_str(key)}")
            item = item[key] if isinstance(item, list) else ord(item[key])
        else:
            raise GoError(f"can't index item of type {type(item).__name__}")
    return item


def _len(item: Any) -> int:
    if isinstance(item, (str, list, dict)):
        return len(item.encode() if isinstance(item, str) else item)
    raise GoError(f"len of type {type(item).__name__}")


def _go_print(*args: Any) -> str:
    # fmt.Sprint adds spaces between operands when neither is a string.
    out = []
    for i, a in enumerate(args):
        if i and not isinstance(a, str) and not isinstance(args[i - 1], str):
            out.append(" ")
        out.append(go_str(a))
    return "".join(out)


_BUILTINS: dict[str, Callable[..., Any]] = {
    "and": lambda *a: next((x for x in a if not _truth(x)), a[-1]),
    "or": lambda *a: next((x for x in a if _truth(x)), a[-1]),
    "not": lambda a: not _truth(a),
    "len": _len,
    "index": _index,
    "print": _go_print,
    "printf": lambda f, *a: go_printf(f, list(a)),
    "println": lambda *a: " ".join(go_str(x) for x in a) + "\n",
    "eq": _eq,
    "ne": lambda a, b: _compare("ne", a, b),
    "lt": lambda a, b: _compare("lt", a, b),
    "le": lambda a, b: _compare("le", a, b),
    "gt": lambda a, b: _compare("gt", a, b),
    "ge": lambda a, b: _compare("ge", a, b),
    "html": lambda *a: html.escape(_go_print(*a)).replace("&#x27;", "&#39;"),
    "js": lambda *a: json.dumps(_go_print(*a))[1:-1].replace("'", "\\'"),
    "urlquery": lambda *a: urllib.parse.quote_plus(_go_print(*a)),
}


def _title(text: str) -> str:
    # cases.Title(language.AmericanEnglish, cases.NoLower): upper-case the first letter of each word.
    return re.sub(r"(^|[^\w'])(\w)", lambda m: m.group(1) + m.group(2).upper(), text)


def _go_regex(pattern: str) -> re.Pattern[str]:
    try:
        return re.compile(pattern)
    except re.error as exc:
        raise GoError(f"error parsing regexp: {exc}") from None


def _re_replace_all(pattern: str, repl: str, text: str) -> str:
    regex = _go_regex(pattern)
    # Go's $1 / ${name} expansion; a lone $ followed by nothing valid expands to empty.
    py_repl = re.sub(r"\$(\{(\w+)\}|(\w+)|\$)", lambda m: _go_expand(m), repl.replace("\\", "\\\\"))
    return regex.sub(py_repl, text)


def _go_expand(m: re.Match[str]) -> str:
    if m.group(0) == "$$":
        return "$"
    name = m.group(2) or m.group(3)
    return f"\\g<{name}>"


def _split_host_port(text: str) -> tuple[str, str] | None:
    m = re.fullmatch(r"\[([^\[\]]*)\]:(\w*)", text) or re.fullmatch(r"([^:\[\]]*):(\w*)", text)
    return (m.group(1), m.group(2)) if m else None


def _strip_port(text: str) -> str:
    hp = _split_host_port(text)
    return hp[0] if hp else text


def _strip_domain(text: str) -> str:
    hp = _split_host_port(text)
    host, port = hp if hp else (text, "")
    if re.fullmatch(r"[\d.]+", host) and host.count(".") == 3 or ":" in host:
        return text
    host = host.split(".")[0]
    return f"{host}:{port}" if port else host


_DURATION = re.compile(r"(-)?((\d+)y)?((\d+)w)?((\d+)d)?((\d+)h)?((\d+)m)?((\d+)s)?((\d+)ms)?")


def _parse_duration(text: str) -> float:
    m = _DURATION.fullmatch(text)
    if not m or text in ("", "-") or not any(m.group(i) for i in range(2, 16, 2)):
        raise GoError(f'not a valid duration string: "{text}"')
    mult = {3: 365 * 86400, 5: 7 * 86400, 7: 86400, 9: 3600, 11: 60, 13: 1, 15: 0.001}
    seconds = sum(int(m.group(i)) * f for i, f in mult.items() if m.group(i))
    return -seconds if m.group(1) else float(seconds)


def prometheus_funcs(
    *, query: QueryFunc | None = None, external_url: str = "", now_s: float = 0.0
) -> dict[str, Callable[..., Any]]:
    """Prometheus's template function map (without ``safeHtml``, ``toTime``, ``toDuration``)."""
    path = urllib.parse.urlsplit(external_url).path

    def do_query(q: str) -> list[dict[str, Any]]:
        if query is None:
            raise GoError("query is not available here")
        return query(q)

    def first(v: list[Any]) -> Any:
        if not v:
            raise GoError("first() called on vector with no elements")
        return v[0]

    def link(expr: str, tab: int) -> str:
        return f"/graph?g0.expr={urllib.parse.quote_plus(expr)}&g0.tab={tab}"

    return {
        "query": do_query,
        "first": first,
        "label": lambda name, s: s["Labels"].get(name, ""),
        "value": lambda s: s["Value"],
        "strvalue": lambda s: s["Labels"].get("__value__", ""),
        "args": lambda *a: {f"arg{i}": x for i, x in enumerate(a)},
        "reReplaceAll": _re_replace_all,
        "match": lambda pattern, text: _go_regex(pattern).search(text) is not None,
        "title": _title,
        "toUpper": lambda s: s.upper(),
        "toLower": lambda s: s.lower(),
        "graphLink": lambda e: link(e, 0),
        "tableLink": lambda e: link(e, 1),
        "sortByLabel": lambda name, v: sorted(v, key=lambda s: s["Labels"].get(name, "")),
        "stripPort": _strip_port,
        "stripDomain": _strip_domain,
        "humanize": humanize,
        "humanize1024": humanize1024,
        "humanizeDuration": humanize_duration,
        "humanizePercentage": humanize_percentage,
        "humanizeTimestamp": humanize_timestamp,
        "now": lambda: now_s,
        "pathPrefix": lambda: path,
        "externalURL": lambda: external_url,
        "parseDuration": _parse_duration,
        "urlQueryEscape": lambda s: urllib.parse.quote_plus(s),
    }


_STRING_PARAMS = {
    "reReplaceAll": 3,
    "match": 2,
    "title": 1,
    "toUpper": 1,
    "toLower": 1,
    "stripPort": 1,
    "stripDomain": 1,
    "graphLink": 1,
    "tableLink": 1,
    "parseDuration": 1,
    "urlQueryEscape": 1,
    "query": 1,
}
_ARITY = {"not": 1, "ne": 2, "lt": 2, "le": 2, "gt": 2, "ge": 2, "len": 1, "humanize": 1, "humanize1024": 1}
_ARITY.update({"humanizeDuration": 1, "humanizePercentage": 1, "humanizeTimestamp": 1, "first": 1, "value": 1})
_ARITY.update({"label": 2, "sortByLabel": 2, "now": 0, "pathPrefix": 0, "externalURL": 0})
_ARITY.update(_STRING_PARAMS)


class Template:
    """A parsed template; :meth:`execute` expands it with data.

    Usage::

        t = Template("__alert_HighLatency", "{{ $value | humanizeDuration }}", funcs)
        t.execute(data)
    """

    def __init__(self, name: str, text: str, funcs: dict[str, Callable[..., Any]] | None = None) -> None:
        self.name = name
        self.text = text
        self.funcs = funcs if funcs is not None else prometheus_funcs()
        try:
            parser = _Parser(name, text, self.funcs)
            self.nodes = parser.parse()
        except TemplateError as exc:
            raise TemplateError(f"error parsing template {name}: {exc}") from None
        self.defines = parser.defines

    def execute(self, data: Any) -> str:
        out: list[str] = []
        try:
            self._run(self.nodes, data, [("$", data)], out)
        except _ExecError as exc:
            node = exc.node
            pos = node.pos
            line = self.text.count("\n", 0, pos) + 1
            col = pos - (self.text.rfind("\n", 0, pos) + 1)
            src = node.src if hasattr(node, "src") else go_str(node)
            raise TemplateError(
                f"error executing template {self.name}: template: {self.name}:{line}:{col}: "
                f'executing "{self.name}" at <{src}>: {exc}'
            ) from None
        return "".join(out)

    def _run(self, nodes: list[_Node], dot: Any, env: list[tuple[str, Any]], out: list[str]) -> None:
        for node in nodes:
            if isinstance(node, _Text):
                out.append(node.text)
            elif isinstance(node, _Action):
                value = self._pipe(node.pipe, dot, env)
                if not node.pipe.decl:
                    out.append("<no value>" if value is _NO_VALUE else go_str(value))
            elif isinstance(node, _Branch):
                self._branch(node, dot, env, out)
            elif isinstance(node, _Call):
                body = self.defines.get(node.name)
                if body is None:
                    raise _ExecError(node, f"no such template {go_quote(node.name)}")
                arg = self._pipe(node.pipe, dot, env) if node.pipe is not None else None
                self._run(body, arg, [("$", arg)], out)

    def _branch(self, node: _Branch, dot: Any, env: list[tuple[str, Any]], out: list[str]) -> None:
        depth = len(env)
        if node.kind == "range":
            pipe = node.pipe
            value = self._pipe(_Pipe(pipe.pos, [], False, pipe.cmds), dot, env)
            if isinstance(value, dict):
                items: list[tuple[Any, Any]] = [(k, value[k]) for k in sorted(value)]
            elif isinstance(value, list):
                items = list(enumerate(value))
            elif isinstance(value, int) and not isinstance(value, bool):
                items = [(i, i) for i in range(value)]
            elif value is None or value is _NO_VALUE:
                items = []
            else:
                raise _ExecError(pipe.cmds[0], f"range can't iterate over {go_str(value)}")
            for key, item in items:
                if len(pipe.decl) == 1:
                    env.append((pipe.decl[0], item))
                elif len(pipe.decl) == 2:
                    env += [(pipe.decl[0], key), (pipe.decl[1], item)]
                self._run(node.body, item, env, out)
                del env[depth:]
            if not items:
                self._run(node.orelse, dot, env, out)
            return
        value = self._pipe(node.pipe, dot, env)
        if _truth(value):
            self._run(node.body, value if node.kind == "with" else dot, env, out)
        else:
            del env[depth:]
            self._run(node.orelse, dot, env, out)
        del env[depth:]

    def _pipe(self, pipe: _Pipe, dot: Any, env: list[tuple[str, Any]]) -> Any:
        value: Any = _NO_VALUE
        final = False
        for cmd in pipe.cmds:
            value = self._cmd(cmd, dot, env, value if final else None, final)
            final = True
        for name in pipe.decl:
            if pipe.assign:
                for i in range(len(env) - 1, -1, -1):
                    if env[i][0] == name:
                        env[i] = (name, value)
                        break
            else:
                env.append((name, value))
        return value

    def _cmd(self, cmd: _Cmd, dot: Any, env: list[tuple[str, Any]], final: Any, has_final: bool) -> Any:
        head = cmd.args[0]
        if isinstance(head, _Ident):
            args = [self._arg(a, dot, env) for a in cmd.args[1:]]
            if has_final:
                args.append(final)
            return self._call(head.name, args, cmd)
        if len(cmd.args) > 1 or has_final:
            raise _ExecError(cmd, f"can't give argument to non-function {cmd.args[0].src}")
        return self._arg(head, dot, env)

    def _call(self, name: str, args: list[Any], cmd: _Cmd) -> Any:
        fn = self.funcs.get(name) or _BUILTINS[name]
        want = _ARITY.get(name)
        if want is not None and len(args) != want:
            raise _ExecError(cmd, f"wrong number of args for {name}: want {want} got {len(args)}")
        for i in range(_STRING_PARAMS.get(name, 0)):
            if not isinstance(args[i], str):
                kind = "float64" if isinstance(args[i], float) else type(args[i]).__name__
                raise _ExecError(cmd, f"wrong type for value; expected string; got {kind}")
        try:
            return fn(*args)
        except (GoError, KeyError, TypeError) as exc:
            message = str(exc)
            if isinstance(exc, TypeError):
                message = f"wrong arguments: {exc}"
            raise _ExecError(cmd, f"error calling {name}: {message}") from None

    def _arg(self, node: Any, dot: Any, env: list[tuple[str, Any]]) -> Any:
        if isinstance(node, _Lit):
            return node.value
        if isinstance(node, _Pipe):
            return self._pipe(node, dot, env)
        if isinstance(node, _Ident):
            return self._call(node.name, [], _Cmd(node.pos, [node], node.name))
        if isinstance(node, _Field):
            if node.receiver is None:
                value = dot
            elif isinstance(node.receiver, str):
                value = next(v for n, v in reversed(env) if n == node.receiver)
            else:
                value = self._pipe(node.receiver, dot, env)
            for name in node.chain:
                value = self._field(value, name, node)
            return value
        raise _ExecError(node, "unsupported operand")

    def _field(self, value: Any, name: str, node: _Field) -> Any:
        if isinstance(value, Struct):
            if name not in value:
                raise _ExecError(node, f"can't evaluate field {name} in type {value.type_name}")
            return value[name]
        if isinstance(value, dict):
            return value.get(name, "")  # missingkey=zero on map[string]string
        if value is None or value is _NO_VALUE:
            raise _ExecError(node, f"nil pointer evaluating interface {{}}.{name}")
        type_name = {float: "float64", int: "int", str: "string", list: "[]interface {}"}.get(type(value), "value")
        raise _ExecError(node, f"can't evaluate field {name} in type {type_name}")


def expand_alert(
    name: str,
    text: str,
    labels: dict[str, str],
    value: float,
    *,
    external_labels: dict[str, str] | None = None,
    external_url: str = "",
    now_s: float = 0.0,
    query: QueryFunc | None = None,
) -> str:
    """Expand one annotation or label template of alerting rule ``name`` as Prometheus does.

    Raises :class:`TemplateError`; the rules manager turns that into Prometheus's
    ``<error expanding template: ...>`` text, as Prometheus does.
    """
    data = Struct(
        Labels=dict(labels), ExternalLabels=dict(external_labels or {}), ExternalURL=external_url, Value=value
    )
    data.type_name = (
        "struct { Labels map[string]string; ExternalLabels map[string]string; ExternalURL string; Value interface {} }"
    )
    funcs = prometheus_funcs(query=query, external_url=external_url, now_s=now_s)
    return Template("__alert_" + name, ALERT_DEFS + text, funcs).execute(data)


def check_template(name: str, text: str) -> None:
    """Parse ``text`` as Prometheus's rule loader does (``ParseTest``); raise TemplateError when bad."""
    try:
        _Parser("__alert_" + name, ALERT_DEFS + text, prometheus_funcs()).parse()
    except TemplateError as exc:
        raise TemplateError(str(exc)) from None
