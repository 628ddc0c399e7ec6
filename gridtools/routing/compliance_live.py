"""Route compliance of a live track: each batch of new fixes is map-matched once, not the whole track again.

A driver's app posts its GPS fixes in batches while the truck drives.  Matching the whole track
again on every batch (:func:`gridtools.routing.check_route`) costs the square of the trip's
fixes; :class:`LiveCheck` keeps every fix's match and matches only

* the new fixes,
* the last :data:`REVISE` fixes before them again (they were matched without the fixes that
  follow them; the hidden Markov model decides a fix better once it sees where the truck went
  next), and
* :data:`CONTEXT` fixes before those as context only (their matches are kept as they were; they
  give the Viterbi its start, so the fixes from the seam on are decided as a match of the whole
  track decides them).

A batch that arrives late (fixes older than the last one kept) is matched from its first fix on
in the same way, with everything after it.  The report (:meth:`LiveCheck.report`) sums the kept
per-fix matches (share on the route, off-route stretches, stops, parking, zones) without matching
anything; it is the report :func:`check_route` gives for the whole track, up to the rare fix whose
match a whole-track Viterbi would still change more than :data:`REVISE` fixes later.

The state is plain numpy arrays; :meth:`LiveCheck.to_bytes` / :meth:`LiveCheck.from_bytes` store
it (the dispatch store keeps it per trip, so a restart carries on where it stopped).

Examples
--------
>>> live = LiveCheck(route)                                   # doctest: +SKIP
>>> live.update(ms, lon, lat)       # a batch: times (ms since 1970, UTC), lon/lat WGS-84  # doctest: +SKIP
>>> live.report(parking=bay).summary                          # doctest: +SKIP
"""

from __future__ import annotations

import io
import json

import numpy as np
import pandas as pd

from gridtools.errors import InputError
from gridtools.routing.compliance import FIX_FIELDS, compliance_of, match_fixes, route_line

#: Fixes before a batch matched again with it (their matches are replaced).
REVISE = 30
#: Fixes before those given to the matcher as context only (their matches are kept).
CONTEXT = 40
#: Seconds on each side of a freeze point in which the truck drives on its route (see :meth:`LiveCheck.report`).
FREEZE_MARGIN_S = 60.0
#: A freeze point is moved on only when this many fixes can be summed up behind it.
FREEZE_STEP = 200
#: Bumped when the stored arrays change meaning: an older state is rebuilt, not misread.
STATE_VERSION = 2


class LiveCheck:
    """The kept per-fix matches of one trip's track, updated batch by batch.

    Parameters
    ----------
    route : Route
        The trip's assigned route.
    gps_sigma_m : float
        GPS error of the map matcher (as in :func:`gridtools.routing.check_route`).
    revise, context : int
        Fixes matched again / given as context before each batch (:data:`REVISE`, :data:`CONTEXT`).

    Attributes
    ----------
    ms : numpy.ndarray
        Time of every kept fix, milliseconds since 1970 (UTC), in time order.
    fixes : dict
        The per-fix arrays of :func:`gridtools.routing.compliance.match_fixes`.
    matched_last : int
        Fixes the last :meth:`update` put through the matcher (the work it did).

    Examples
    --------
    >>> live = LiveCheck(route)                               # doctest: +SKIP
    >>> live.update([1_700_000_000_000, 1_700_000_001_000], [121.48, 121.4801], [31.23, 31.23])  # doctest: +SKIP
    2
    """

    def __init__(self, route, *, gps_sigma_m: float = 10.0, revise: int = REVISE, context: int = CONTEXT):
        self.route = route
        self.gps_sigma_m = float(gps_sigma_m)
        self.revise, self.context = int(revise), int(context)
        self.ms = np.zeros(0, np.int64)
        self.fixes = None
        self.matched_last = 0
        self._line = route_line(route)
        #: Figures of the fixes before the freeze point: summed up once, their arrays dropped.
        self.frozen = {"dropped": 0, "context": 0, "on_m": 0.0, "total_m": 0.0, "off_route": [], "stops": []}

    def __len__(self) -> int:
        """Fixes of the whole track (frozen ones included)."""
        return self.frozen["dropped"] + len(self.ms)

    def covers(self, first_ms: int) -> bool:
        """Whether a batch whose first new fix is stamped ``first_ms`` can be put in without matching
        the whole track again (it is not older than the fixes kept as the matcher's context)."""
        if not (self.frozen["dropped"] or self.frozen["context"]):
            return True
        first = int(np.searchsorted(self.ms, first_ms, "left"))
        return first - self.revise - self.context >= self.frozen["context"]

    def update(self, ms, lon, lat) -> int:
        """Put fixes in: every kept fix from the first of these on is replaced by them.

        Parameters
        ----------
        ms : array-like of int
            Times in milliseconds since 1970 (UTC), in time order: the new fixes and every fix
            kept after the first of them (what the store holds from that time on).
        lon, lat : array-like
            WGS-84.

        Returns
        -------
        int
            Fixes put through the matcher (new ones plus the overlap).
        """
        ms = np.asarray(ms, np.int64)
        if not len(ms):
            self.matched_last = 0
            return 0
        if len(ms) > 1 and np.any(np.diff(ms) < 0):
            raise InputError("LiveCheck.update: fixes must be in time order")
        if not self.covers(int(ms[0])):
            raise InputError("LiveCheck.update: the batch is older than the kept fixes; match the whole track again")
        first = int(np.searchsorted(self.ms, ms[0], "left"))
        keep = max(0, first - self.revise)   # kept fixes [0, keep); replaced from keep on
        start = max(0, keep - self.context)  # the matcher sees [start, ...); [start, keep) as context
        w_ms = np.r_[self.ms[start:first], ms]
        w_lon = np.r_[self.fixes["lon"][start:first], lon] if self.fixes else np.asarray(lon, float)
        w_lat = np.r_[self.fixes["lat"][start:first], lat] if self.fixes else np.asarray(lat, float)
        got = match_fixes(self.route, w_lon, w_lat, (w_ms - w_ms[0]) / 1000.0, gps_sigma_m=self.gps_sigma_m,
                          line=self._line)
        cut = keep - start
        if self.fixes is None:
            self.fixes = {k: v[cut:] for k, v in got.items()}
        else:
            self.fixes = {k: np.r_[self.fixes[k][:keep], got[k][cut:]] for k in FIX_FIELDS}
        self.ms = np.r_[self.ms[:keep], w_ms[cut:]]
        self.matched_last = len(w_ms)
        return self.matched_last

    def report(self, *, parking=None, tolerance_m: float = 35.0, min_off_s: float = 15.0,
               stop_radius_m: float = 30.0, min_stop_s: float = 120.0):
        """The :class:`~gridtools.routing.compliance.Compliance` report of the track (nothing is matched).

        The fixes behind the freeze point are summed up already (share, stretches, stops); the
        rest are summed up now, so a report costs the same at the trip's 500th fix and its
        20,000th.  A freeze point is a fix around which the truck drove on its route and kept
        moving for :data:`FREEZE_MARGIN_S` on either side (no stretch, stop or smoothing window
        reaches across it), before the fixes the next batch may revise; the report then moves it
        on.  ``points`` of the result holds the fixes after the freeze point only
        (``total_fixes`` counts all).  The options must be the same on every call (the service's
        defaults); zones are not judged here (:func:`gridtools.routing.check_route` does).

        Parameters
        ----------
        parking, tolerance_m, min_off_s, stop_radius_m, min_stop_s
            As in :func:`gridtools.routing.check_route`.

        Raises
        ------
        InputError
            Fewer than 2 fixes.
        """
        from gridtools.routing.compliance import Compliance

        if len(self) < 2:
            raise InputError(f"track has {len(self)} fix(es); at least 2 are needed")
        options = {"parking": parking, "tolerance_m": tolerance_m, "min_off_s": min_off_s,
                   "stop_radius_m": stop_radius_m, "min_stop_s": min_stop_s}
        tail = compliance_of(self.route, {**self.fixes, "time": self.ms.astype("datetime64[ms]")}, **options)
        if len(self.ms) - self.frozen["context"] >= FREEZE_STEP + self.revise + self.context:
            self._freeze(tail, stop_radius_m)
            tail = compliance_of(self.route, {**self.fixes, "time": self.ms.astype("datetime64[ms]")}, **options)
        ctx = self.frozen["context"]
        on_m, total_m = self._sums(tail, ctx, len(self.ms))
        on_m, total_m = on_m + self.frozen["on_m"], total_m + self.frozen["total_m"]
        start = np.datetime64(int(self.ms[ctx]), "ms") if ctx else None
        off = self.frozen["off_route"] + [o for o in tail.off_route if start is None or o["start"] >= start]
        stops = self.frozen["stops"] + [st for st in tail.stops if start is None or st["start"] >= start]
        share = float(np.clip(on_m / total_m, 0, 1)) if total_m > 0 else float(not off)
        parked = None if parking is None else (bool(stops[-1]["in_parking"]) if stops else False)
        return Compliance(share, off, [], stops, parked, tail.points.iloc[ctx:].reset_index(drop=True),
                          total_fixes=len(self))

    def _sums(self, report, lo: int, hi: int) -> tuple[float, float]:
        """Metres driven on the route and in all, over the steps into kept fixes ``lo`` .. ``hi - 1``."""
        off = report.points["off_route"].to_numpy()
        step = self.fixes["step"]
        on = np.r_[False, ~off[1:] & ~off[:-1]]
        lo = max(lo, 1)
        return float(step[lo:hi][on[lo:hi]].sum()), float(step[lo:hi].sum())

    def _freeze(self, tail, radius_m: float) -> None:
        """Sum up the fixes before the latest freeze point and drop their arrays (see :meth:`report`)."""
        secs = (self.ms - self.ms[0]) / 1000.0
        n, ctx = len(self.ms), self.frozen["context"]
        last = n - self.revise - self.context - 1  # fixes the next batches may still change come after
        until = secs[last] - FREEZE_MARGIN_S - 30.0
        off = tail.points["off_route"].to_numpy()
        x, y = self.fixes["x"], self.fixes["y"]
        ahead = np.minimum(np.searchsorted(secs, secs + 30.0), n - 1)
        moving = (np.hypot(x[ahead] - x, y[ahead] - y) >= 3 * radius_m) & (secs[ahead] - secs >= 15.0)
        bad = off | (~moving & ~self.fixes["outlier"])
        for st in tail.stops:
            a, b = np.searchsorted(self.ms, [st["start"].value // 10**6, st["end"].value // 10**6])
            bad[a:b + 1] = True
        # the latest fix with nothing bad within the margin (+30 s for the look-ahead above) on either side
        window = FREEZE_MARGIN_S + 30.0
        candidates = np.flatnonzero((secs <= until) & (secs >= secs[ctx] + window) & ~bad)
        if not len(candidates):
            return
        bad_at = secs[bad]
        for k in candidates[::-1]:
            if k - ctx < FREEZE_STEP:
                return
            lo, hi = np.searchsorted(bad_at, [secs[k] - window, secs[k] + window])
            if lo == hi:
                break
        else:
            return
        on_m, total_m = self._sums(tail, ctx, k)
        start = np.datetime64(int(self.ms[ctx]), "ms") if ctx else None
        end = np.datetime64(int(self.ms[k]), "ms")
        fr = self.frozen
        fr["on_m"] += on_m
        fr["total_m"] += total_m
        fr["off_route"] += [o for o in tail.off_route if (start is None or o["start"] >= start) and o["start"] < end]
        fr["stops"] += [st for st in tail.stops if (start is None or st["start"] >= start) and st["start"] < end]
        # keep FREEZE_MARGIN_S of fixes before the freeze point as context of the next sums
        keep_from = int(np.searchsorted(secs, secs[k] - FREEZE_MARGIN_S, "left"))
        keep_from = min(keep_from, k - 1)
        fr["dropped"] += int(keep_from)
        fr["context"] = int(k - keep_from)
        self.ms = self.ms[keep_from:]
        self.fixes = {key: v[keep_from:] for key, v in self.fixes.items()}

    def fingerprint(self) -> np.ndarray:
        """What the kept matches depend on besides the fixes: version, route arcs, matcher settings."""
        arcs = np.asarray(self.route.arcs, np.int64)
        return np.r_[STATE_VERSION, len(arcs), int(arcs.sum()) if len(arcs) else 0, self.revise, self.context,
                     round(self.gps_sigma_m * 1000)].astype(np.int64)

    def to_bytes(self) -> bytes:
        """The state as bytes (numpy ``.npz``) for a store; :meth:`from_bytes` reads it back."""
        buf = io.BytesIO()
        arrays = {f"f_{k}": v for k, v in (self.fixes or {}).items()}
        frozen = json.dumps({**self.frozen, "off_route": _stamps(self.frozen["off_route"], str),
                             "stops": _stamps(self.frozen["stops"], str)}, default=float)
        np.savez(buf, fingerprint=self.fingerprint(), ms=self.ms, frozen=np.frombuffer(frozen.encode(), np.uint8),
                 **arrays)
        return buf.getvalue()

    @classmethod
    def from_bytes(cls, route, data: bytes, **options) -> "LiveCheck | None":
        """A state stored by :meth:`to_bytes`; None when it does not fit ``route`` and the options
        (another version, route or matcher settings: rebuild it from the fixes).

        Examples
        --------
        >>> again = LiveCheck.from_bytes(route, live.to_bytes())   # doctest: +SKIP
        >>> len(again) == len(live)                                 # doctest: +SKIP
        True
        """
        live = cls(route, **options)
        try:
            with np.load(io.BytesIO(bytes(data)), allow_pickle=False) as z:
                if not np.array_equal(z["fingerprint"], live.fingerprint()):
                    return None
                live.ms = z["ms"]
                got = {k[2:]: z[k] for k in z.files if k.startswith("f_")}
                frozen = json.loads(z["frozen"].tobytes().decode())
        except (ValueError, KeyError, OSError, UnicodeDecodeError):
            return None
        if len(live.ms) and set(got) != set(FIX_FIELDS):
            return None
        live.fixes = got or None
        live.frozen = {**frozen, "off_route": _stamps(frozen["off_route"], pd.Timestamp),
                       "stops": _stamps(frozen["stops"], pd.Timestamp)}
        return live


def _stamps(rows: list, convert) -> list:
    """Stretches or stops with their ``start`` / ``end`` converted (Timestamp <-> str for storing)."""
    return [{k: convert(v) if k in ("start", "end") else v for k, v in r.items()} for r in rows]
