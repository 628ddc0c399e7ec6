"""The restriction model: what a vehicle may use, at a given time, and why not.

Restrictions are data on the network (:class:`~gridtools.routing.RoadNetwork` ``ways``,
``node_tags``, ``turns``).  :func:`arc_rules` turns them into, for one vehicle and time, a
*blocked* code per arc (0 = usable) and a *preference factor* per arc (road class, truck routes,
destination-only).  :func:`explain_arcs` says in words why given arcs are blocked.  Both use the
same evaluation, so an explanation always matches the mask.

Rules (OSM semantics):

* access: of ``access``, ``vehicle``, ``motor_vehicle`` and the vehicle's own key (``motorcar``,
  ``goods`` for vans, ``hgv`` above 3.5 t) the most specific one present decides; ``:forward`` /
  ``:backward`` variants apply per direction; ``KEY:conditional = VALUE @ (COND)`` overrides when
  COND holds.  ``no``/``private``/... block; ``destination``/``delivery``/... are allowed with a
  penalty (``Vehicle.destination_factor``).  A way closed only by ``private`` (code
  :data:`PRIVATE`, no other restriction) may be driven at the very start or end of a route to
  reach a point on it, never mid-route (the router states it in ``Route.restricted``).
* limits: ``maxweight``, ``maxheight`` (and ``maxheight:physical``), ``maxwidth``, ``maxlength``,
  ``maxaxleload`` on ways and on nodes (height restrictors), with ``:conditional`` forms
  (``maxweight:conditional=7.5 @ (22:00-06:00)``).  An unreadable limit blocks (safe side) and is
  listed in ``RoadNetwork.tag_problems``.
* barriers on nodes (bollard, block, chain, ...) block entry unless the node's access tags allow
  the vehicle; gates, lift gates and toll booths are passable.
* time: with ``at=None`` a time-conditional restriction whose effect is restrictive counts as in
  force (the safe reading when the departure time is unknown); give ``at`` for the exact rule.
  Conditions that cannot be read (``wet``, month ranges) also take the more restrictive reading.
* turn restrictions: see :mod:`gridtools.routing.network.turns` (via-node splitting); vehicle- or
  time-specific ones block their turn connector here.
"""

from __future__ import annotations

import datetime as dt
import math
from dataclasses import dataclass, field

import numpy as np
import pandas as pd

from gridtools.routing import tags as T

OK, ACCESS, ONEWAY, LIMIT, UNREADABLE, BARRIER, NODE_ACCESS, NODE_LIMIT, TURN, ZONE, HAZMAT, PRIVATE = range(12)
REASON_NAMES = {OK: "", ACCESS: "access", ONEWAY: "oneway", LIMIT: "limit", UNREADABLE: "unreadable limit",
                BARRIER: "barrier", NODE_ACCESS: "node access", NODE_LIMIT: "node limit", TURN: "turn restriction",
                ZONE: "ban zone", HAZMAT: "dangerous goods", PRIVATE: "private access"}

#: Access values that close a way to through traffic but not to a trip that starts or ends on it
#: with the owner's leave (a yard, a private access road): :data:`PRIVATE`.
END_ACCESS_VALUES = frozenset({"private"})

#: ADR tunnel categories from the least to the most restrictive (A: no restriction).
ADR_CATEGORIES = "ABCDE"

#: ``barrier=*`` values that stop motor vehicles unless the node's access tags allow them.
BLOCKING_BARRIERS = frozenset({
    "bollard", "block", "jersey_barrier", "chain", "kissing_gate", "stile", "turnstile", "full-height_turnstile",
    "cycle_barrier", "log", "planter", "motorcycle_barrier", "kerb", "debris", "rope", "fence", "wall",
    "bar", "barrier_board", "sump_buster", "height_restrictor_full",
})

_LIMITS = (("maxweight", "t", "weight_t", "weight"), ("maxheight", "m", "height_m", "height"),
           ("maxwidth", "m", "width_m", "width"), ("maxlength", "m", "length_m", "length"),
           ("maxaxleload", "t", "axle_load_t", "axle load"))
_KIND_KEYS = {"hgv": ("hgv", "motor_vehicle", "vehicle"), "car": ("motorcar", "motor_vehicle", "vehicle"),
              "van": ("goods", "motor_vehicle", "vehicle")}


@dataclass
class ArcRules:
    """Mask and preferences of every arc of a network for one vehicle at one time."""

    blocked: np.ndarray  # int8 reason code per arc, 0 = usable
    factor: np.ndarray   # preference multiplier on travel time (1 = neutral)
    time_s: np.ndarray   # travel time in seconds at the vehicle's speed
    cache: dict = field(default_factory=dict, repr=False)  # derived arrays (snapping masks)
    zone_why: np.ndarray | None = field(default=None, repr=False)  # ban-zone rule per arc (ZONE code)


def _conditional(value, cache: dict):
    if value not in cache:
        cache[value] = T.parse_conditional(value)
    return cache[value]


def _col(ways: pd.DataFrame, key: str) -> np.ndarray | None:
    return ways[key].to_numpy(dtype=object) if key in ways.columns else None


def _level(value, private_ok: bool) -> int:
    level = T.access_level(value)[0]
    if private_ok and level == T.FORBIDDEN and str(value).strip().lower() in END_ACCESS_VALUES:
        return T.DESTINATION
    return level


def way_access(ways: pd.DataFrame, vehicle, at, direction: str, detail: bool = False, private_ok: bool = False):
    """Access level (0 allowed, 1 destination only, 2 forbidden) per way, for one direction.

    Returns ``(level, why)``; ``why`` is an object array of ``"key=value"`` texts when ``detail``.
    ``private_ok`` reads :data:`END_ACCESS_VALUES` as destination only (a trip's own end).
    """
    n = len(ways)
    level = np.zeros(n, np.int8)
    why = np.full(n, "", dtype=object) if detail else None
    cache: dict = {}
    for base in vehicle.access_keys:
        for key in (base, f"{base}:{direction}"):
            raw = _col(ways, key)
            if raw is not None:
                present = pd.notna(raw)
                if present.any():
                    vals = pd.Series(raw[present], dtype=object)  # plain strings: no Arrow array per call
                    levels = vals.map(lambda v: _level(v, private_ok)).to_numpy(np.int8)
                    level[present] = levels
                    if detail:
                        why[present] = [f"{key}={v}" for v in vals]
            craw = _col(ways, f"{key}:conditional")
            if craw is None:
                continue
            for i in np.flatnonzero(pd.notna(craw)):
                for value, cond in _conditional(craw[i], cache):
                    holds = cond.holds(vehicle, at)
                    new = _level(value, private_ok)
                    if holds is True or (holds is None and new > level[i]):
                        level[i] = new if holds else max(new, level[i])
                        if detail:
                            note = "" if holds else (" (time not given: counted as in force)" if cond.timed and at is None
                                                     else " (condition not fully understood: safe reading)")
                            why[i] = f"{key}:conditional={craw[i]}{note}"
    return level, why


def way_limits(ways: pd.DataFrame, vehicle, at, detail: bool = False):
    """Which limit (if any) each way's limits put on the vehicle: (code, why)."""
    n = len(ways)
    code = np.zeros(n, np.int8)
    why = np.full(n, "", dtype=object) if detail else None
    cache: dict = {}
    for key, unit, attr, word in _LIMITS:
        limit = ways[f"{key}_{unit}"].to_numpy(dtype=float).copy() if f"{key}_{unit}" in ways else np.full(n, np.inf)
        source = np.full(n, key, dtype=object) if detail else None
        craw = _col(ways, f"{key}:conditional")
        if craw is not None:
            for i in np.flatnonzero(pd.notna(craw)):
                for value, cond in _conditional(craw[i], cache):
                    parsed = (T.parse_weight if unit == "t" else T.parse_length)(value)[0]
                    holds = cond.holds(vehicle, at)
                    if holds or (holds is None and not parsed >= limit[i]):
                        limit[i] = parsed if holds else min(parsed, limit[i])
                        if detail:
                            source[i] = f"{key}:conditional"
        have = getattr(vehicle, attr)
        unreadable = np.isnan(limit) & (code == 0)
        over = (have > limit + 1e-9) & (code == 0)
        code[unreadable] = UNREADABLE
        code[over] = LIMIT
        if detail:
            for i in np.flatnonzero(over | unreadable):
                raw_key = source[i]
                raw = ways[raw_key].iloc[i] if raw_key in ways else None
                if unreadable[i]:
                    why[i] = f"{raw_key}={raw} cannot be read (treated as blocking)"
                else:
                    why[i] = (f"{raw_key}={raw} ({limit[i]:g} {unit}) is below the vehicle's {word} "
                              f"{have:g} {unit}")
    return code, why


def way_hazmat(ways: pd.DataFrame, vehicle, detail: bool = False):
    """Ways closed to a vehicle carrying dangerous goods: (blocked, why).

    ``hazmat=no`` and ``hazmat:water=no`` close a way to any dangerous-goods vehicle; a tunnel
    (``tunnel=yes``/``building_passage``...) with an ADR category (``hazmat:adr_tunnel`` or
    ``tunnel:category``, A-E) closes it to loads whose tunnel restriction code is that category or
    a less restrictive one (code D: tunnels of category D and E are closed).
    """
    n = len(ways)
    closed = np.zeros(n, bool)
    why = np.full(n, "", dtype=object) if detail else None
    if not vehicle.hazmat:
        return closed, why
    for key in ("hazmat", "hazmat:water"):
        raw = _col(ways, key)
        if raw is not None:
            hit = np.asarray([v == "no" for v in raw]) & ~closed
            closed |= hit
            if detail:
                why[hit] = f"{key}=no closes it to vehicles carrying dangerous goods"
    code = vehicle.adr_tunnel_code
    tunnel = _col(ways, "tunnel")
    if code and tunnel is not None:
        for key in ("hazmat:adr_tunnel", "tunnel:category"):
            raw = _col(ways, key)
            if raw is None:
                continue
            cat = np.asarray([str(v).strip().upper() if isinstance(v, str) else "" for v in raw], dtype=object)
            in_tunnel = np.asarray([isinstance(t, str) and t != "no" for t in tunnel])
            hit = in_tunnel & np.isin(cat, list(ADR_CATEGORIES[ADR_CATEGORIES.index(code):])) & ~closed
            closed |= hit
            if detail:
                why[hit] = [f"{key}={c} tunnel is closed to tunnel restriction code {code}" for c in cat[hit]]
    return closed, why


def node_blocks(node_tags: pd.DataFrame, vehicle, at, detail: bool = False):
    """Block code per tagged node (barriers, node access, height restrictors)."""
    n = len(node_tags)
    code = np.zeros(n, np.int8)
    why = np.full(n, "", dtype=object) if detail else None
    if not n:
        return code, why
    level, awhy = way_access(node_tags, vehicle, at, "forward", detail)
    explicit = np.zeros(n, bool)
    for key in vehicle.access_keys:
        if key in node_tags:
            explicit |= node_tags[key].notna().to_numpy()
    barrier = node_tags["barrier"].to_numpy(dtype=object) if "barrier" in node_tags else np.full(n, None, object)
    blocking = np.isin(barrier.astype(str), list(BLOCKING_BARRIERS))
    # a blocking barrier stops the vehicle unless its own access tags let it through
    stop = blocking & ~(explicit & (level == T.ALLOWED))
    code[stop] = BARRIER
    forbidden = (level == T.FORBIDDEN) & (code == 0)
    code[forbidden] = NODE_ACCESS
    lcode, lwhy = way_limits(node_tags, vehicle, at, detail)
    hit = (lcode > 0) & (code == 0)
    code[hit] = NODE_LIMIT
    if detail:
        for i in np.flatnonzero(code):
            osmid = node_tags["osmid"].iloc[i]
            if code[i] == BARRIER:
                why[i] = f"barrier={barrier[i]} on node {osmid}"
            elif code[i] == NODE_ACCESS:
                why[i] = f"{awhy[i]} on node {osmid}"
            else:
                why[i] = f"{lwhy[i]} on node {osmid}"
    return code, why


def turn_blocks(turns: pd.DataFrame, vehicle, at, detail: bool = False):
    """Block code per turn restriction row (only rows kept as connectors ever matter)."""
    n = len(turns)
    code = np.zeros(n, np.int8)
    why = np.full(n, "", dtype=object) if detail else None
    cache: dict = {}
    columns = {c: turns[c].to_numpy(dtype=object) for c in turns.columns}  # rows as dicts: not itertuples,
    for i in range(n):  # which renames the column 'except'; not to_dict, which costs 2 ms for a few rows
        t = {c: values[i] for c, values in columns.items()}
        applies = True
        only_for = t.get("only_for")
        if isinstance(only_for, str) and only_for:
            applies = vehicle.kind in {k for k, keys in _KIND_KEYS.items() if only_for in keys}
        exc = t.get("except")
        if isinstance(exc, str) and exc:
            mine = set(_KIND_KEYS[vehicle.kind])
            if mine & {e.strip() for e in exc.split(";")}:
                applies = False
        cond = t.get("conditional")
        if applies and isinstance(cond, str) and cond:
            holds = [c.holds(vehicle, at) for _, c in _conditional(cond, cache)]
            applies = any(h is not False for h in holds)
        if applies:
            code[i] = TURN
            if detail:
                text = t["restriction"] if not (isinstance(cond, str) and cond) else f"restriction:conditional={cond}"
                why[i] = f"turn restriction {text} (relation {t['relation']}) at node {t['via_node']}"
    return code, why


def condition_key(net, vehicle, at) -> tuple:
    """What the time / vehicle conditions of the whole network evaluate to.

    Two departure times with the same key give the same mask, so customised weights are shared
    between them (a time slot is the set of conditions in force, not a clock interval).
    """
    return tuple(c.holds(vehicle, at) for c in net.derived("conditions", lambda: _all_conditions(net)))


def _all_conditions(net) -> list:
    """Every distinct condition of the network's ``:conditional`` tags and conditional turn restrictions."""
    texts = set()
    for table in (net.ways, net.node_tags):
        for col in [c for c in table.columns if c.endswith(":conditional")]:
            texts.update(table[col].dropna().unique().tolist())
    if len(net.turns) and "conditional" in net.turns:
        texts.update(net.turns["conditional"].dropna().unique().tolist())
    return [c for text in sorted(texts) for _, c in T.parse_conditional(text)]


def arc_rules(net, vehicle, at: dt.datetime | None = None) -> ArcRules:
    """Mask, preference factors and travel times of every arc for ``vehicle`` at ``at``.

    Examples
    --------
    >>> rules = arc_rules(net, truck(weight_t=40, height_m=4.2))   # doctest: +SKIP
    >>> (rules.blocked > 0).mean()                                  # doctest: +SKIP
    """
    ways = net.ways
    arc_way = net.arc_way
    road = arc_way >= 0
    w = np.maximum(arc_way, 0)
    blocked = np.zeros(net.n_arcs, np.int8)
    factor = np.ones(net.n_arcs)

    fwd_level, _ = way_access(ways, vehicle, at, "forward")
    bwd_level, _ = way_access(ways, vehicle, at, "backward")
    level = np.where(net.arc_back, bwd_level[w], fwd_level[w])
    # closed only by "private": left open while the other rules are checked, marked PRIVATE last
    fwd_end, _ = way_access(ways, vehicle, at, "forward", private_ok=True)
    bwd_end, _ = way_access(ways, vehicle, at, "backward", private_ok=True)
    private = road & (level == T.FORBIDDEN) & (np.where(net.arc_back, bwd_end[w], fwd_end[w]) < T.FORBIDDEN)
    blocked[road & (level == T.FORBIDDEN) & ~private] = ACCESS
    factor[road & (level == T.DESTINATION)] *= vehicle.destination_factor
    reversible = ways["oneway_code"].to_numpy()[w] == 2
    blocked[road & reversible & (blocked == 0)] = ONEWAY
    lcode, _ = way_limits(ways, vehicle, at)
    lim = lcode[w]
    blocked[road & (lim > 0) & (blocked == 0)] = lim[road & (lim > 0) & (blocked == 0)]

    hz, _ = way_hazmat(ways, vehicle)
    blocked[road & hz[w] & (blocked == 0)] = HAZMAT

    # node restrictions stop a vehicle from entering the node
    ncode, _ = node_blocks(net.node_tags, vehicle, at)
    if len(ncode):
        per_node = np.zeros(int(net.node_base.max()) + 1, np.int8)
        per_node[net.node_tags["node"].to_numpy()] = ncode
        hit = per_node[net.node_base[net.arc_v]]
        entering = (hit > 0) & (net.node_base[net.arc_u] != net.node_base[net.arc_v]) & (blocked == 0)
        blocked[entering] = hit[entering]
    if len(net.turns):
        tcode, _ = turn_blocks(net.turns, vehicle, at)
        gov = net.arc_turn
        hit = (gov >= 0) & (blocked == 0)
        blocked[hit] = tcode[gov[hit]]
    blocked[private & (blocked == 0)] = PRIVATE

    highway = ways["highway"].to_numpy(dtype=object)
    if vehicle.road_factors:
        f = pd.Series(highway).map(vehicle.road_factors).fillna(1.0).to_numpy(float)
        factor[road] *= f[w[road]]
    if vehicle.kind == "hgv" and vehicle.truck_route_factor != 1.0:
        hgv = ways["hgv"].to_numpy(dtype=object) if "hgv" in ways else np.full(len(ways), None, object)
        nn = (ways["hgv:national_network"].to_numpy(dtype=object) if "hgv:national_network" in ways
              else np.full(len(ways), None, object))
        designated = (hgv == "designated") | (nn == "yes")
        local = hgv == "local"
        wf = np.where(designated, vehicle.truck_route_factor,
                      np.where(local, (1.0 + vehicle.truck_route_factor) / 2.0, 1.0))
        factor[road] *= wf[w[road]]
    speed = np.minimum(ways["speed_kmh"].to_numpy(float), vehicle.max_speed_kmh)[w]
    time_s = np.where(road, net.arc_length / (speed / 3.6), 0.0)
    return ArcRules(blocked=blocked, factor=factor, time_s=time_s)


def _plain(net, name: str) -> pd.DataFrame:
    """``net.ways`` / ``net.turns`` / ``net.node_tags`` with text columns as plain objects (cached per network).

    Explaining a route takes a few rows of these tables at a time; on pandas' Arrow-backed text
    columns every row selection is a take per column (about 1.5 ms for 30 columns), on object
    columns it is one numpy take.  The values are the same strings (and missing values still read
    as missing), so the explanations do not change.
    """
    def compute():
        table = getattr(net, name)
        # built from plain arrays so pandas keeps one block per dtype: a row selection is then a few takes
        # (a plain object array handed to pandas would be read back into Arrow text: say dtype=object)
        plain = pd.DataFrame({c: pd.Series(table[c].to_numpy(dtype=object), index=table.index, dtype=object)
                              if pd.api.types.is_string_dtype(kind) else table[c] for c, kind in table.dtypes.items()})
        plain.columns = pd.Index(list(plain.columns), dtype=object)  # column lookups: no Arrow label index
        return plain

    return net.derived(f"restrictions_plain_{name}", compute)


def explain_arcs(net, arcs, vehicle, at: dt.datetime | None = None, rules: ArcRules | None = None) -> list[dict]:
    """Why each of ``arcs`` is closed to ``vehicle`` at ``at`` (only the blocked ones are returned).

    Returns
    -------
    list of dict
        ``arc``, ``osmid`` (way, or None for a turn), ``name``, ``restriction`` (kind) and ``why``
        (the tag, its reading and the vehicle's value).
    """
    arcs = np.asarray(arcs, dtype=np.int64)
    rules = rules if rules is not None else arc_rules(net, vehicle, at)
    arcs = arcs[rules.blocked[arcs] > 0]
    codes = rules.blocked[arcs]
    arc_way = net.arc_way[arcs]
    text = np.full(len(arcs), "", dtype=object)
    # one detailed evaluation per kind of reason over all the rows involved (not one per arc)
    for direction, back in (("forward", False), ("backward", True)):
        pick = np.flatnonzero(np.isin(codes, (ACCESS, PRIVATE)) & (net.arc_back[arcs] == back))
        if len(pick):
            rows, inv = np.unique(arc_way[pick], return_inverse=True)
            _, why = way_access(_plain(net, "ways").iloc[rows], vehicle, at, direction, detail=True)
            text[pick] = [f"{w} closes it to {vehicle.kind}" for w in why[inv]]
    pick = np.flatnonzero(np.isin(codes, (LIMIT, UNREADABLE)))
    if len(pick):
        rows, inv = np.unique(arc_way[pick], return_inverse=True)
        _, why = way_limits(_plain(net, "ways").iloc[rows], vehicle, at, detail=True)
        text[pick] = why[inv]
    text[codes == ONEWAY] = "oneway=reversible (direction changes during the day)"
    pick = np.flatnonzero(np.isin(codes, (BARRIER, NODE_ACCESS, NODE_LIMIT)))
    if len(pick):
        tags = _plain(net, "node_tags")
        node_of = tags["node"].to_numpy()
        want = net.node_base[net.arc_v[arcs[pick]]]
        sub = tags[np.isin(node_of, want)]
        _, why = node_blocks(sub, vehicle, at, detail=True)
        lookup = dict(zip(sub["node"].to_numpy(), why))
        text[pick] = [lookup[n] for n in want]
    pick = np.flatnonzero(codes == HAZMAT)
    if len(pick):
        rows, inv = np.unique(arc_way[pick], return_inverse=True)
        _, why = way_hazmat(_plain(net, "ways").iloc[rows], vehicle, detail=True)
        text[pick] = why[inv]
    if rules.zone_why is not None:
        text[codes == ZONE] = rules.zone_why[arcs[codes == ZONE]]
    pick = np.flatnonzero(codes == TURN)
    if len(pick):
        rows, inv = np.unique(net.arc_turn[arcs[pick]], return_inverse=True)
        _, why = turn_blocks(_plain(net, "turns").iloc[rows], vehicle, at, detail=True)
        text[pick] = why[inv]
    out, seen = [], set()
    osmids, names = net.way_osmid, net.way_name
    for a, code, w, why in zip(arcs, codes, arc_way, text):
        if (w, why) in seen:  # one entry per way and reason, not per segment
            continue
        seen.add((w, why))
        name = names[w] if w >= 0 else None
        out.append({"arc": int(a), "osmid": int(osmids[w]) if w >= 0 else None,
                    "name": None if name is None or (isinstance(name, float) and math.isnan(name)) else name,
                    "restriction": REASON_NAMES[int(code)], "why": why})
    return out


def _is_nan(v) -> bool:
    return isinstance(v, float) and math.isnan(v)
