"""The report on a component register (城市部件): counts per class and per grid, and the map of ID cards.

Examples
--------
>>> from gridtools.report import components_report
>>> components_report(store.to_geodataframe(status="active"), grids).save("report.html")   # doctest: +SKIP
PosixPath('report.html')
"""

from __future__ import annotations

from gridtools.report.base import Report, localize_headers, report_words
from gridtools import validate

__all__ = ["components_report"]

_COMPONENT_TEXT = {
    "en": {"title": "City management components", "summary": "Summary",
           "lines": ("{n:,} active components of {classes} classes in {grids:,} grids; {outside:,} lie in no grid. "
                     "Each has a 16-digit code (county + class + serial) and an ID card on the map."),
           "classes": "Components per class", "grids": "Components per grid", "map": "Map (click a marker for its ID card)",
           "name": "name_en"},
    "zh": {"title": "城市部件报告", "summary": "概要",
           "lines": "共有在用部件 {n:,} 个，{classes} 类，分布于 {grids:,} 个网格；{outside:,} 个不在任何网格内。每个部件有 16 位编码（区县 + 类别 + 序号），点击地图上的标记可查看部件信息。",
           "classes": "按类别统计", "grids": "按网格统计", "map": "地图（点击标记查看部件信息）", "name": "name_zh"},
}


def components_report(components, grids=None, *, title: str | None = None, lang: str = "en") -> Report:
    """Report on a component register: counts per class and per grid, and the map of ID cards.

    Parameters
    ----------
    components : geopandas.GeoDataFrame
        ``ComponentStore.to_geodataframe(status="active")`` (``code``, ``class_code``, ``grid_code``).
    grids : geopandas.GeoDataFrame, optional
        Grid outlines for the map.
    title : str, optional
    lang : {"en", "zh"}

    Returns
    -------
    Report
    """
    from gridtools.components import load_classes
    from gridtools.maps import component_map

    words = report_words(_COMPONENT_TEXT, lang)
    validate.require_columns(components, ["code", "class_code", "grid_code"], "components")
    report = Report(title or words["title"], lang=lang)
    in_grid = components["grid_code"].fillna("").astype(str) != ""
    report.add_text(words["summary"], words["lines"].format(
        n=len(components), classes=components["class_code"].nunique(),
        grids=components.loc[in_grid, "grid_code"].nunique(), outside=int((~in_grid).sum())))
    names = load_classes().set_index("class_code")[words["name"]]
    per_class = components["class_code"].value_counts().rename_axis("class_code").reset_index(name="components")
    per_class.insert(1, "class", per_class["class_code"].map(names))
    report.add_table(words["classes"], localize_headers(per_class, lang))
    per_grid = components.loc[in_grid].groupby(["grid_code", "class_code"]).size().unstack(fill_value=0)
    per_grid.columns.name = None
    per_grid.insert(0, "all", per_grid.sum(axis=1))
    report.add_table(words["grids"], localize_headers(per_grid.sort_values("all", ascending=False).reset_index(), lang))
    if len(components):
        report.add_map(words["map"], component_map(components, grids=grids))
    return report
