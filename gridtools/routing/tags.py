"""Reading OpenStreetMap restriction tags: units, conditions and access values.

Everything here is a pure function of tag strings.  Values that cannot be read are never
guessed silently: the parsers return ``(value, problem)`` and the network loader collects every
problem into :attr:`gridtools.routing.RoadNetwork.tag_problems` so a user can see and fix them.

Units follow the OSM wiki: weights in tonnes unless a unit is given (``t``, ``kg``, ``lbs``,
``st`` short tons), lengths in metres unless given (``m``, ``cm``, ``ft``, ``in``, feet and
inches as ``13'6"``), speeds in km/h unless ``mph``/``knots``.
"""

from __future__ import annotations

import datetime as dt
import math
import re
from dataclasses import dataclass

# --------------------------------------------------------------------------------------------
# numbers with units

#: Values meaning "no limit signed here".
NO_LIMIT = frozenset({"none", "default", "unsigned", "no", "unlimited"})

_NUM = r"(\d+(?:[.,]\d+)?|[.,]\d+)"
_WEIGHT_UNITS = {
    "": 1.0, "t": 1.0, "tonne": 1.0, "tonnes": 1.0, "ton": 1.0, "tons": 1.0,
    "kg": 0.001, "lb": 0.00045359237, "lbs": 0.00045359237,
    "st": 0.90718474, "short_ton": 0.90718474, "short tons": 0.90718474, "cwt": 0.05080235,
}
_LENGTH_UNITS = {"": 1.0, "m": 1.0, "metre": 1.0, "meter": 1.0, "metres": 1.0, "meters": 1.0,
                 "cm": 0.01, "mm": 0.001, "km": 1000.0, "ft": 0.3048, "feet": 0.3048, "in": 0.0254,
                 "mi": 1609.344}
_FEET_INCHES = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*(?:'|ft|feet|’|′)\s*(?:(\d+(?:\.\d+)?)\s*(?:\"|''|in|”|″)?)?\s*$")
_NUMBER_UNIT = re.compile(r"^\s*" + _NUM + r"\s*([a-z_ ]*?)\s*\.?\s*$")

#: Speeds of OSM "implicit" maxspeed values (country:zone), km/h.  Unknown zones are reported.
IMPLICIT_SPEEDS = {"urban": 50.0, "rural": 90.0, "motorway": 120.0, "living_street": 7.0,
                   "walk": 7.0, "bicycle_road": 30.0, "zone30": 30.0, "zone20": 20.0, "zone:30": 30.0,
                   "zone:20": 20.0, "trunk": 100.0, "nsl_single": 96.5, "nsl_dual": 112.7}


def _number(text: str) -> float:
    return float(text.replace(",", "."))


def parse_weight(value) -> tuple[float, str | None]:
    """Read a weight tag (``maxweight``, ``maxaxleload``) as tonnes.

    Parameters
    ----------
    value : str or None

    Returns
    -------
    (tonnes, problem) : tuple
        ``tonnes`` is ``inf`` for "no limit" values and NaN when the value cannot be read;
        ``problem`` then says why.

    Examples
    --------
    >>> parse_weight("7.5")
    (7.5, None)
    >>> round(parse_weight("12000 lbs")[0], 3)
    5.443
    >>> round(parse_weight("5 st")[0], 3)
    4.536
    >>> parse_weight("heavy")
    (nan, "cannot read weight 'heavy' (expected e.g. 7.5, 7.5 t, 12000 lbs)")
    """
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return math.inf, None
    text = str(value).strip().lower()
    if text in NO_LIMIT:
        return math.inf, None
    m = _NUMBER_UNIT.match(text)
    if m and m.group(2).strip() in _WEIGHT_UNITS:
        return _number(m.group(1)) * _WEIGHT_UNITS[m.group(2).strip()], None
    return math.nan, f"cannot read weight {value!r} (expected e.g. 7.5, 7.5 t, 12000 lbs)"


def parse_length(value) -> tuple[float, str | None]:
    """Read a size tag (``maxheight``, ``maxwidth``, ``maxlength``) as metres.

    Examples
    --------
    >>> parse_length("4.2")
    (4.2, None)
    >>> round(parse_length("13'6\\"")[0], 4)
    4.1148
    >>> round(parse_length("14 ft")[0], 4)
    4.2672
    >>> parse_length("default")
    (inf, None)
    >>> print(parse_length("below_default")[1])
    cannot read size 'below_default' (expected e.g. 4.2, 4.2 m, 13'6")
    """
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return math.inf, None
    text = str(value).strip().lower()
    if text in NO_LIMIT:
        return math.inf, None
    m = _FEET_INCHES.match(text)
    if m and ("'" in text or "ft" in text or "feet" in text or "’" in text or "′" in text):
        return float(m.group(1)) * 0.3048 + float(m.group(2) or 0.0) * 0.0254, None
    m = _NUMBER_UNIT.match(text)
    if m and m.group(2).strip() in _LENGTH_UNITS:
        return _number(m.group(1)) * _LENGTH_UNITS[m.group(2).strip()], None
    return math.nan, f"cannot read size {value!r} (expected e.g. 4.2, 4.2 m, 13'6\")"


def parse_speed(value) -> tuple[float, str | None]:
    """Read ``maxspeed`` as km/h (NaN: use the road class default).

    Examples
    --------
    >>> parse_speed("50")
    (50.0, None)
    >>> round(parse_speed("30 mph")[0], 2)
    48.28
    >>> parse_speed("DE:urban")
    (50.0, None)
    """
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return math.nan, None
    text = str(value).strip().lower()
    if text in ("none", "signals", "variable"):
        return math.nan, None
    if ";" in text:  # several posted speeds: the lowest is the safe reading
        parts = [parse_speed(p)[0] for p in text.split(";")]
        parts = [p for p in parts if not math.isnan(p)]
        return (min(parts), None) if parts else (math.nan, f"cannot read speed {value!r}")
    if ":" in text:
        zone = text.split(":", 1)[1]
        if zone in IMPLICIT_SPEEDS:
            return IMPLICIT_SPEEDS[zone], None
        return math.nan, f"unknown implicit speed {value!r}; the road class default is used"
    if text in IMPLICIT_SPEEDS:
        return IMPLICIT_SPEEDS[text], None
    m = re.match(r"^\s*" + _NUM + r"\s*(km/h|kmh|kph|mph|knots)?\s*$", text)
    if m:
        factor = {"mph": 1.609344, "knots": 1.852}.get(m.group(2) or "", 1.0)
        return _number(m.group(1)) * factor, None
    return math.nan, f"cannot read speed {value!r}; the road class default is used"


# --------------------------------------------------------------------------------------------
# access values

#: How an access value treats a vehicle: 0 allowed, 1 allowed for local access only
#: (penalised, reported), 2 forbidden.  Values not listed are reported and treated as allowed.
ACCESS_LEVEL = {
    "yes": 0, "permissive": 0, "designated": 0, "official": 0, "public": 0, "unknown": 0,
    "local": 0,
    "destination": 1, "delivery": 1, "customers": 1, "customer": 1, "permit": 1,
    "no": 2, "private": 2, "agricultural": 2, "forestry": 2, "discouraged": 1, "use_sidepath": 2,
    "military": 2, "emergency": 2, "psv": 2, "bus": 2, "agricultural;forestry": 2,
}

ALLOWED, DESTINATION, FORBIDDEN = 0, 1, 2


def access_level(value) -> tuple[int, str | None]:
    """Level of an access tag value: 0 allowed, 1 destination only, 2 forbidden.

    Examples
    --------
    >>> access_level("private"), access_level("destination"), access_level("yes")
    ((2, None), (1, None), (0, None))
    """
    text = str(value).strip().lower()
    if text in ACCESS_LEVEL:
        return ACCESS_LEVEL[text], None
    if ";" in text:
        levels = [ACCESS_LEVEL.get(p.strip()) for p in text.split(";")]
        known = [lv for lv in levels if lv is not None]
        if known:  # "destination;delivery": the most permissive listed use applies
            return min(known), None
    return ALLOWED, f"unknown access value {value!r}; treated as allowed"


# --------------------------------------------------------------------------------------------
# conditions: "VALUE @ (CONDITION)"

_DAYS = ["mo", "tu", "we", "th", "fr", "sa", "su"]
_TIME_RANGE = re.compile(r"^(\d{1,2}):(\d{2})-(\d{1,2}):(\d{2})$")
_VEHICLE_COND = re.compile(r"^(weight|length|height|width|axleload|wheels)\s*(>=|<=|>|<|=)\s*(.+)$")


@dataclass(frozen=True)
class Condition:
    """One parsed condition: weekday/time windows and/or vehicle comparisons (ANDed).

    ``rules`` is a tuple of ``(days, windows, off)``: ``days`` a frozenset of weekday numbers
    (0 = Monday; empty = every day), ``windows`` ``((start_min, end_min), ...)`` (empty = all
    day; end < start wraps past midnight).  ``vehicle`` holds ``(attribute, op, value)``.
    ``unknown`` names parts that could not be read (e.g. ``wet``, month ranges).
    """

    rules: tuple = ()
    vehicle: tuple = ()
    unknown: tuple = ()

    @property
    def timed(self) -> bool:
        return bool(self.rules)

    def holds(self, vehicle, at: dt.datetime | None) -> bool | None:
        """True / False, or None when it cannot be decided (no time given, unreadable part)."""
        result: bool | None = True
        for attr, op, limit in self.vehicle:
            have = vehicle.attribute(attr)
            ok = {">": have > limit, ">=": have >= limit, "<": have < limit,
                  "<=": have <= limit, "=": math.isclose(have, limit)}[op]
            if not ok:
                return False
        if self.rules:
            if at is None:
                result = None
            elif at is TIME_WINDOWS_LIFTED:
                return False
            elif not _in_rules(self.rules, at):
                return False
        if self.unknown:
            return None
        return result


def _minutes(h: str, m: str) -> int:
    return int(h) * 60 + int(m)


def _parse_days(token: str) -> frozenset | None:
    days: set[int] = set()
    for part in token.split(","):
        part = part.strip()[:5]
        if "-" in part:
            a, b = (p.strip()[:2] for p in part.split("-", 1))
            if a not in _DAYS or b not in _DAYS:
                return None
            i, j = _DAYS.index(a), _DAYS.index(b)
            days.update(range(i, j + 1) if i <= j else [*range(i, 7), *range(0, j + 1)])
        elif part[:2] in _DAYS and len(part) == 2:
            days.add(_DAYS.index(part[:2]))
        else:
            return None
    return frozenset(days)


def _parse_rule(text: str):
    """``Mo-Fr 07:00-19:00,20:00-21:00`` / ``07:00-19:00`` / ``Su off`` -> (days, windows, off)."""
    text = re.sub(r"\s*-\s*", "-", text.strip().lower())
    text = re.sub(r"\s*:\s*", ":", text)
    if text in ("24/7", ""):
        return frozenset(), (), False
    tokens = text.split()
    off = False
    if tokens and tokens[-1] in ("off", "closed"):
        off, tokens = True, tokens[:-1]
    days: frozenset = frozenset()
    windows = []
    for tok in tokens:
        for piece in [p for p in tok.split(",") if p]:
            m = _TIME_RANGE.match(piece)
            if m:
                windows.append((_minutes(m.group(1), m.group(2)), _minutes(m.group(3), m.group(4))))
                continue
            parsed = _parse_days(piece)
            if parsed is None:
                return None
            days = days | parsed
    return days, tuple(windows), off


def _in_rules(rules, at: dt.datetime) -> bool:
    minute = at.hour * 60 + at.minute
    weekday = at.weekday()
    inside = False
    for days, windows, off in rules:
        for start, end in windows or ((0, 24 * 60),):
            if start <= end:
                hit = start <= minute < end and (not days or weekday in days)
            else:  # wraps past midnight: the part after midnight belongs to the previous day
                hit = ((minute >= start and (not days or weekday in days))
                       or (minute < end and (not days or (weekday - 1) % 7 in days)))
            if hit:
                inside = not off
    return inside


def parse_condition(text: str) -> Condition:
    """Parse the part after ``@`` of a conditional restriction.

    Examples
    --------
    >>> c = parse_condition("(Mo-Fr 07:00-19:00 AND weight>7.5)")
    >>> c.vehicle
    (('weight', '>', 7.5),)
    >>> c.rules
    ((frozenset({0, 1, 2, 3, 4}), ((420, 1140),), False),)
    >>> parse_condition("wet").unknown
    ('wet',)
    """
    text = text.strip()
    if text.startswith("(") and text.endswith(")"):
        text = text[1:-1]
    rules, vehicle, unknown = [], [], []
    for part in re.split(r"\s+and\s+", text, flags=re.IGNORECASE):
        part = part.strip()
        m = _VEHICLE_COND.match(part.lower())
        if m:
            attr, op, raw = m.groups()
            value, problem = (parse_weight(raw) if attr in ("weight", "axleload")
                              else parse_length(raw) if attr != "wheels" else (float(raw), None))
            if problem or math.isnan(value):
                unknown.append(part)
            else:
                vehicle.append((attr, op, value))
            continue
        parsed = [_parse_rule(r) for r in part.split(";")]
        if parsed and all(p is not None for p in parsed) and any(p[1] or p[0] for p in parsed):
            rules.extend(parsed)
        else:
            unknown.append(part)
    return Condition(tuple(rules), tuple(vehicle), tuple(unknown))


def parse_conditional(value) -> list[tuple[str, Condition]]:
    """Split ``"no @ (07:00-19:00); destination @ (Sa)"`` into ``[(value, Condition), ...]``.

    Examples
    --------
    >>> [(v, c.rules) for v, c in parse_conditional("no @ (07:00-19:00)")]
    [('no', ((frozenset(), ((420, 1140),), False),))]
    """
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return []
    out = []
    depth, start, text = 0, 0, str(value)
    pieces = []
    for i, ch in enumerate(text):  # split on ';' outside parentheses
        depth += ch == "("
        depth -= ch == ")"
        if ch == ";" and depth == 0:
            pieces.append(text[start:i])
            start = i + 1
    pieces.append(text[start:])
    for piece in pieces:
        if "@" not in piece:
            continue
        val, cond = piece.split("@", 1)
        out.append((val.strip(), parse_condition(cond)))
    return out


class _TimeWindowsLifted:
    """No departure time, and every time-limited restriction read as *not* in force.

    The router's second reading when no route exists with them counted as in force; it names the
    ones the route then relies on (``Route.time_assumed``).
    """

    def __repr__(self) -> str:
        return "TIME_WINDOWS_LIFTED"


#: Pass as ``at`` to read every time window of a restriction or ban zone as not in force.
TIME_WINDOWS_LIFTED = _TimeWindowsLifted()


def parse_time(value) -> dt.datetime | None:
    """Read a departure time ``"YYYY-MM-DD HH:MM"`` (or ISO 8601); None passes through.

    Raises
    ------
    InputError
        With the accepted format when the text cannot be read.

    Examples
    --------
    >>> parse_time("2026-11-23 07:30")
    datetime.datetime(2026, 11, 23, 7, 30)
    """
    from gridtools import timeparse
    from gridtools.errors import InputError

    if value is None or isinstance(value, dt.datetime):
        return value
    text = str(value).strip()
    try:
        # a departure needs its time of day: a bare date would silently mean midnight
        if timeparse.has_time_of_day([text]):
            return timeparse.parse_moment(text, what="time", aware="local").to_pydatetime()
    except InputError:
        pass
    raise InputError(f"cannot read the time {value!r}: give it as \"YYYY-MM-DD HH:MM\", "
                     "e.g. \"2026-11-23 07:30\" (local time of the road network)")
