"""The wording of the router's warnings and refusals, in one place.

Each function turns what the router found (snaps, blocking restrictions, districts) into the sentence a
user reads; none of them searches the network.  Keeping them together keeps the texts consistent
(a road is always ``way 123 (Main Street)``, a distance always whole metres with thousands separators).
"""

from __future__ import annotations


def road_label(network, seg: int) -> str:
    """``"way 123 (Main Street)"`` for a segment of ``network``.

    Examples
    --------
    >>> road_label(net, 0)                                                # doctest: +SKIP
    'way 24336604 (Unioninkatu)'
    """
    way = int(network.seg_way[seg])
    name = network.way_name[way]
    return f"way {int(network.way_osmid[way])}" + (f" ({name})" if isinstance(name, str) and name else "")


def resnap_warning(network, role: str, old, new, max_snap_m: float, max_resnap_m: float) -> str:
    """Why a point was snapped past its nearest road (``old``): that road does not connect; ``new`` does."""
    was, now = (road_label(network, int(s.seg[0])) for s in (old, new))
    beyond = (f" (beyond the {max_snap_m:,.0f} m snapping limit: nothing nearer connects; searched up to "
              f"{max_resnap_m:,.0f} m, settings.route_max_resnap_m)") if new.distance_m[0] > max_snap_m else ""
    return (f"the {role}'s nearest road ({old.distance_m[0]:,.0f} m, {was}) does not connect to the other end; "
            f"snapped {new.distance_m[0]:,.0f} m onto {now}, the nearest one that does{beyond}")


def district_note(network, snaps, pinned, alternative, min_reach_nodes: int) -> str:
    """Sentences for the points of a refused route kept in a closed district (``pinned``, per point).

    ``alternative``: the (origin, destination) snaps the route would use if points could leave their
    districts, or None; the road that would connect is named where it differs.
    """
    parts = []
    for i, role in enumerate(("origin", "destination")):
        if not pinned[i]:
            continue
        snap = snaps[i]
        way = "leave" if role == "origin" else "enter"
        text = (f"; the {role} (snapped {snap.distance_m[0]:,.0f} m onto {road_label(network, int(snap.seg[0]))}) "
                f"lies in streets this vehicle may drive but not {way} ({min_reach_nodes} or more junctions, "
                "none joined to the rest of its network), so it was not moved onto another road")
        if alternative is not None and alternative[i].seg[0] != snap.seg[0]:
            text += (f" (the nearest road that connects is {road_label(network, int(alternative[i].seg[0]))}, "
                     f"{alternative[i].distance_m[0]:,.0f} m away; pass min_reach_nodes=0 to snap onto it)")
        parts.append(text)
    return "".join(parts)


def no_route(origin, destination, vehicle, at, avoided: list, max_snap_m: float) -> str:
    """The head of a :class:`~gridtools.routing.NoRouteError`: who could not go where, and what blocks it."""
    who = (f"{vehicle.name or vehicle.kind} ({vehicle.weight_t:g} t, {vehicle.height_m:g} m high, "
           f"{vehicle.width_m:g} m wide, {vehicle.length_m:g} m long)")
    head = (f"no legal route for {who} from ({float(origin[0]):.6f}, {float(origin[1]):.6f}) "
            f"to ({float(destination[0]):.6f}, {float(destination[1]):.6f})")
    if not avoided:
        return head + (": the roads this vehicle may use near the two points (within "
                       f"{max_snap_m:,.0f} m) are not connected, even ignoring restrictions along the way")
    parts = []
    for item in avoided[:5]:
        where = f"way {item['osmid']}" + (f" ({item['name']})" if item["name"] else "") if item["osmid"] else ""
        parts.append(f"{item['why']}{' on ' + where if where else ''}")
    more = f" (and {len(avoided) - 5} more)" if len(avoided) > 5 else ""
    when = "" if at else "; no departure time was given, so time-limited bans count as in force (pass at=...)"
    return head + ": the fastest route ignoring restrictions is blocked by " + "; ".join(parts) + more + when


def too_far(network, lonlat, usable_m: float, max_snap_m: float, role: str, closed: str | None) -> str:
    """Why a point cannot be snapped: how far the nearest usable road is, and the nearer ``closed`` one."""
    lon0, lat0 = network.node_lon.min(), network.node_lat.min()
    lon1, lat1 = network.node_lon.max(), network.node_lat.max()
    head = f"{role} ({lonlat[0]:.6f}, {lonlat[1]:.6f})"
    usable = (f"{usable_m:,.0f} m from the nearest road usable by this vehicle" if usable_m < float("inf")
              else "far from every road: no road of the network is usable by this vehicle")
    tail = (f" (limit {max_snap_m:,.0f} m, settings.route_max_snap_m or Router(max_snap_m=...)); the network "
            f"({network.source or 'loaded'}) covers lon {lon0:.4f}..{lon1:.4f}, lat {lat0:.4f}..{lat1:.4f}.")
    if closed:
        return (f"{head} is {closed}, and {usable}{tail} Check the point (LON,LAT order), the vehicle, or load a "
                "larger network.")
    return f"{head} is {usable}{tail} Check the point (LON,LAT order) or load a larger network."
