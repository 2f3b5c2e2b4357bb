"""Go's number and value formatting, and Prometheus's humanize functions, for rule templates.

Prometheus expands templates with Go's ``text/template`` and ``fmt``; annotations people read at
3 a.m. should look the same in Spyglass. ``go_str`` is ``fmt.Sprint``; ``go_g`` is ``%.Ng``;
the ``humanize*`` functions follow ``prometheus/template/template.go`` and
``prometheus/common/helpers/templates``.
"""

from __future__ import annotations

import datetime as dt
import math
import re
from typing import Any

__all__ = [
    "GoError",
    "convert_to_float",
    "go_g",
    "go_printf",
    "go_quote",
    "go_str",
    "humanize",
    "humanize1024",
    "humanize_duration",
    "humanize_percentage",
    "humanize_timestamp",
]

_MAX_INT64 = 2**63 - 1


class GoError(Exception):
    """An error a template function returns (the message is Go's)."""


def _special(v: float) -> str | None:
    if math.isnan(v):
        return "NaN"
    if math.isinf(v):
        return "+Inf" if v > 0 else "-Inf"
    return None


def go_g(v: float, precision: int | None = None) -> str:
    """``fmt.Sprintf("%.<precision>g", v)``; ``precision=None`` is ``%v`` (shortest digits)."""
    special = _special(v)
    if special is not None:
        return special
    if precision is None:
        return _go_v_float(v)
    text = f"{v:.{precision}g}"
    if "e" in text:
        mant, _, exp = text.partition("e")
        text = f"{mant}e{exp[0]}{int(exp[1:]):02d}"
    return text


def go_quote(s: str) -> str:
    """``strconv.Quote``."""
    out = ['"']
    for ch in s:
        code = ord(ch)
        if ch in ('"', "\\"):
            out.append("\\" + ch)
        elif ch == "\n":
            out.append("\\n")
        elif ch == "\t":
            out.append("\\t")
        elif ch == "\r":
            out.append("\\r")
        elif code < 0x20 or code == 0x7F:
            out.append(f"\\x{code:02x}")
        else:
            out.append(ch)
    out.append('"')
    return "".join(out)


def go_str(value: Any) -> str:
    """``fmt.Sprint(value)`` for the values templates handle."""
    if value is None:
        return "<nil>"
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int):
        return str(value)
    if isinstance(value, float):
        return _go_v_float(value)
    if isinstance(value, str):
        return value
    if isinstance(value, dict):
        return "map[" + " ".join(f"{go_str(k)}:{go_str(value[k])}" for k in sorted(value)) + "]"
    if isinstance(value, (list, tuple)):
        return "[" + " ".join(go_str(v) for v in value) + "]"
    return str(value)


def _go_v_float(v: float) -> str:
    """``%v`` of a float64: strconv's 'g' with the shortest digits; exponent form when the decimal
    exponent is < -4 or >= 6 (strconv uses precision 6 for that decision), so 1e6 prints 1e+06."""
    special = _special(v)
    if special is not None:
        return special
    if v == 0:
        return "-0" if math.copysign(1, v) < 0 else "0"
    text = repr(v)
    neg = text.startswith("-")
    text = text.lstrip("-")
    mantissa, _, exp_text = text.partition("e")
    int_part, _, frac_part = mantissa.partition(".")
    raw = int_part + frac_part
    stripped = raw.lstrip("0")
    dp = len(int_part) + int(exp_text or 0) - (len(raw) - len(stripped))
    digits = stripped.rstrip("0")
    x = dp - 1
    sign = "-" if neg else ""
    if x < -4 or x >= 6:
        rest = digits[1:]
        return f"{sign}{digits[0]}{'.' + rest if rest else ''}e{'-' if x < 0 else '+'}{abs(x):02d}"
    nd = len(digits)
    if dp <= 0:
        return f"{sign}0.{'0' * -dp}{digits}"
    if dp >= nd:
        return f"{sign}{digits}{'0' * (dp - nd)}"
    return f"{sign}{digits[:dp]}.{digits[dp:]}"


_FLOAT_RE = re.compile(
    r"[+-]?(?:(?:\d[\d_]*(?:\.[\d_]*)?|\.\d[\d_]*)(?:[eE][+-]?\d+)?|0[xX][0-9a-fA-F_.]+(?:[pP][+-]?\d+)?)"
)


def _parse_float(text: str) -> float:
    lowered = text.lower()
    if lowered in ("inf", "+inf", "infinity", "+infinity"):
        return math.inf
    if lowered in ("-inf", "-infinity"):
        return -math.inf
    if lowered in ("nan",):
        return math.nan
    if _FLOAT_RE.fullmatch(text) and "_" not in text:
        try:
            return float.fromhex(text) if "x" in lowered else float(text)
        except ValueError:
            pass
    raise GoError(f"strconv.ParseFloat: parsing {go_quote(text)}: invalid syntax")


def convert_to_float(value: Any) -> float:
    """``templates.ConvertToFloat``: numbers and numeric strings; anything else is an error."""
    if isinstance(value, bool):
        raise GoError("can't convert bool to float")
    if isinstance(value, (int, float)):
        return float(value)
    if isinstance(value, str):
        return _parse_float(value)
    raise GoError(f"can't convert {_go_type(value)} to float")


def _go_type(value: Any) -> str:
    if value is None:
        return "<nil>"
    if isinstance(value, bool):
        return "bool"
    if isinstance(value, int):
        return "int"
    if isinstance(value, float):
        return "float64"
    if isinstance(value, str):
        return "string"
    if isinstance(value, dict):
        return "map[string]string"
    if isinstance(value, list):
        return "[]interface {}"
    return type(value).__name__


def humanize(value: Any) -> str:
    v = convert_to_float(value)
    if v == 0 or math.isnan(v) or math.isinf(v):
        return go_g(v, 4)
    prefix = ""
    if abs(v) >= 1:
        for p in ("k", "M", "G", "T", "P", "E", "Z", "Y"):
            if abs(v) < 1000:
                break
            prefix = p
            v /= 1000
        return go_g(v, 4) + prefix
    for p in ("m", "u", "n", "p", "f", "a", "z", "y"):
        if abs(v) >= 1:
            break
        prefix = p
        v *= 1000
    return go_g(v, 4) + prefix


def humanize1024(value: Any) -> str:
    v = convert_to_float(value)
    if abs(v) <= 1 or math.isnan(v) or math.isinf(v):
        return go_g(v, 4)
    prefix = ""
    for p in ("ki", "Mi", "Gi", "Ti", "Pi", "Ei", "Zi", "Yi"):
        if abs(v) < 1024:
            break
        prefix = p
        v /= 1024
    return go_g(v, 4) + prefix


def humanize_duration(value: Any) -> str:
    v = convert_to_float(value)
    if math.isnan(v) or math.isinf(v):
        return go_g(v, 4)
    if v == 0:
        return go_g(v, 4) + "s"
    if abs(v) >= 1:
        sign = ""
        if v < 0:
            sign, v = "-", -v
        duration = int(v)
        seconds = duration % 60
        minutes = (duration // 60) % 60
        hours = (duration // 3600) % 24
        days = duration // 86400
        if days:
            return f"{sign}{days}d {hours}h {minutes}m {seconds}s"
        if hours:
            return f"{sign}{hours}h {minutes}m {seconds}s"
        if minutes:
            return f"{sign}{minutes}m {seconds}s"
        return f"{sign}{go_g(v, 4)}s"
    prefix = ""
    for p in ("m", "u", "n", "p", "f", "a", "z", "y"):
        if abs(v) >= 1:
            break
        prefix = p
        v *= 1000
    return f"{go_g(v, 4)}{prefix}s"


def humanize_percentage(value: Any) -> str:
    return go_g(convert_to_float(value) * 100, 4) + "%"


def float_to_time_ms(v: float) -> int:
    """Prometheus's floatToTime: seconds to a millisecond timestamp (errors as Go's)."""
    if math.isnan(v) or math.isinf(v):
        raise GoError("value is NaN or Inf")
    ts = v * 1e9
    if ts > float(_MAX_INT64) or ts < -float(2**63):
        raise GoError(f"{_go_v_float(v)} cannot be represented as a nanoseconds timestamp since it overflows int64")
    ns = int(ts)
    return abs(ns) // 10**6 * (1 if ns >= 0 else -1)  # model.TimeFromUnixNano truncates toward zero


def go_time_string(ms: int) -> str:
    """``time.Time.String()`` of a UTC time with millisecond precision."""
    moment = dt.datetime(1970, 1, 1) + dt.timedelta(milliseconds=ms)
    frac = f"{moment.microsecond // 1000:03d}".rstrip("0")
    return moment.strftime("%Y-%m-%d %H:%M:%S") + (f".{frac}" if frac else "") + " +0000 UTC"


def humanize_timestamp(value: Any) -> str:
    v = convert_to_float(value)
    if math.isnan(v) or math.isinf(v):
        return go_g(v, 4)
    return go_time_string(float_to_time_ms(v))


_VERB = re.compile(r"%([-+# 0]*)(\d+|\*)?(?:\.(\d+|\*)?)?([a-zA-Z%])")


def go_printf(fmt: str, args: list[Any]) -> str:
    """``fmt.Sprintf`` for the verbs templates use: %s %v %d %f %e %g %q %x %X %t %%."""
    out: list[str] = []
    pos = 0
    index = 0
    for m in _VERB.finditer(fmt):
        out.append(fmt[pos : m.start()])
        pos = m.end()
        flags, width, precision, verb = m.group(1), m.group(2), m.group(3), m.group(4)
        if verb == "%":
            out.append("%")
            continue
        if index >= len(args):
            out.append(f"%!{verb}(MISSING)")
            continue
        arg = args[index]
        index += 1
        out.append(_format_one(flags, width, precision, verb, arg, m.group(3) is not None or "." in m.group(0)))
    out.append(fmt[pos:])
    if index < len(args):
        extra = ", ".join(f"{_go_type(a)}={go_str(a)}" for a in args[index:])
        out.append(f"%!(EXTRA {extra})")
    return "".join(out)


def _format_one(flags: str, width: str | None, precision: str | None, verb: str, arg: Any, has_dot: bool) -> str:
    spec = flags + (width or "")
    prec = int(precision) if precision and precision.isdigit() else (0 if has_dot else None)
    bad = f"%!{verb}({_go_type(arg)}={go_str(arg)})"
    if verb in "sv":
        text = go_str(arg)
        if verb == "s" and (isinstance(arg, (int, float, bool)) or arg is None):
            return bad if arg is not None else "%!s(<nil>)"
        if prec is not None and isinstance(arg, str):
            text = text[:prec]
        if isinstance(arg, float) and verb == "v" and prec is not None:
            text = go_g(arg, prec)
        return ("%" + spec.replace("0", "") + "s") % text if spec else text
    if verb == "q":
        return go_quote(arg) if isinstance(arg, str) else bad
    if verb == "t":
        return ("true" if arg else "false") if isinstance(arg, bool) else bad
    if verb in "dxXob":
        if isinstance(arg, bool) or not isinstance(arg, int):
            if verb in "xX" and isinstance(arg, str):
                return arg.encode().hex() if verb == "x" else arg.encode().hex().upper()
            return bad
        return ("%" + spec + verb.replace("b", "d")) % arg if verb != "b" else format(arg, "b")
    if verb in "feEgG":
        if isinstance(arg, bool) or not isinstance(arg, (int, float)):
            return bad
        if isinstance(arg, int):
            return bad
        special = _special(arg)
        if special is not None:
            return special
        if verb in "gG" and prec is None:
            return _go_v_float(arg)
        p = 6 if prec is None else prec
        text = ("%" + spec + "." + str(p) + verb) % arg
        if verb in "eEgG" and ("e" in text or "E" in text):
            mant, e, exp = re.split(r"([eE])", text, maxsplit=1)
            text = f"{mant}{e}{exp[0]}{int(exp[1:]):02d}"
        return text
    return f"%!{verb}({_go_type(arg)}={go_str(arg)})"
