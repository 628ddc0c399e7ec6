"""Shortest-path engines behind :class:`gridtools.routing.Router`: one class per engine.

An :class:`Engine` belongs to one network and does its one-off work in :meth:`Engine.prepare`;
:meth:`Engine.customise` turns one weight vector (integer milliseconds per arc, :data:`INF` for a
blocked arc) into a :class:`Metric` that answers point-to-point and many-to-many queries.  The
router keeps one metric per (vehicle, conditions in force) and never asks which engine it has.

``cch`` (:class:`CCHEngine`)
    RoutingKit's *customizable* contraction hierarchy.  The hierarchy's shape (nested-dissection
    order) depends only on the graph, so it is built once per network and saved next to the
    network's disk cache; each weight vector gets its own customisation: blocked arcs get
    infinite weight and the shortcuts are recomputed from the masked weights, so a restriction
    inside a shortcut can never leak into a route.  Two bindings of the same C++ library:
    ``routingkit-cch`` (preferred) exposes RoutingKit's multi-source / multi-target query with
    start and end offsets, so a route between two points part-way along roads is *one* search
    seeded with both directions of the origin's road and ending on both directions of the
    destination's road (OSRM's phantom nodes); ``pyroutingkit`` (the fallback) answers the same
    question with a small many-to-many table and a path query.
``dijkstra`` (:class:`DijkstraEngine`)
    SciPy's C Dijkstra on the masked graph: exact, nothing to prepare, slower per query.  The
    fallback without ``pyroutingkit``.
"""

from __future__ import annotations

import math
import threading
from abc import ABC, abstractmethod

import numpy as np

from gridtools.errors import InputError

INF = 2147483647  # RoutingKit's inf_weight: the weight of a blocked arc


class Metric(ABC):
    """Shortest paths under one weight vector.

    Attributes
    ----------
    weights : numpy.ndarray
        Weight of every arc of the network (:data:`INF`: blocked).
    """

    weights: np.ndarray

    @abstractmethod
    def query(self, source: int, target: int) -> tuple[float, np.ndarray]:
        """Cost and arcs of the cheapest path ``source`` -> ``target`` (graph nodes).

        Returns ``(inf, empty)`` when ``target`` cannot be reached, ``(0, empty)`` when
        ``source == target``.
        """

    @abstractmethod
    def many_to_many(self, sources: np.ndarray, targets: np.ndarray) -> np.ndarray:
        """Costs from every source (rows) to every target (columns); ``inf`` where unreachable."""

    def query_multi(self, sources: list, targets: list) -> tuple[float, np.ndarray, int, int]:
        """Cheapest path from any of several sources to any of several targets, with offsets.

        Parameters
        ----------
        sources, targets : list of (node, cost)
            Graph nodes with the cost already paid before the source (the part of the origin's
            road driven to reach it) or still to pay after the target; distinct nodes.

        Returns
        -------
        tuple
            ``(cost, arcs, i, j)``: the total cost including both offsets (``inf`` when no target
            can be reached), the arcs between the chosen source ``sources[i]`` and target
            ``targets[j]`` (``i``, ``j`` are -1 when nothing is reachable).

        Examples
        --------
        >>> cost, arcs, i, j = metric.query_multi([(4, 120), (5, 30)], [(9, 0)])   # doctest: +SKIP
        """
        # generic: a small table, then the one path (engines with a native search override this)
        src = np.array([s for s, _ in sources], np.int64)
        dst = np.array([t for t, _ in targets], np.int64)
        if len(src) * len(dst) == 1:
            between = np.array([[self.query(int(src[0]), int(dst[0]))[0]]])
        else:
            between = self.many_to_many(src, dst)
        total = (np.array([c for _, c in sources], float)[:, None] + between
                 + np.array([c for _, c in targets], float)[None, :])
        i, j = np.unravel_index(int(np.argmin(total)), total.shape)
        if not np.isfinite(total[i, j]):
            return math.inf, np.zeros(0, np.int64), -1, -1
        _, arcs = self.query(int(src[i]), int(dst[j]))
        return float(total[i, j]), arcs, int(i), int(j)


class Engine(ABC):
    """A shortest-path engine for one network.

    Parameters
    ----------
    network : RoadNetwork
    """

    #: Name of the engine in ``Router(engine=...)``.
    name: str = ""

    def __init__(self, network):
        self.network = network

    def prepare(self) -> None:
        """Do the engine's one-off work now instead of at the first query (nothing by default)."""

    @abstractmethod
    def customise(self, weights: np.ndarray) -> Metric:
        """A :class:`Metric` for ``weights`` (one per arc, :data:`INF` blocked)."""


# --------------------------------------------------------------------------------------------
# customizable contraction hierarchy (RoutingKit)


class CCHEngine(Engine):
    """RoutingKit's customizable contraction hierarchy (``routingkit-cch``, else ``pyroutingkit``).

    Examples
    --------
    >>> engine = CCHEngine(net)                                   # doctest: +SKIP
    >>> cost, arcs = engine.customise(weights).query(s, t)       # doctest: +SKIP
    """

    name = "cch"

    def __init__(self, network, binding: str | None = None):
        super().__init__(network)
        self._topology = None
        #: ``routingkit_cch`` or ``pyroutingkit`` (default: the first one installed)
        self.binding = binding or cch_binding()

    def prepare(self) -> None:
        """Build the contraction order, or read it from the network's cache folder."""
        self.topology()

    def topology(self):
        """The network's hierarchy (built once; its order is saved with the network's cache)."""
        if self._topology is None:
            if self.binding == "routingkit_cch":
                self._topology = self._routingkit_cch()
            else:
                self._topology = self._load_topology() or self._build_topology()
        return self._topology

    def _folder(self):
        net = self.network
        return net.cache_path / "cch" if net.cache_path is not None else None

    def _routingkit_cch(self):
        """``routingkit_cch.CCH`` from the cached nested-dissection order (computed and saved if absent)."""
        import routingkit_cch as rk

        net, folder = self.network, self._folder()
        order = None
        # the order file is RoutingKit's raw uint32 vector: the same file pyroutingkit saves
        if folder is not None and (folder / "order").exists():
            order = np.fromfile(folder / "order", dtype=np.uint32)
            if len(order) != net.n_nodes:
                order = None
        if order is None:
            order = np.asarray(rk.compute_order_inertial(
                net.n_nodes, net.arc_u.astype(np.uint32).tolist(), net.arc_v.astype(np.uint32).tolist(),
                net.node_lat.astype(np.float32).tolist(), net.node_lon.astype(np.float32).tolist()), np.uint32)
            if folder is not None:
                try:
                    folder.mkdir(parents=True, exist_ok=True)
                    order.tofile(folder / "order")
                    (folder / "node_count").write_bytes(np.uint32(net.n_nodes).tobytes())
                except OSError:  # a read-only cache only costs a rebuild next time
                    pass
        return rk.CCH(order.tolist(), net.arc_u.astype(np.uint32).tolist(), net.arc_v.astype(np.uint32).tolist(),
                      False)

    def _load_topology(self):
        from pyroutingkit import CCHTopology

        folder, net = self._folder(), self.network
        if folder is None or not (folder / "order").exists():
            return None
        topo = CCHTopology()
        try:
            topo.load(str(folder))
        except Exception:  # rebuilt by the caller
            return None
        return topo if topo.node_count == net.n_nodes and topo.arc_count == net.n_arcs else None

    def _build_topology(self):
        from pyroutingkit import CCHTopology

        net, folder = self.network, self._folder()
        topo = CCHTopology()
        topo.build(net.arc_u.astype(np.uint32), net.arc_v.astype(np.uint32), net.node_lat.astype(np.float32),
                   net.node_lon.astype(np.float32), net.n_nodes)
        if folder is not None:
            try:
                folder.mkdir(parents=True, exist_ok=True)
                topo.save(str(folder))
            except Exception:  # a read-only cache only costs a rebuild next time
                pass
        return topo

    def customise(self, weights: np.ndarray) -> Metric:
        if self.binding == "routingkit_cch":
            return PhantomCCHMetric(self.topology(), weights, self.network.arc_u, self.network.arc_v)
        return CCHMetric(self.topology(), weights)


def cch_binding() -> str | None:
    """Which RoutingKit binding is installed: ``routingkit_cch``, ``pyroutingkit`` or None."""
    for module in ("routingkit_cch", "pyroutingkit"):
        try:
            __import__(module)
            return module
        except ImportError:
            continue
    return None


class CCHMetric(Metric):
    """One customisation of a contraction hierarchy (``pyroutingkit``)."""

    def __init__(self, topology, weights: np.ndarray):
        from pyroutingkit import CCHMetric as RoutingKitMetric

        self.weights = weights
        self._cch = RoutingKitMetric(topology)
        self._cch.customize(weights.astype(np.uint32))

    def query(self, source: int, target: int) -> tuple[float, np.ndarray]:
        if source == target:
            return 0.0, np.zeros(0, np.int64)
        dist, _, arcs = self._cch.query(int(source), int(target))
        if dist is None or dist >= INF or (not len(arcs)):
            return math.inf, np.zeros(0, np.int64)
        return float(dist), np.asarray(arcs, np.int64)

    def many_to_many(self, sources: np.ndarray, targets: np.ndarray) -> np.ndarray:
        m = self._cch.distances_many_to_many(sources.astype(np.uint32), targets.astype(np.uint32))
        m = np.asarray(m, dtype=float)
        m[m >= INF] = np.inf
        return m


class PhantomCCHMetric(Metric):
    """One customisation of a contraction hierarchy (``routingkit-cch``), with multi-source queries.

    RoutingKit's query objects keep per-search state and belong to the thread that made them, so
    every thread gets its own (the customised weights themselves are shared read-only).
    """

    def __init__(self, cch, weights: np.ndarray, tail: np.ndarray, head: np.ndarray):
        import routingkit_cch as rk

        self.weights = weights
        self._tail, self._head = tail, head
        self._rk = rk
        self._metric = rk.CCHMetric(cch, weights.astype(np.uint32).tolist())
        self._local = threading.local()

    def _search(self):
        q = getattr(self._local, "query", None)
        if q is None:
            q = self._local.query = self._rk.CCHQuery(self._metric)
        return q

    def query(self, source: int, target: int) -> tuple[float, np.ndarray]:
        if source == target:
            return 0.0, np.zeros(0, np.int64)
        cost, arcs, _, _ = self.query_multi([(source, 0)], [(target, 0)])
        return cost, arcs

    def query_multi(self, sources: list, targets: list) -> tuple[float, np.ndarray, int, int]:
        result = self._search().run_multi([(int(s), int(c)) for s, c in sources],
                                          [(int(t), int(c)) for t, c in targets])
        try:  # RoutingKit allows one live result per query object: read it and let it go
            dist = result.distance
            if dist is None or dist >= INF:
                return math.inf, np.zeros(0, np.int64), -1, -1
            arcs = np.asarray(result.arc_path, np.int64)  # unpacking the node path too would cost as much again
        finally:
            del result
        if len(arcs):  # the chosen ends are where the path starts and stops
            first, last = int(self._tail[arcs[0]]), int(self._head[arcs[-1]])
            i = next(k for k, (s, _) in enumerate(sources) if s == first)
            j = next(k for k, (t, _) in enumerate(targets) if t == last)
        else:  # a source that is also a target: the cheapest such meeting
            here = {t: (k, c) for k, (t, c) in enumerate(targets)}
            i, j = min(((k, here[s][0]) for k, (s, c) in enumerate(sources) if s in here),
                       key=lambda kj: sources[kj[0]][1] + targets[kj[1]][1])
        return float(dist), arcs, i, j

    def many_to_many(self, sources: np.ndarray, targets: np.ndarray) -> np.ndarray:
        uniq, inv = np.unique(np.asarray(sources, np.int64), return_inverse=True)
        table = self._rk.CCHOneToMany(self._metric, np.asarray(targets, np.uint32).tolist())
        try:
            rows = [table.distances_from(int(s)) for s in uniq]
        finally:
            del table
        m = np.array(rows, float).reshape(len(uniq), -1)  # None (unreachable) reads as nan
        m[np.isnan(m) | (m >= INF)] = np.inf
        return m[inv]


# --------------------------------------------------------------------------------------------
# Dijkstra (SciPy)


class DijkstraEngine(Engine):
    """SciPy's Dijkstra on the graph without blocked arcs: exact, no preparation.

    Examples
    --------
    >>> metric = DijkstraEngine(net).customise(weights)           # doctest: +SKIP
    >>> cost, arcs = metric.query(int(net.node_depart[s]), t)     # doctest: +SKIP
    """

    name = "dijkstra"

    def customise(self, weights: np.ndarray) -> DijkstraMetric:
        return DijkstraMetric(self.network, weights)


class DijkstraMetric(Metric):
    """A sparse matrix of the usable arcs (the cheapest of parallel arcs) for SciPy's Dijkstra.

    ``weights`` may be integer (:data:`INF` blocked) or float (``inf`` or :data:`INF` blocked).
    """

    def __init__(self, network, weights: np.ndarray):
        from scipy.sparse import csr_matrix

        self.weights = weights
        net = network
        ok = weights < INF
        u, v, w, a = net.arc_u[ok], net.arc_v[ok], weights[ok].astype(float), np.flatnonzero(ok)
        # parallel arcs: keep the cheapest, remember which arc it was
        order = np.lexsort((w, v, u))
        u, v, w, a = u[order], v[order], w[order], a[order]
        first = np.r_[True, (u[1:] != u[:-1]) | (v[1:] != v[:-1])]
        u, v, w, a = u[first], v[first], w[first], a[first]
        n = net.n_nodes
        self.matrix = csr_matrix((w, (u, v)), shape=(n, n))
        self.pair_key = u.astype(np.int64) * n + v
        self.pair_arc = a

    def query(self, source: int, target: int) -> tuple[float, np.ndarray]:
        from scipy.sparse.csgraph import dijkstra

        if source == target:
            return 0.0, np.zeros(0, np.int64)
        dist, pred = dijkstra(self.matrix, indices=int(source), return_predecessors=True)
        if not np.isfinite(dist[target]):
            return math.inf, np.zeros(0, np.int64)
        nodes = [int(target)]
        while nodes[-1] != source:
            nodes.append(int(pred[nodes[-1]]))
        nodes = np.asarray(nodes[::-1], np.int64)
        keys = nodes[:-1] * self.matrix.shape[0] + nodes[1:]
        return float(dist[target]), self.pair_arc[np.searchsorted(self.pair_key, keys)]

    def many_to_many(self, sources: np.ndarray, targets: np.ndarray) -> np.ndarray:
        from scipy.sparse.csgraph import dijkstra

        uniq, inv = np.unique(sources, return_inverse=True)
        d = dijkstra(self.matrix, indices=uniq)
        return d[inv][:, targets]


#: Engines by their name in ``Router(engine=...)``.
ENGINES = {"cch": CCHEngine, "dijkstra": DijkstraEngine}


def engine_for(network, engine: str = "auto") -> Engine:
    """The engine called ``engine`` for ``network``.

    Parameters
    ----------
    network : RoadNetwork
    engine : {"auto", "cch", "dijkstra"}
        ``auto``: CCH when ``routingkit-cch`` or ``pyroutingkit`` is installed, else SciPy
        Dijkstra (exact, slower).

    Returns
    -------
    Engine

    Raises
    ------
    InputError
        An unknown engine name.

    Examples
    --------
    >>> engine_for(net, "dijkstra").name                          # doctest: +SKIP
    'dijkstra'
    """
    if engine not in ("auto", *ENGINES):
        raise InputError(f"engine must be auto, cch or dijkstra, got {engine!r}")
    if engine == "auto":
        engine = "cch" if cch_binding() else "dijkstra"
    return ENGINES[engine](network)
