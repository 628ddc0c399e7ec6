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

import numpy as np

from gridtools.errors import InputError
from gridtools.routing.compliance import FIX_FIELDS, compliance_of, match_fixes, route_line

#: Fixes before a batch matched again with it (their matches are replaced).
REVISE = 30
#: Fixes before those given to the matcher as context only (their matches are kept).
CONTEXT = 40
#: Bumped when the stored arrays change meaning: an older state is rebuilt, not misread.
STATE_VERSION = 1


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

    def __len__(self) -> int:
        return len(self.ms)

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

    def report(self, **options):
        """The :class:`~gridtools.routing.compliance.Compliance` report of the kept fixes (nothing is matched).

        Parameters
        ----------
        **options
            ``parking``, ``zones``, ``tolerance_m``, ``min_off_s``, ``stop_radius_m``, ``min_stop_s``
            as in :func:`gridtools.routing.check_route`.

        Raises
        ------
        InputError
            Fewer than 2 fixes.
        """
        if len(self) < 2:
            raise InputError(f"track has {len(self)} fix(es); at least 2 are needed")
        return compliance_of(self.route, {**self.fixes, "time": self.ms.astype("datetime64[ms]")}, **options)

    def fingerprint(self) -> np.ndarray:
        """What the kept matches depend on besides the fixes: version, route arcs, matcher settings."""
        arcs = np.asarray(self.route.arcs, np.int64)
        return np.r_[STATE_VERSION, len(arcs), int(arcs.sum()) if len(arcs) else 0, self.revise, self.context,
                     round(self.gps_sigma_m * 1000)].astype(np.int64)

    def to_bytes(self) -> bytes:
        """The state as bytes (numpy ``.npz``) for a store; :meth:`from_bytes` reads it back."""
        buf = io.BytesIO()
        arrays = {f"f_{k}": v for k, v in (self.fixes or {}).items()}
        np.savez(buf, fingerprint=self.fingerprint(), ms=self.ms, **arrays)
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
        except (ValueError, KeyError, OSError):
            return None
        if len(live.ms) and set(got) != set(FIX_FIELDS):
            return None
        live.fixes = got or None
        return live
