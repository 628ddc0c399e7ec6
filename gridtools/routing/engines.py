"""Shortest-path engines behind :class:`gridtools.routing.Router`: one class per engine.

An :class:`Engine` belongs to one network and does its one-off work in :meth:`Engine.prepare`;
:meth:`Engine.customise` turns one weight vector (integer milliseconds per arc, :data:`INF` for a
blocked arc) into a :class:`Metric` that answers point-to-point and many-to-many queries.  The
router keeps one metric per (vehicle, conditions in force) and never asks which engine it has.

``cch`` (:class:`CCHEngine`)
    RoutingKit's *customizable* contraction hierarchy via ``pyroutingkit``.  The hierarchy's
    shape (nested-dissection order) depends only on the graph, so it is built once per network
    and saved next to the network's disk cache; each weight vector gets its own customisation:
    blocked arcs get infinite weight and the shortcuts are recomputed from the masked weights, so
    a restriction inside a shortcut can never leak into a route.
``dijkstra`` (:class:`DijkstraEngine`)
    SciPy's C Dijkstra on the masked graph: exact, nothing to prepare, slower per query.  The
    fallback without ``pyroutingkit``.
"""

from __future__ import annotations

import math
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
    """RoutingKit's customizable contraction hierarchy (needs ``pyroutingkit``).

    Examples
    --------
    >>> engine = CCHEngine(net)                                   # doctest: +SKIP
    >>> cost, arcs = engine.customise(weights).query(s, t)       # doctest: +SKIP
    """

    name = "cch"

    def __init__(self, network):
        super().__init__(network)
        self._topology = None

    def prepare(self) -> None:
        """Build the contraction order, or read it from the network's cache folder."""
        self.topology()

    def topology(self):
        """The network's ``pyroutingkit.CCHTopology`` (built once; saved with the network's cache)."""
        if self._topology is None:
            self._topology = self._load_topology() or self._build_topology()
        return self._topology

    def _folder(self):
        net = self.network
        return net.cache_path / "cch" if net.cache_path is not None else None

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

    def customise(self, weights: np.ndarray) -> CCHMetric:
        return CCHMetric(self.topology(), weights)


class CCHMetric(Metric):
    """One customisation of a contraction hierarchy."""

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
        ``auto``: CCH when ``pyroutingkit`` is installed, else SciPy Dijkstra (exact, slower).

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
        try:
            import pyroutingkit  # noqa: F401

            engine = "cch"
        except ImportError:
            engine = "dijkstra"
    return ENGINES[engine](network)
