"""Grid levels: merge grids into areas (:func:`aggregate`) and keep levels together (:class:`GridHierarchy`).

Planners run several nested levels: Suzhou has 105 / 2,038 / 8,162 / 4,341 grids at four levels,
Wuxing merged its 538 grids into 46 areas "by population and geography".  :func:`aggregate` does
the merge on the public partition machinery: the grids become the units of a second partition,
cut either into a population band (``min_pop`` / ``max_pop``) or into a given number of areas
(``n_areas``), nested in a ``within`` column when given; grids are never split and every area is
contiguous.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import geopandas as gpd
import numpy as np
import pandas as pd

from gridtools import settings
from gridtools.crs import to_metric
from gridtools.errors import InputError
from gridtools.grids.balance import Band, PieceGraph, make_contiguous, metis_labels, repair, tree_split
from gridtools.grids.codes import CodeLayout, check_prefix, parent_codes, serials_in_reading_order
from gridtools.grids.core import partition
from gridtools.grids.graph import build_unit_graph, link_islands
from gridtools.grids.pieces import piece_graph
from gridtools.grids.units import check_units, measure_grids

__all__ = ["AggregateResult", "GridHierarchy", "aggregate"]

#: With ``n_areas``, areas may differ from the mean area population by this share.
_COUNT_TOLERANCE = 0.25


@dataclass
class AggregateResult:
    """What :func:`aggregate` returns.

    Attributes
    ----------
    areas : geopandas.GeoDataFrame
        One row per area: ``area_code``, ``population``, ``n_grids``, ``in_band``, ``polsby_popper``,
        ``piece`` (the ``within`` value) and geometry.
    grids : geopandas.GeoDataFrame
        Every input grid, unchanged, plus ``area_code``.
    summary : dict
        ``n_grids``, ``n_areas``, ``areas_in_band``, ``all_contiguous``, the band used.
    """

    areas: gpd.GeoDataFrame
    grids: gpd.GeoDataFrame
    summary: dict = field(default_factory=dict)

    def summary_lines(self) -> list[str]:
        """Human-readable summary, one fact per line."""
        s = self.summary
        return [f"grids: {s['n_grids']:,}  areas: {s['n_areas']:,}  band: {s['min_pop']:,.0f}-{s['max_pop']:,.0f}",
                f"areas in band: {s['areas_in_band']:,}  contiguous: {s['all_contiguous']}",
                f"area population min / median / max: {s['pop_min']:,.0f} / {s['pop_median']:,.0f} / "
                f"{s['pop_max']:,.0f}"]


def _counts_per_group(totals: pd.Series, n_areas: int) -> pd.Series:
    """Areas per nesting group: proportional to population, at least one each (largest remainder)."""
    share = totals / max(totals.sum(), 1e-9) * n_areas
    counts = np.maximum(np.floor(share), 1).astype(int)
    while counts.sum() < n_areas:
        counts[(share - counts).idxmax()] += 1
    while counts.sum() > n_areas:
        counts[(counts - share).where(counts > 1, -np.inf).idxmax()] -= 1
    return counts


def _labels_by_count(metric: gpd.GeoDataFrame, pop: np.ndarray, groups: np.ndarray, n_areas: int,
                     seed: int) -> np.ndarray:
    """Contiguous areas, a given number per nesting group (METIS, then repair towards the mean)."""
    graph = build_unit_graph(metric.geometry.values, settings.adjacency_tolerance_m)
    graph = graph.subset_edges(groups[graph.i] == groups[graph.j])
    graph = link_islands(graph, metric.geometry.values, groups)
    counts = _counts_per_group(pd.Series(pop).groupby(groups).sum(), n_areas)
    label = np.zeros(len(pop), dtype=np.int64)
    offset = 0
    soft = np.zeros(len(graph.i), dtype=bool)
    for group, k in counts.items():
        members = np.flatnonzero(groups == group)
        local = np.zeros(len(members), dtype=np.int64)
        if k > 1:
            pg = piece_graph(graph, members, soft, pop)
            mean = pg.pop.sum() / k
            band = Band(mean * (1 - _COUNT_TOLERANCE), mean * (1 + _COUNT_TOLERANCE), mean)
            local = make_contiguous(pg, metis_labels(pg, int(k), band, seed))
            local = repair(pg, local, band, np.random.default_rng(seed), allow_recount=False).labels
            _, local = np.unique(local, return_inverse=True)
            local = _top_up(pg, local, int(k), np.random.default_rng(seed))
        label[members] = local + offset
        offset += int(local.max()) + 1
    return label


def halve(graph: PieceGraph, nodes: np.ndarray, rng: np.random.Generator,
          share: tuple[float, float] = (0.3, 0.7)) -> np.ndarray | None:
    """Cut the connected ``nodes`` of ``graph`` in two contiguous parts along a spanning tree.

    Each part gets between ``share[0]`` and ``share[1]`` of the population (of the node count
    where the population is 0).  Returns a boolean mask over ``nodes`` (True: the first part) or
    None when no such cut exists.

    Examples
    --------
    >>> import networkx as nx, scipy.sparse as sp
    >>> m = sp.csr_matrix(nx.to_scipy_sparse_array(nx.path_graph(4))).astype(float)
    >>> g = PieceGraph.from_matrices(m, m, np.full(4, 10.0))
    >>> int(halve(g, np.arange(4), np.random.default_rng(0)).sum())
    2
    """
    if len(nodes) < 2:
        return None
    sub = graph.subgraph(np.asarray(nodes))
    total = sub.pop.sum()
    if total <= 0:
        sub = PieceGraph(sub.indptr, sub.indices, sub.length, sub.metis_weight, np.ones(sub.n))
        total = float(sub.n)
    band = Band(total * share[0], total * share[1], total / 2)
    labels = tree_split(sub, np.arange(sub.n), 2, band, rng, tries=30, restarts=4)
    return None if labels is None else labels == 0


def _top_up(pg: PieceGraph, labels: np.ndarray, k: int, rng: np.random.Generator) -> np.ndarray:
    """Split the most populous parts in two until there are ``k`` (METIS may leave a part empty)."""
    labels = labels.copy()
    tried: set[int] = set()
    while labels.max() + 1 < k:
        sizes = pd.Series(pg.pop).groupby(labels).sum().drop(list(tried), errors="ignore")
        if sizes.empty:
            break
        part = int(sizes.idxmax())
        nodes = np.flatnonzero(labels == part)
        mask = halve(pg, nodes, rng)
        if mask is None:
            tried.add(part)
            continue
        labels[nodes[mask]] = labels.max() + 1
    return labels


def _area_codes(areas: gpd.GeoDataFrame, group_of_area: np.ndarray, group_values: pd.Series, prefix: str,
                layout: CodeLayout, metric_crs) -> pd.Series:
    """Codes of the areas: the parent (``within`` code or number) plus a serial in reading order."""
    anchors = areas.geometry.to_crs(metric_crs).representative_point()
    x, y = anchors.x.to_numpy(), anchors.y.to_numpy()
    centre = pd.DataFrame({"g": group_of_area, "x": x, "y": y}).groupby("g")[["x", "y"]].mean()
    parents = parent_codes(group_values.iloc[centre.index], centre["x"], centre["y"], prefix, layout)
    area_parent = pd.Series(parents.loc[group_of_area].to_numpy(), index=areas.index)
    row_height = float(np.median(np.sqrt(areas["area_m2"]))) if len(areas) else 1.0
    return layout.make(area_parent, serials_in_reading_order(area_parent, x, y, row_height))


def aggregate(grids: gpd.GeoDataFrame, pop: str = "population", *, min_pop: float | None = None,
              max_pop: float | None = None, n_areas: int | None = None, within: str | None = None,
              barriers: gpd.GeoDataFrame | None = None, code_prefix: str | None = None,
              balance_by: str = "population", boundaries: gpd.GeoDataFrame | None = None,
              max_areas: int | None = None, random_state: int | None = None) -> AggregateResult:
    """Merge grids into contiguous areas, by a population band or by a number of areas.

    Parameters
    ----------
    grids : geopandas.GeoDataFrame
        Grid polygons (the ``grids`` layer of ``gridtools partition``) with a population column.
    pop : str
        Population column of ``grids``.
    min_pop, max_pop : float, optional
        Band of residents per area (give both, or ``n_areas``).
    n_areas : int, optional
        Number of areas to make instead of a band (Wuxing: 538 grids into 46 areas); shared out
        over the ``within`` groups in proportion to their population, at least one each.
    within : str, optional
        Column of the upper level (street, ward); areas never cross it and take its digit code
        as their parent code.
    barriers : geopandas.GeoDataFrame, optional
        Lines areas should follow (roads, ward boundaries), as in :func:`gridtools.partition`.
    code_prefix : str, optional
        Leading digits of the area codes.
    boundaries : geopandas.GeoDataFrame, optional
        Polygons of the upper level (streets, wards) with the column ``within``: each grid takes
        the value of the polygon holding its representative point (the nearest when in none).
    balance_by : {"population", "grids"}
        With ``n_areas``: make areas of equal population (default) or of equal numbers of grids.
    max_areas : int, optional
        Most areas the planner accepts (Providence: 10-14).  Refused before any work when the
        ``within`` groups (one area each at least) or the band (``ceil(group population /
        max_pop)`` per group) need more, and after the cut when the band gives more.
    random_state : int, optional
        Seed.

    Returns
    -------
    AggregateResult

    Examples
    --------
    >>> import geopandas as gpd
    >>> from shapely import box
    >>> grids = gpd.GeoDataFrame({"population": [1200] * 16},
    ...     geometry=[box(x * 500, y * 500, x * 500 + 500, y * 500 + 500) for x in range(4) for y in range(4)],
    ...     crs="EPSG:32650")
    >>> result = aggregate(grids, n_areas=4)
    >>> sorted(result.areas["n_grids"].tolist())
    [4, 4, 4, 4]
    """
    if (n_areas is None) == (min_pop is None or max_pop is None):
        raise InputError("give either a band (min_pop=..., max_pop=...) or a number of areas (n_areas=...)")
    if n_areas is not None and not (1 <= int(n_areas) <= len(grids)):
        raise InputError(f"n_areas must lie between 1 and the number of grids ({len(grids)}), not {n_areas}")
    if boundaries is not None:
        if within is None:
            raise InputError("boundaries=... needs within=...: the column of the boundaries naming each area")
        from gridtools.grids.plans import plan_from_polygons

        grids = grids.assign(**{within: plan_from_polygons(grids, boundaries, within).to_numpy()})
    grids = check_units(grids, pop, within)
    seed = settings.random_state if random_state is None else int(random_state)
    layout = CodeLayout(settings.code_layout)
    prefix = check_prefix(code_prefix, layout)
    population = grids[pop].to_numpy(dtype=float)
    metric = to_metric(grids)
    groups, values = pd.factorize(grids[within].astype(str)) if within else (
        np.zeros(len(grids), dtype=np.int64), pd.Index(["all"]))
    _check_area_count(pd.Series(population).groupby(groups).sum(), within, n_areas, max_areas, max_pop)
    if n_areas is None:
        units = gpd.GeoDataFrame({"_pop": population, "_within": grids[within].astype(str).to_numpy()
                                  if within else "all"}, geometry=grids.geometry.values, crs=grids.crs)
        result = partition(units, "_pop", min_pop=min_pop, max_pop=max_pop, within="_within" if within else None,
                           barriers=barriers, code_prefix=prefix, random_state=seed)
        label, codes_of_label = pd.factorize(result.units["grid_code"])
        lo, hi = float(min_pop), float(max_pop)
    else:
        if balance_by not in ("population", "grids"):
            raise InputError(f"balance_by={balance_by!r}: use 'population' or 'grids'")
        weight = population if balance_by == "population" else np.ones(len(grids))
        label = _labels_by_count(metric, weight, groups, int(n_areas), seed)
        codes_of_label = None
        mean = weight.sum() / int(n_areas)
        lo, hi = mean * (1 - _COUNT_TOLERANCE), mean * (1 + _COUNT_TOLERANCE)
    if max_areas is not None and len(np.unique(label)) > int(max_areas):
        raise InputError(f"the band min_pop=..., max_pop=... gives {len(np.unique(label))} areas, more than "
                         f"max_areas=... allows ({int(max_areas)}): widen the band or ask for a number with n_areas=...")
    areas = measure_grids(grids, label, population, metric.crs).rename(columns={"n_units": "n_grids"})
    group_of_area = pd.Series(groups).groupby(label).first().loc[areas.index].to_numpy()
    areas["piece"] = pd.Series(values).iloc[group_of_area].to_numpy()
    if codes_of_label is None:
        areas["area_code"] = _area_codes(areas, group_of_area, pd.Series(values), prefix, layout, metric.crs).to_numpy()
    else:
        areas["area_code"] = np.asarray(codes_of_label)[areas.index.to_numpy()]
    balanced = areas["n_grids"] if n_areas is not None and balance_by == "grids" else areas["population"]
    areas["in_band"] = (balanced >= lo) & (balanced <= hi)
    out_grids = grids.copy()
    out_grids["area_code"] = pd.Series(areas["area_code"].to_numpy(), index=areas.index).loc[label].to_numpy()
    areas = areas[["area_code", "population", "n_grids", "in_band", "area_m2", "polsby_popper", "piece",
                   "n_parts", "geometry"]].sort_values("area_code").reset_index(drop=True)
    summary = {"n_grids": len(grids), "n_areas": len(areas), "min_pop": lo, "max_pop": hi,
               "areas_in_band": int(areas["in_band"].sum()),
               "all_contiguous": bool(_contiguous(metric, label)),
               "pop_min": float(areas["population"].min()), "pop_median": float(areas["population"].median()),
               "pop_max": float(areas["population"].max())}
    return AggregateResult(areas, out_grids, summary)


def _check_area_count(group_pop: pd.Series, within: str | None, n_areas: int | None, max_areas: int | None,
                      max_pop: float | None) -> None:
    """Refuse a number of areas the nesting or the band cannot give (each ``within`` group needs one)."""
    groups = len(group_pop)
    if within and n_areas is not None and int(n_areas) < groups:
        raise InputError(f"{groups} groups of within={within!r} need at least {groups} areas (one each): "
                         f"n_areas=... asks for {int(n_areas)}; aggregate without within=... (barriers=... along "
                         f"its lines keeps areas close to them) or ask for {groups} areas or more")
    if max_areas is None:
        return
    if int(max_areas) < 1:
        raise InputError(f"max_areas must be at least 1, not {max_areas}")
    if within and groups > int(max_areas):
        raise InputError(f"{groups} groups of within={within!r} need at least {groups} areas (one each), more "
                         f"than max_areas=... allows ({int(max_areas)}): aggregate without within=... (barriers=... along "
                         f"its lines keeps areas close to them) or allow {groups} areas")
    if n_areas is None and max_pop:
        need = int(np.ceil(group_pop / float(max_pop) - 1e-9).clip(lower=1).sum())
        if need > int(max_areas):
            raise InputError(f"{group_pop.sum():,.0f} residents in areas of at most {max_pop:,.0f} (max_pop=...) "
                             f"need at least {need} areas, more than max_areas=... allows ({int(max_areas)}): "
                             "raise max_pop=...")
    if n_areas is not None and int(n_areas) > int(max_areas):
        raise InputError(f"n_areas=... ({int(n_areas)}) is more than max_areas=... allows ({int(max_areas)})")


def _contiguous(metric: gpd.GeoDataFrame, label: np.ndarray) -> bool:
    """True when each area is one connected set of grids (rook adjacency, islands linked)."""
    graph = build_unit_graph(metric.geometry.values, settings.adjacency_tolerance_m)
    graph = link_islands(graph, metric.geometry.values, np.zeros(len(label), dtype=np.int64))
    inner = graph.subset_edges(label[graph.i] == label[graph.j])
    return inner.components()[0] == len(np.unique(label))


@dataclass
class GridHierarchy:
    """Nested grid levels, top first, each a GeoDataFrame with a ``<level>_code`` column.

    Every level below the top carries the code of its parent in the column named after the
    level above (``area_code`` in the grids of ``areas``).

    Parameters
    ----------
    levels : dict of str to geopandas.GeoDataFrame
        Level name -> polygons, ordered from the top (largest) level down.

    Examples
    --------
    >>> h = GridHierarchy.from_aggregate(result)          # doctest: +SKIP
    >>> h.children("areas", "32050800100100100")           # doctest: +SKIP
    >>> h.save("levels.gpkg")                              # doctest: +SKIP
    """

    levels: dict[str, gpd.GeoDataFrame]
    codes: dict[str, str] = field(default_factory=dict)

    @classmethod
    def from_aggregate(cls, result: AggregateResult, *, upper: str = "areas", lower: str = "grids") -> "GridHierarchy":
        """Two levels from :func:`aggregate`: areas over grids."""
        return cls({upper: result.areas, lower: result.grids}, {upper: "area_code", lower: "grid_code"})

    def code_column(self, level: str) -> str:
        """The column holding the codes of ``level``."""
        return self.codes.get(level, f"{level.rstrip('s')}_code")

    def below(self, level: str) -> str | None:
        """Name of the level under ``level`` (None at the bottom)."""
        names = list(self.levels)
        at = names.index(level)
        return names[at + 1] if at + 1 < len(names) else None

    def children(self, level: str, code: str) -> gpd.GeoDataFrame:
        """Rows of the level below ``level`` whose parent is ``code``."""
        lower = self.below(level)
        if lower is None:
            raise InputError(f"level '{level}' is the bottom level: it has no children")
        return self.levels[lower][self.levels[lower][self.code_column(level)].astype(str) == str(code)]

    def check(self) -> list[str]:
        """Problems of the nesting: children without a known parent, parent populations that do not add up."""
        problems = []
        names = list(self.levels)
        for upper, lower in zip(names, names[1:]):
            parent = self.levels[lower][self.code_column(upper)].astype(str)
            known = set(self.levels[upper][self.code_column(upper)].astype(str))
            orphans = ~parent.isin(known)
            if orphans.any():
                problems.append(f"{int(orphans.sum())} {lower} have no parent in {upper}")
            if "population" in self.levels[upper] and "population" in self.levels[lower]:
                sums = self.levels[lower].groupby(parent)["population"].sum()
                own = self.levels[upper].set_index(self.levels[upper][self.code_column(upper)].astype(str))["population"]
                off = (sums.reindex(own.index, fill_value=0) - own).abs() > 1e-6
                if off.any():
                    problems.append(f"{int(off.sum())} {upper} differ from the sum of their {lower}")
        return problems

    def save(self, path, *, writer=None) -> None:
        """Write one GeoPackage with a layer per level (QGIS opens each as its own layer)."""
        from gridtools.io import write_any

        for name, frame in self.levels.items():
            (writer or write_any)(frame, path, layer=name)

