"""The report on a partition: summary, grids by status, residents and compactness plots, map, grid table.

Examples
--------
>>> from gridtools.report import partition_report
>>> partition_report(result.grids, units=blocks, lang="zh").save("report.html")   # doctest: +SKIP
PosixPath('report.html')
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from gridtools import validate
from gridtools.grids.params import band_of
from gridtools.report.base import Report, histogram, new_figure, plot_words, report_words

__all__ = ["partition_report"]

_PARTITION_TEXT = {
    "en": {
        "title": "Management grids",
        "summary": "Summary",
        "lines": ("{grids:,} grids for {population:,.0f} residents. {in_band:,} grids ({share:.1%}) hold "
                  "{lo:,.0f}-{hi:,.0f} residents; {oversize:,} are a single unit above the maximum (a unit is "
                  "never split); {other:,} are out of the band for another reason (see the status column). "
                  "Median compactness (Polsby-Popper) {pp:.2f}."),
        "status": "Grids by status", "map": "Map", "hist": "Residents per grid",
        "pp": "Compactness of the grids", "table": "Grids", "infeasible": "Areas that cannot be cut in band",
        "xlabel": "residents", "ylabel": "grids", "ppx": "Polsby-Popper (1 = circle)",
        "band": "band",
    },
    "zh": {
        "title": "网格划分报告",
        "summary": "概要",
        "lines": ("共划分 {grids:,} 个网格，覆盖 {population:,.0f} 名居民。其中 {in_band:,} 个网格（{share:.1%}）"
                  "人口在 {lo:,.0f}-{hi:,.0f} 人之间；{oversize:,} 个网格为单个超出上限的基本单元（基本单元不拆分）；"
                  "{other:,} 个网格因其他原因不在范围内（见状态列）。形状紧凑度（Polsby-Popper）中位数 {pp:.2f}。"),
        "status": "按状态统计", "map": "地图", "hist": "各网格人口", "pp": "网格紧凑度", "table": "网格列表",
        "infeasible": "无法在人口范围内划分的区域", "xlabel": "居民人数", "ylabel": "网格数",
        "ppx": "Polsby-Popper（1 = 圆形）", "band": "范围",
    },
}


def partition_report(grids, *, infeasible: pd.DataFrame | None = None, units=None,
                     min_pop: float | None = None, max_pop: float | None = None,
                     title: str | None = None, lang: str = "en") -> Report:
    """Report on a partition: summary, status table, population and compactness plots, map, grid table.

    Parameters
    ----------
    grids : geopandas.GeoDataFrame
        ``PartitionResult.grids`` or the ``grids`` layer written by ``gridtools partition``
        (``grid_code``, ``population``, ``status``, ``polsby_popper``).
    infeasible : pandas.DataFrame, optional
        ``PartitionResult.infeasible`` (pieces with no feasible grid count and the proposed fix).
    units : geopandas.GeoDataFrame, optional
        Units drawn as outlines on the map.
    min_pop, max_pop : float, optional
        The band; default: the band the grids were made with (``grids.attrs["gridtools"]``, kept
        in the GeoPackage ``gridtools partition`` writes), else the settings.
    title : str, optional
    lang : {"en", "zh"}

    Returns
    -------
    Report
    """
    from gridtools.maps import IN_BAND_COLOR, OVER_COLORS, UNDER_COLORS, grid_map

    words = report_words(_PARTITION_TEXT, lang)
    report = Report(title or words["title"], lang=lang)
    # plot labels in Chinese only where a font can draw them; the text around them is Chinese anyway
    labels = plot_words(_PARTITION_TEXT, lang)
    validate.require_columns(grids, {"grid_code": None, "population": None}, "grids")
    lo, hi = band_of(grids, min_pop, max_pop)
    pop = grids["population"].to_numpy(dtype=float)
    status = grids["status"] if "status" in grids else pd.Series(np.where((pop >= lo) & (pop <= hi), "ok", "out_of_band"))
    pp = grids["polsby_popper"].to_numpy(dtype=float) if "polsby_popper" in grids else np.full(len(grids), np.nan)
    in_band = int(((pop >= lo) & (pop <= hi)).sum())
    oversize = int((status == "oversize_unit").sum())
    report.add_text(words["summary"], words["lines"].format(
        grids=len(grids), population=pop.sum(), in_band=in_band, share=in_band / max(len(grids), 1),
        lo=lo, hi=hi, oversize=oversize, other=len(grids) - in_band - oversize,
        pp=float(np.nanmedian(pp)) if np.isfinite(pp).any() else float("nan")))
    report.add_table(words["status"], status.value_counts().rename_axis("status").reset_index(name="grids"))

    fig, ax = new_figure()
    bins = np.histogram_bin_edges(pop, bins=40)
    for part, colour in ((pop < lo, UNDER_COLORS[0]), ((pop >= lo) & (pop <= hi), IN_BAND_COLOR),
                         (pop > hi, OVER_COLORS[0])):  # the map's colours, so plot and map agree
        if part.any():
            ax.hist(pop[part], bins=bins, color=colour, edgecolor="white")
    for edge in (lo, hi):
        ax.axvline(edge, color="#444", linestyle="--", linewidth=1)
    ax.set_xlabel(labels["xlabel"])
    ax.set_ylabel(labels["ylabel"])
    ax.set_title(f"{labels['band']} {lo:,.0f}-{hi:,.0f}")
    report.add_figure(words["hist"], fig)
    if np.isfinite(pp).any():
        report.add_figure(words["pp"], histogram(pp[np.isfinite(pp)], xlabel=labels["ppx"], ylabel=labels["ylabel"],
                                                 color="#6baed6", bins=30, range=(0, 1)))
    report.add_map(words["map"], grid_map(grids, min_pop=lo, max_pop=hi, units=units))
    if infeasible is not None and len(infeasible):
        report.add_table(words["infeasible"], infeasible)
    columns = [c for c in ("grid_code", "population", "status", "polsby_popper", "n_units") if c in grids]
    report.add_table(words["table"], pd.DataFrame(grids[columns]).sort_values("grid_code"))
    return report


