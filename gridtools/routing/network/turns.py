"""Turn restrictions built into the routing graph, so that every shortest-path engine honours them.

Restrictions with a via *node* (``type=restriction`` relations) are built in by splitting the via
node: every incoming arc gets its own copy of the node, and each copy keeps only the turns
allowed from that arc (plus a departure copy and an arrival sink).  Restrictions that apply only
to some vehicles (``restriction:hgv``, ``except=``) or only at some times keep the turn arc and
block it per request (``arc_turn`` names the governing row of ``RoadNetwork.turns``; see
:func:`gridtools.routing.arc_rules`).  Via-*way* restrictions are built in by path duplication
(as OSRM and Valhalla do): the nodes along the via path are split as above, then the from arc is
sent into a private copy of the via path whose last junction lacks the forbidden exits, so only
the from -> via -> to sequence is removed and every other path stays available.

Every restriction gets a ``status`` in ``RoadNetwork.turns``: ``applied`` or ``not applied: why``.
"""

from __future__ import annotations

import math

import numpy as np
import pandas as pd

from gridtools.routing.network.roadnetwork import TURN_KINDS, RoadNetwork

#: Columns of ``RoadNetwork.turns``.
TURN_COLUMNS = ("relation", "restriction", "only_for", "conditional", "except", "from_way", "via_node", "via_way",
                "to_way", "status")


def apply_turn_restrictions(net: RoadNetwork, turns: pd.DataFrame) -> None:
    """Build turn restrictions into ``net`` (in place) and store them, with a status each, as ``net.turns``.

    Parameters
    ----------
    net : RoadNetwork
        Freshly built, without turn connectors yet.
    turns : pandas.DataFrame
        One row per restriction relation: ``relation``, ``restriction``, ``only_for``,
        ``conditional``, ``except`` and member lists ``from_way``, ``via_node``, ``via_way``,
        ``to_way`` (as :func:`~gridtools.routing.network_from_osm` reads them); may be empty.

    Examples
    --------
    >>> apply_turn_restrictions(net, turns)                        # doctest: +SKIP
    >>> net.turns["status"].value_counts()                         # doctest: +SKIP
    """
    if not len(turns):
        net.turns = pd.DataFrame({c: pd.Series([], dtype=object) for c in TURN_COLUMNS})
        return
    net.turns, node_rules, via_way_rules = _match_members(net, turns)
    if not node_rules:
        return
    _split_via_nodes(net, node_rules)
    for row, kind, froms, path, tos in via_way_rules:
        _duplicate_via_path(net, row, kind, froms, path, tos)


def _match_members(net: RoadNetwork, turns: pd.DataFrame) -> tuple:
    """Find each restriction's arcs: (turns table with status, rules per via node, via-way rules)."""
    turns = turns.copy()
    status = []
    way_row = pd.Series(np.arange(len(net.ways)), index=net.ways["osmid"].to_numpy())
    way_row = way_row[~way_row.index.duplicated()]
    arc_way = net.arc_way
    arc_osm = np.where(arc_way >= 0, net.ways["osmid"].to_numpy()[np.maximum(arc_way, 0)], -1)
    rules: dict[int, list] = {}
    via_way_rules: list = []
    for i, t in enumerate(turns.itertuples(index=False)):
        cond = t.conditional if isinstance(t.conditional, str) else ""
        kind = t.restriction if isinstance(t.restriction, str) else cond.split("@")[0].strip()
        turns.loc[turns.index[i], "restriction"] = kind
        if kind not in TURN_KINDS:
            status.append(f"not applied: unknown restriction {kind!r}")
            continue
        found = _via_way_path(net, t, arc_osm, way_row) if t.via_way else _via_node_arcs(net, t, arc_osm, way_row)
        if isinstance(found, str):
            status.append(found)
            continue
        if t.via_way:
            froms, path, tos = found
            for n in {int(net.arc_v[x]) for x in path} | {int(net.arc_u[path[0]])}:
                rules.setdefault(n, [])  # split the path's nodes so that each can be copied with its arrivals
            via_way_rules.append((i, kind, froms, path, tos))
        else:
            via, ins, outs = found
            rules.setdefault(via, []).append((i, kind, set(ins.tolist()), set(outs.tolist())))
        status.append("applied")
    turns["status"] = status
    for c in ("from_way", "via_node", "via_way", "to_way"):
        turns[c] = turns[c].map(lambda v: ";".join(map(str, v)))
    table = turns[[c for c in TURN_COLUMNS if c in turns]].reset_index(drop=True)
    return table, rules, via_way_rules


def _via_node_arcs(net: RoadNetwork, t, arc_osm: np.ndarray, way_row) -> tuple | str:
    """Via node, arcs of the from way entering it and of the to way leaving it; or why not applied."""
    if len(t.from_way) != 1 or len(t.via_node) != 1 or len(t.to_way) != 1:
        return "not applied: needs exactly one from way, one via node and one to way"
    if t.from_way[0] not in way_row.index or t.to_way[0] not in way_row.index:
        return "not applied: from/to way is not a loaded road"
    via = np.searchsorted(net.node_osmid, t.via_node[0])
    if via >= len(net.node_osmid) or net.node_osmid[via] != t.via_node[0]:
        return "not applied: via node is not on the network"
    ins = np.flatnonzero((net.arc_v == via) & (arc_osm == t.from_way[0]))
    outs = np.flatnonzero((net.arc_u == via) & (arc_osm == t.to_way[0]))
    if not len(ins) or not len(outs):
        return "not applied: from/to way does not enter/leave the via node (check directions)"
    return int(via), ins, outs


def _split_via_nodes(net: RoadNetwork, rules: dict) -> None:
    """Give every arc entering a via node its own copy of the node, with only the turns allowed from it."""
    arc_u, arc_v = net.arc_u.copy(), net.arc_v.copy()
    base, depart = list(net.node_base), list(range(net.n_nodes))
    copies: list[int] = []
    new_u, new_v, new_turn = [], [], []

    def copy_of(node: int) -> int:
        base.append(node)
        depart.append(len(base) - 1)
        copies.append(node)
        return len(base) - 1

    for via, node_rules in rules.items():
        ins = np.flatnonzero(net.arc_v == via)
        outs = np.flatnonzero(net.arc_u == via)
        entry = {int(o): copy_of(via) for o in outs}
        for o, e in entry.items():
            arc_u[o] = e
        d = copy_of(via)  # departure copy: starting at the via node is never a turn
        depart[via] = d
        for e in entry.values():
            new_u.append(d), new_v.append(e), new_turn.append(-1)
        angle = {(int(a), int(o)): _turn_angle(net, a, o) for a in ins for o in outs}
        for a in ins:
            c = copy_of(via)
            arc_v[a] = c
            new_u.append(c), new_v.append(via), new_turn.append(-1)  # arrival at the via node itself
            forbidding = _forbidden_exits(node_rules, a, outs, angle)
            for o in outs:
                rows = forbidding.get(int(o), [])
                if any(_unconditional(net.turns.iloc[r]) for r in rows):
                    continue  # never allowed for anyone: no connector at all
                new_u.append(c), new_v.append(entry[int(o)]), new_turn.append(rows[0] if rows else -1)
    k = len(new_u)
    net.arc_u = np.r_[arc_u, np.asarray(new_u, np.int64)]
    net.arc_v = np.r_[arc_v, np.asarray(new_v, np.int64)]
    net.arc_seg = np.r_[net.arc_seg, np.full(k, -1, np.int64)]
    net.arc_back = np.r_[net.arc_back, np.zeros(k, bool)]
    net.arc_turn = np.r_[net.arc_turn, np.asarray(new_turn, np.int64)]
    idx = np.asarray(copies, np.int64)
    net.node_base = np.asarray(base, np.int64)
    net.node_depart = np.asarray(depart, np.int64)
    net.node_x, net.node_y = np.r_[net.node_x, net.node_x[idx]], np.r_[net.node_y, net.node_y[idx]]
    net.node_lon, net.node_lat = np.r_[net.node_lon, net.node_lon[idx]], np.r_[net.node_lat, net.node_lat[idx]]
    net.node_osmid = np.r_[net.node_osmid, net.node_osmid[idx]]
    net.forget_derived()


def _forbidden_exits(node_rules: list, a: int, outs: np.ndarray, angle: dict) -> dict:
    """For arc ``a`` into a via node: exit arc -> rows of the restrictions that forbid taking it."""
    forbidding: dict = {}
    for row, kind, rin, rout in node_rules:
        if a not in rin:
            continue
        targets = [o for o in outs if o in rout]
        if len(targets) > 1:  # the 'to' way runs both ways out of the node: pick by geometry
            pick = {"left": max, "right": min}.get(kind.split("_")[1] if "_" in kind else "", None)
            if kind.endswith("straight_on"):
                targets = [min(targets, key=lambda o: abs(angle[(int(a), int(o))]))]
            elif kind.endswith("u_turn"):
                targets = [max(targets, key=lambda o: abs(angle[(int(a), int(o))]))]
            elif pick is not None:
                targets = [pick(targets, key=lambda o: angle[(int(a), int(o))])]
        for o in outs:
            if (kind.startswith("no_") and o in targets) or (kind.startswith("only_") and o not in targets):
                forbidding.setdefault(int(o), []).append(row)
    return forbidding


def _turn_angle(net: RoadNetwork, a: int, o: int) -> float:
    """Signed turn angle in degrees from arc ``a`` into arc ``o`` (positive = left)."""
    def step(arc, at_end):
        s, e = net.seg_start[net.arc_seg[arc]], net.seg_end[net.arc_seg[arc]]
        forward = not net.arc_back[arc]
        if at_end:  # direction arriving at the head
            p, q = (e - 1, e) if forward else (s + 1, s)
        else:  # direction leaving the tail
            p, q = (s, s + 1) if forward else (e, e - 1)
        return net.coord_x[q] - net.coord_x[p], net.coord_y[q] - net.coord_y[p]

    (x1, y1), (x2, y2) = step(a, True), step(o, False)
    return math.degrees(math.atan2(x1 * y2 - y1 * x2, x1 * x2 + y1 * y2))


def _unconditional(turn) -> bool:
    return not (turn.get("only_for") or turn.get("except") or turn.get("conditional"))


def _via_way_path(net: RoadNetwork, t, arc_osm: np.ndarray, way_row) -> tuple | str:
    """Road arcs of a via-way restriction (before any splitting): from arcs, via path, to arcs.

    Returns a ``not applied: ...`` text when the members do not form a drivable from -> via -> to chain.
    """
    if len(t.from_way) != 1 or len(t.to_way) != 1 or t.via_node:
        return "not applied: needs exactly one from way, one or more via ways and one to way"
    if any(w not in way_row.index for w in [t.from_way[0], t.to_way[0], *t.via_way]):
        return "not applied: from/via/to way is not a loaded road"
    on_via = np.flatnonzero(np.isin(arc_osm, np.asarray(t.via_way, np.int64)))
    f_arcs = np.flatnonzero(arc_osm == t.from_way[0])
    t_arcs = np.flatnonzero(arc_osm == t.to_way[0])
    # breadth-first search over the via ways' arcs, from the nodes the from way enters to those the
    # to way leaves: the fewest-arc chain is the via path (via ways meet end to end in valid relations)
    starts = set(net.arc_v[f_arcs].tolist()) & set(net.arc_u[on_via].tolist())
    ends = set(net.arc_u[t_arcs].tolist())
    out: dict[int, list] = {}
    for x in on_via:
        out.setdefault(int(net.arc_u[x]), []).append(int(x))
    prev, frontier, found = {n: None for n in starts}, list(starts), None
    while frontier and found is None:
        nxt = []
        for n in frontier:
            for x in out.get(n, []):
                m = int(net.arc_v[x])
                if m in prev:
                    continue
                prev[m] = x
                if m in ends:
                    found = m
                    break
                nxt.append(m)
            if found is not None:
                break
        frontier = nxt
    if found is None:
        return "not applied: from/via/to ways do not form a drivable chain (check directions)"
    path, n = [], found
    while prev[n] is not None:
        path.append(prev[n])
        n = int(net.arc_u[prev[n]])
    path = path[::-1]
    froms = [int(x) for x in f_arcs if net.arc_v[x] == n and x not in path]
    seen = set(net.ways["osmid"].to_numpy()[net.arc_way[path]].tolist())
    if not seen >= set(t.via_way):
        return "not applied: the via path does not use every via way"
    tos = [int(x) for x in t_arcs if net.arc_u[x] == found]
    return froms, path, tos


def _duplicate_via_path(net: RoadNetwork, row: int, kind: str, froms: list, path: list, tos: list) -> None:
    """Send each from arc into a private copy of the via path that lacks the forbidden exits.

    Works on the current (already split) graph, so restrictions sharing arcs compose: a second one
    duplicates the copies made by the first.  A conditional restriction keeps its exits, governed by
    ``arc_turn`` so that :func:`~gridtools.routing.restrictions.arc_rules` blocks them per request.
    Inside the copy a U-turn back along the via way is left out: it would rejoin the original via
    arcs and reach the forbidden exit anyway.
    """
    def ident(x):  # copies of a road arc share its segment and side
        return int(net.arc_seg[x]), bool(net.arc_back[x])

    last_base = int(net.node_base[net.arc_v[path[-1]]])
    allowed = {ident(x) for x in tos}
    u, v = net.arc_u, net.arc_v

    def out_of(n):
        return np.flatnonzero(u == n)

    def next_road(f):
        """The road arc a connector leads onto (itself for a road arc; None for an arrival)."""
        if net.arc_seg[f] >= 0:
            return ident(f)
        after = [g for g in out_of(v[f]) if net.arc_seg[g] >= 0]
        return ident(after[0]) if len(after) == 1 else None

    unconditional = _unconditional(net.turns.iloc[row])
    new = []  # (u, v, seg, back, turn)
    base, copies = list(net.node_base), []
    arc_v = net.arc_v.copy()
    for a in froms:
        # the walk a, [connector], via arc, [connector], via arc, ... on the current graph
        walk, node = [int(a)], int(v[a])
        for want in [ident(x) for x in path]:
            step = [g for g in out_of(node) if ident(g) == want]
            if not step:
                hop = [(c, g) for c in out_of(node) if net.arc_seg[c] < 0 for g in out_of(v[c]) if ident(g) == want]
                if not hop:
                    walk = None  # the chain is already impossible (e.g. a via-node ban): nothing to do
                    break
                walk.append(int(hop[0][0]))
                step = [hop[0][1]]
            walk.append(int(step[0]))
            node = int(v[step[0]])
        if walk is None:
            continue
        heads = [int(v[g]) for g in walk]
        twin = {}
        for h in heads:
            base.append(int(net.node_base[h]))
            copies.append(h)
            twin[h] = len(base) - 1
        arc_v[a] = twin[heads[0]]
        for i, h in enumerate(heads):
            for f in out_of(h):
                f = int(f)
                if i + 1 < len(heads) and f == walk[i + 1]:
                    new.append((twin[h], twin[heads[i + 1]], net.arc_seg[f], net.arc_back[f], net.arc_turn[f]))
                    continue
                turn = int(net.arc_turn[f])
                if i > 0 and net.arc_seg[walk[i]] >= 0 and next_road(f) == (int(net.arc_seg[walk[i]]),
                                                                            not net.arc_back[walk[i]]):
                    continue  # no U-turn on the via way inside the copy: it would lead back to the ban
                if i + 1 == len(heads):
                    road = next_road(f)
                    bad = road is not None and (road in allowed if kind.startswith("no_") else
                                                road not in allowed)
                    if bad and int(net.node_base[h]) == last_base:
                        if unconditional:
                            continue
                        turn = row
                new.append((twin[h], int(v[f]), net.arc_seg[f], net.arc_back[f], turn))
    if not copies:
        return
    idx = np.asarray(copies, np.int64)
    net.arc_v = arc_v
    if new:
        cols = list(zip(*new))
        net.arc_u = np.r_[net.arc_u, np.asarray(cols[0], np.int64)]
        net.arc_v = np.r_[net.arc_v, np.asarray(cols[1], np.int64)]
        net.arc_seg = np.r_[net.arc_seg, np.asarray(cols[2], np.int64)]
        net.arc_back = np.r_[net.arc_back, np.asarray(cols[3], bool)]
        net.arc_turn = np.r_[net.arc_turn, np.asarray(cols[4], np.int64)]
    n0 = len(net.node_depart)
    net.node_base = np.asarray(base, np.int64)
    net.node_depart = np.r_[net.node_depart, np.arange(n0, n0 + len(idx))]
    net.node_x, net.node_y = np.r_[net.node_x, net.node_x[idx]], np.r_[net.node_y, net.node_y[idx]]
    net.node_lon, net.node_lat = np.r_[net.node_lon, net.node_lon[idx]], np.r_[net.node_lat, net.node_lat[idx]]
    net.node_osmid = np.r_[net.node_osmid, net.node_osmid[idx]]
    net.forget_derived()
