"""``rebalance``: redraw existing grids after the population changed, disturbing as little as possible.

Only grids that left the band, and the neighbours they need, change.  The repair first hands
single boundary units between neighbouring grids (a +/-5 % drift needs little more), then
re-splits a bad grid together with one to five neighbours, with one more grid when the cluster
grew past what its grids can hold.  New grids take fresh serials after the highest serial ever
used in their community; codes of untouched grids never change and retired codes are never reused.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field

import geopandas as gpd
import numpy as np
import pandas as pd

from gridtools import settings
from gridtools.identifiers import check_unique_keys
from gridtools.errors import InputError, rows_where
from gridtools.grids.balance import make_contiguous, repair
from gridtools.grids.codes import CodeLayout, serials_in_reading_order
from gridtools.grids.core import make_band
from gridtools.grids.params import attach_params, band_of
from gridtools.grids.pieces import adjacent_oversize, piece_graph
from gridtools.grids.units import check_units, measure_grids
from gridtools.grids.graph import build_unit_graph, link_islands
from gridtools.grids.proofs import proven_out_of_band
from gridtools.crs import to_metric
from gridtools import validate


@dataclass
class RebalanceResult:
    """What :func:`rebalance` returns.

    Attributes
    ----------
    units : geopandas.GeoDataFrame
        Input units with the new ``grid_code`` and the ``previous_code``.
    grids : geopandas.GeoDataFrame
        The grids after the redraw (same columns as :class:`PartitionResult.grids`).
    retired_codes : list of str
        Every retired code, those passed in plus the ones retired now; never to be reused.
    summary : dict
        ``grids_changed``, ``grids_new``, ``grids_retired``, ``share_residents_kept``,
        ``out_of_band_before`` / ``out_of_band_after`` (grids outside the band that do not consist
        of an over-size unit), ``cannot_be_in_band`` (those of them no cut can bring into the band,
        :func:`gridtools.grids.proofs.proven_out_of_band`; their status says so), ``oversize_grids``
        and ``seconds``.
    """

    units: gpd.GeoDataFrame
    grids: gpd.GeoDataFrame
    retired_codes: list[str]
    summary: dict = field(default_factory=dict)

    def summary_lines(self) -> list[str]:
        s = self.summary
        return [
            f"grids before: {s['grids_before']:,}  after: {s['grids_after']:,}  changed: {s['grids_changed']:,}"
            f"  (new {s['grids_new']}, retired {s['grids_retired']})",
            f"residents keeping their grid code: {s['share_residents_kept']:.2%}",
            f"grids out of band before: {s['out_of_band_before']}  after: {s['out_of_band_after']}"
            f"  (over-size single units, not counted: {s['oversize_grids']}; proven unable to be in band:"
            f" {s.get('cannot_be_in_band', 0)}, status cannot_be_in_band)",
            f"seconds: {s['seconds']:.2f}",
        ]

    def _repr_html_(self) -> str:
        return "<div><b>gridtools rebalance</b><ul>" + "".join(
            f"<li>{line}</li>" for line in self.summary_lines()) + "</ul></div>"


def _join_new_population(units: gpd.GeoDataFrame, table: pd.DataFrame, pop: str, key: str | None):
    """*units* with column *pop* taken from *table*, matched on *key* (as text); every unit needs one."""
    if not key:
        raise InputError("new_pop=... needs key=..., the column that identifies a unit in both files")
    source = table.attrs.get("source", "new_pop")
    validate.require_columns(table, {key: "key", pop: "pop"}, source)
    validate.require_columns(units, {key: "key"}, units.attrs.get("source", "units"))
    # a repeated key would give a unit two populations (pandas: "Reindexing only valid with uniquely valued Index")
    table = check_unique_keys(table.assign(**{key: table[key].astype(str)}), key, source, option=None)
    joined = units[key].astype(str).map(table.set_index(table[key].astype(str))[pop])
    missing = joined.isna()
    if missing.any():
        raise InputError(f"{source} has no {pop} for {int(missing.sum())} unit(s), e.g. {key}="
                         f"{units.loc[missing, key].iloc[0]}; give every unit a value")
    units = units.copy()
    units[pop] = joined.to_numpy()
    return units


def _check_codes(codes: pd.Series, layout: CodeLayout, column: str, source: str) -> None:
    bad = ~codes.str.fullmatch(r"\d{%d}" % layout.total)
    if bad.any():
        raise InputError(
            f"{source}: column '{column}' must hold {layout.total}-digit grid codes; "
            f"{rows_where(bad, codes.index)} do not (e.g. {codes[bad].iloc[0]!r})"
        )


def rebalance(units: gpd.GeoDataFrame, pop: str, *, grid_col: str = "grid_code",
              min_pop: float | None = None, max_pop: float | None = None,
              retired_codes=(), code_layout: tuple[int, ...] | None = None,
              tolerance: float | None = None, random_state: int | None = None,
              new_pop: pd.DataFrame | None = None, key: str | None = None) -> RebalanceResult:
    """Bring drifted grids back into the band with the fewest changes.

    Parameters
    ----------
    units : geopandas.GeoDataFrame
        Units with their current grid (``grid_col``) and the *new* population (``pop``).
    pop : str
        Column of the new population (in *new_pop* when it is given).
    grid_col : str
        Column of the current grid codes.
    min_pop, max_pop : float, optional
        The band; default: the band the units' partition used (``units.attrs["gridtools"]``, kept
        in the GeoPackage ``gridtools partition`` writes), else the settings.
    retired_codes : iterable of str
        Codes retired earlier; their serials are never handed out again.
    code_layout : tuple of int, optional
    tolerance : float, optional
        Metres within which polygons count as touching.
    random_state : int, optional
    new_pop : pandas.DataFrame, optional
        A table with the new population (column *pop*) per unit, joined to *units* on *key*;
        every unit needs a value.  Read the key column as text (``pd.read_csv(path,
        dtype={key: str})``) so codes like ``"007"`` keep their leading zeros.
    key : str, optional
        Column that identifies a unit in both *units* and *new_pop* (compared as text).

    Returns
    -------
    RebalanceResult

    Examples
    --------
    >>> import geopandas as gpd
    >>> from shapely import box
    >>> blocks = gpd.GeoDataFrame({"pop": [300] * 8, "grid_code": ["11010100100100100"] * 4 +
    ...     ["11010100100100200"] * 4},
    ...     geometry=[box(x * 100, y * 100, x * 100 + 100, y * 100 + 100) for x in range(4) for y in range(2)],
    ...     crs="EPSG:32650")
    >>> blocks.loc[0, "pop"] = 700          # one block grows: its grid (1,600) leaves the band
    >>> result = rebalance(blocks, "pop")
    >>> result.summary["out_of_band_after"], result.summary["grids_changed"]
    (0, 2)

    The new population may come as a separate table joined on a unit id:

    >>> blocks["id"] = [str(i) for i in range(8)]
    >>> counts = pd.DataFrame({"id": blocks["id"], "pop2030": [300] * 8})
    >>> rebalance(blocks, "pop2030", new_pop=counts, key="id").summary["grids_changed"]
    0
    """
    started = time.perf_counter()
    band = make_band(*band_of(units, min_pop, max_pop))  # before the join, which may drop attrs
    if new_pop is not None:
        units = _join_new_population(units, new_pop, pop, key)
    layout = CodeLayout(tuple(code_layout) if code_layout else settings.code_layout)
    source = units.attrs.get("source", "units")
    units = check_units(units, pop, grid_col)
    old_codes = units[grid_col].astype(str).str.strip()
    _check_codes(old_codes, layout, grid_col, source)
    retired = [str(c) for c in retired_codes]
    rng = np.random.default_rng(settings.random_state if random_state is None else random_state)

    population = units[pop].to_numpy(dtype=float)
    metric = to_metric(units)
    parents = layout.parent_of(old_codes)
    groups, _ = pd.factorize(parents)
    graph = build_unit_graph(metric.geometry.values,
                             settings.adjacency_tolerance_m if tolerance is None else tolerance)
    graph = link_islands(graph.subset_edges(groups[graph.i] == groups[graph.j]), metric.geometry.values, groups)

    label, code_of_label = pd.factorize(old_codes)
    code_of_label = list(code_of_label)
    oversize = population > band.hi
    pocket_host = _enclosed_pockets(graph, oversize, population, band)
    _separate_oversize(label, code_of_label, oversize, pocket_host, population)

    no_soft = np.zeros(len(graph.i), dtype=bool)
    for g in np.unique(groups):
        members = np.flatnonzero((groups == g) & ~oversize & (pocket_host < 0))
        if len(members) == 0:
            continue
        local_graph = piece_graph(graph, members, no_soft, population)
        local, global_ids = pd.factorize(label[members])
        # units that lost their over-size neighbour may leave a grid in pieces: mend that first
        local = make_contiguous(local_graph, local)
        outcome = repair(local_graph, local, band, rng, allow_recount=True, moves_first=True)
        known = outcome.labels < len(global_ids)
        new_ids = np.unique(outcome.labels[~known])
        fresh = {int(l): len(code_of_label) + e for e, l in enumerate(new_ids)}
        code_of_label += [None] * len(new_ids)
        label[members[known]] = np.asarray(global_ids)[outcome.labels[known]]
        label[members[~known]] = [fresh[int(l)] for l in outcome.labels[~known]]

    new_codes = _name_new_grids(label, code_of_label, old_codes, metric, layout, retired)
    used = set(new_codes)
    retired_now = sorted(set(old_codes) - used)
    out = units.copy()
    out["previous_code"] = old_codes.to_numpy()
    out["grid_code"] = new_codes
    new_label, code_of_new = pd.factorize(out["grid_code"])
    grids = measure_grids(out, new_label, population, metric.crs)
    grids["grid_code"] = code_of_new[grids.index]
    grids["in_band"] = band.contains(grids["population"].to_numpy())
    holds_oversize = pd.Series(oversize).groupby(out["grid_code"].to_numpy()).any()
    grids["status"] = np.where(holds_oversize.loc[grids["grid_code"]].to_numpy(), "oversize_unit",
                               np.where(grids["in_band"], "ok", "out_of_band"))
    stuck = proven_out_of_band(graph, population, band.lo, band.hi, new_label, grids, units)
    grids.loc[stuck.index, "status"] = "cannot_be_in_band"
    grids = grids.reset_index(drop=True)
    was_oversize = pd.Series(oversize).groupby(old_codes.to_numpy()).any()
    stuck_before = (~band.contains(pd.Series(population).groupby(old_codes.to_numpy()).sum())) & ~was_oversize

    changed_old = _changed_codes(old_codes, out["grid_code"])
    new_only = sorted(used - set(old_codes))
    kept = population[(out["grid_code"] == old_codes).to_numpy()].sum()
    summary = {
        "grids_before": int(old_codes.nunique()), "grids_after": len(grids),
        "grids_changed": len(changed_old | set(new_only)), "grids_new": len(new_only),
        "grids_retired": len(retired_now),
        "share_residents_kept": float(kept / population.sum()) if population.sum() else 1.0,
        "out_of_band_before": int(stuck_before.sum()),
        "out_of_band_after": int(grids["status"].isin(["out_of_band", "cannot_be_in_band"]).sum()),
        "cannot_be_in_band": len(stuck),
        "oversize_grids": int((grids["status"] == "oversize_unit").sum()),
        "seconds": time.perf_counter() - started,
    }
    for frame in (grids, out):  # the band the grids are now judged by travels with them
        attach_params(frame, command="rebalance", min_pop=band.lo, max_pop=band.hi, pop=pop, grid_col=grid_col)
    return RebalanceResult(out, grids, sorted(set(retired) | set(retired_now)), summary)


def _enclosed_pockets(graph, oversize: np.ndarray, population: np.ndarray, band) -> np.ndarray:
    """For each unit, the over-size unit whose grid it must join (-1 for none).

    As in :func:`partition`, a group of units cut off by over-size units and too small for a
    grid of its own (e.g. a courtyard enclosed by one huge block) joins the over-size unit it
    shares most boundary with.
    """
    inner = graph.subset_edges(~oversize[graph.i] & ~oversize[graph.j])
    n, comp = inner.components()
    totals = np.bincount(comp, weights=population, minlength=n)
    kmin, kmax = np.maximum(np.ceil(totals / band.hi - 1e-9), 1), np.floor(totals / band.lo + 1e-9)
    too_small = (kmin > kmax) & (totals < band.lo)
    host = np.full(graph.n, -1, dtype=np.int64)
    for c in np.flatnonzero(too_small):
        members = np.flatnonzero((comp == c) & ~oversize)
        if len(members):
            found = adjacent_oversize(graph, members, oversize)
            host[members] = -1 if found is None else found
    return host


def _separate_oversize(label, code_of_label: list, oversize, pocket_host, population) -> None:
    """Give every over-size unit a grid of its own (plus the pockets it encloses), in place.

    When an over-size unit shares its grid with other units, whichever side holds more
    residents keeps the grid's code and the other side gets a new label (code assigned later).
    """
    for u in np.flatnonzero(oversize):
        own = pocket_host == u
        own[u] = True
        rest = (label == label[u]) & ~own
        if rest.any():
            new = len(code_of_label)
            code_of_label.append(None)
            if population[own].sum() >= population[rest].sum():
                label[rest] = new
            else:
                label[u] = new
        label[own] = label[u]


def _name_new_grids(label, code_of_label, old_codes, metric, layout: CodeLayout, retired) -> np.ndarray:
    """Codes for every unit: old codes kept, new grids numbered after the highest serial ever used."""
    codes = np.asarray(code_of_label, dtype=object)
    # labels emptied by the repair need no code
    missing = np.flatnonzero(pd.isna(codes) & np.isin(np.arange(len(codes)), label))
    if len(missing):
        # a new grid belongs to the community of most of its units
        parent_of_unit = layout.parent_of(old_codes).to_numpy()
        parent = pd.Series(parent_of_unit).groupby(label).agg(lambda s: s.mode().iloc[0])
        anchor = metric.geometry.representative_point()
        xy = pd.DataFrame({"x": anchor.x.to_numpy(), "y": anchor.y.to_numpy()}).groupby(label).mean()
        ever = pd.concat([old_codes, pd.Series(list(retired), dtype=str)], ignore_index=True)
        highest = layout.serial_of(ever).groupby(layout.parent_of(ever)).max()
        new_parents = pd.Series(parent.loc[missing].to_numpy(), index=missing)
        area = metric.area.groupby(label).sum()
        row_height = float(np.sqrt(np.median(area))) if len(area) else 1.0
        serial = np.zeros(len(missing), dtype=np.int64)
        for p, idx in new_parents.groupby(new_parents).groups.items():  # one pass per community
            pos = np.flatnonzero(new_parents.index.isin(idx))
            start = int(highest.get(p, 0)) + 1
            serial[pos] = serials_in_reading_order(pd.Series([p] * len(pos)), xy.loc[idx, "x"].to_numpy(),
                                                   xy.loc[idx, "y"].to_numpy(), row_height, start)
        codes[missing] = layout.make(new_parents, serial).to_numpy()
    return codes[label]


def _changed_codes(old: pd.Series, new: pd.Series) -> set[str]:
    """Old codes whose set of units differs after the redraw (including retired ones)."""
    frame = pd.DataFrame({"old": old.to_numpy(), "new": new.to_numpy()})
    lost = set(frame.loc[frame["old"] != frame["new"], "old"])
    gained = set(frame.loc[frame["old"] != frame["new"], "new"]) & set(frame["old"])
    return lost | gained
