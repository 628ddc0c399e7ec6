"""Self-contained HTML reports: text, tables, plots and interactive maps in one file.

A report is handed to a street office as a single ``.html`` file, so it must open offline: plots are
embedded as PNG data, and maps are folium maps whose JavaScript and CSS (Leaflet, MarkerCluster,
vendored under ``gridtools/templates/vendor``) are inlined; only the basemap tiles come from the
network, and the map still draws its layers without them.

Examples
--------
>>> report = Report("Grids of the demo district", lang="en")
>>> report = report.add_text("Summary", "11 grids, all in the band.")
>>> report = report.add_table("Grids", pd.DataFrame({"grid_code": ["00000000000100100"], "population": [1250]}))
>>> html_text = report.to_html()
>>> "<table" in html_text and "https://" not in html_text
True
"""

from __future__ import annotations

import base64
import datetime as dt
import html
import io as _io
import re
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd

from gridtools import settings
from gridtools.errors import InputError

__all__ = ["Report", "offline_map_html", "partition_report", "hotspot_report", "incident_report", "components_report",
           "dispatch_report",
           "backtest_table", "case_statistics"]

VENDOR = Path(__file__).resolve().parent / "templates" / "vendor"

#: Assets folium references by URL, and the vendored file that replaces each (by URL pattern).
_VENDORED = [
    (re.compile(r"leaflet(@[\d.]+)?/dist/leaflet\.js$|/leaflet\.js$"), "leaflet.js"),
    (re.compile(r"leaflet(@[\d.]+)?/dist/leaflet\.css$|/leaflet\.css$"), "leaflet.css"),
    (re.compile(r"leaflet\.markercluster(-src)?\.js$"), "leaflet.markercluster.js"),
    (re.compile(r"MarkerCluster\.Default\.css$"), "MarkerCluster.Default.css"),
    (re.compile(r"MarkerCluster\.css$"), "MarkerCluster.css"),
]
_SCRIPT = re.compile(r'<script[^>]*\bsrc="(https?://[^"]+)"[^>]*>\s*</script>')
_LINK = re.compile(r'<link[^>]*\bhref="(https?://[^"]+)"[^>]*/?>')

#: Words of the report frame in each language (section texts come from the builders).
_WORDS = {
    "en": {"made": "Made with gridtools on", "contents": "Contents"},
    "zh": {"made": "由 gridtools 生成于", "contents": "目录"},
}


def _vendored_file(url: str) -> Path | None:
    for pattern, name in _VENDORED:
        if pattern.search(url):
            return VENDOR / name
    return None


def _data_uri(path: Path, mime: str) -> str:
    return f"data:{mime};base64," + base64.b64encode(path.read_bytes()).decode("ascii")


def _leaflet_css() -> str:
    """Leaflet's CSS with its images inlined (the CSS refers to them by relative path)."""
    css = (VENDOR / "leaflet.css").read_text(encoding="utf-8")
    return re.sub(r"url\(images/([\w.-]+\.png)\)",
                  lambda m: f"url({_data_uri(VENDOR / 'images' / m.group(1), 'image/png')})", css)


def _default_icon_script() -> str:
    """Leaflet finds its marker images next to leaflet.css; inlined CSS has no location."""
    icon = {k: _data_uri(VENDOR / "images" / f, "image/png") for k, f in
            [("iconUrl", "marker-icon.png"), ("iconRetinaUrl", "marker-icon-2x.png"),
             ("shadowUrl", "marker-shadow.png")]}
    options = ", ".join(f'{k}: "{v}"' for k, v in icon.items())
    return f"<script>L.Icon.Default.mergeOptions({{{options}}});</script>"


def offline_map_html(m) -> tuple[str, list[str]]:
    """Render a folium map to one HTML page that needs no network except for tiles.

    Leaflet and MarkerCluster are inlined from the vendored copies; other assets folium links by
    default (jQuery, Bootstrap, Font Awesome, awesome-markers) are dropped: the maps gridtools
    builds do not use them.  The names of dropped assets are returned so a caller can warn.

    Parameters
    ----------
    m : folium.Map

    Returns
    -------
    html : str
    dropped : list of str
        URLs of assets left out.

    Examples
    --------
    >>> import folium
    >>> page, dropped = offline_map_html(folium.Map(tiles=None))
    >>> "L.map(" in page and 'src="http' not in page
    True
    """
    page = m.get_root().render()
    dropped: list[str] = []

    def script(match: re.Match) -> str:
        local = _vendored_file(match.group(1))
        if local is None:
            dropped.append(match.group(1))
            return ""
        text = local.read_text(encoding="utf-8")
        if local.name == "leaflet.js":
            return f"<script>{text}</script>{_default_icon_script()}"
        return f"<script>{text}</script>"

    def link(match: re.Match) -> str:
        local = _vendored_file(match.group(1))
        if local is None:
            dropped.append(match.group(1))
            return ""
        text = _leaflet_css() if local.name == "leaflet.css" else local.read_text(encoding="utf-8")
        return f"<style>{text}</style>"

    page = _SCRIPT.sub(script, page)
    page = _LINK.sub(link, page)
    return page, dropped


#: Fonts that can draw Chinese plot labels, in order of preference.
_CJK_FONTS = ("Noto Sans CJK SC", "Source Han Sans SC", "WenQuanYi Micro Hei", "WenQuanYi Zen Hei",
              "SimHei", "Microsoft YaHei", "PingFang SC", "Heiti SC")


def cjk_font() -> str | None:
    """A font installed here that draws Chinese, or None (plots then keep English labels)."""
    from matplotlib import font_manager

    installed = {f.name for f in font_manager.fontManager.ttflist}
    return next((name for name in _CJK_FONTS if name in installed), None)


def _number(value: float) -> str:
    """Counts with thousands separators, shares and indices with three significant digits."""
    return f"{value:,.0f}" if abs(value) >= 100 else f"{value:.3g}"


def _figure_png(fig) -> str:
    buffer = _io.BytesIO()
    fig.savefig(buffer, format="png", dpi=110, bbox_inches="tight")
    return base64.b64encode(buffer.getvalue()).decode("ascii")


@dataclass
class Report:
    """A single-file HTML report built section by section.

    Parameters
    ----------
    title : str
    lang : {"en", "zh"}
        Language of the report frame (headings given by the caller are used as they are).
    """

    title: str
    lang: str = "en"
    sections: list[tuple[str, str]] = field(default_factory=list)

    def __post_init__(self):
        if self.lang not in _WORDS:
            raise InputError(f"unknown report language {self.lang!r}: use one of {', '.join(_WORDS)} (CLI: --lang)")

    def add_text(self, heading: str, text: str) -> "Report":
        """A section of plain text (paragraphs separated by blank lines)."""
        paragraphs = "".join(f"<p>{html.escape(p.strip())}</p>" for p in text.split("\n\n") if p.strip())
        self.sections.append((heading, paragraphs))
        return self

    def add_list(self, heading: str, items) -> "Report":
        """A bulleted list."""
        self.sections.append((heading, "<ul>" + "".join(f"<li>{html.escape(str(i))}</li>" for i in items) + "</ul>"))
        return self

    def add_table(self, heading: str, table: pd.DataFrame, caption: str = "", max_rows: int = 200) -> "Report":
        """A table (geometry columns are left out; long tables are cut at ``max_rows``)."""
        table = pd.DataFrame(table).drop(columns=[c for c in table.columns if str(table[c].dtype) == "geometry"])
        note = ""
        if len(table) > max_rows:
            note = f"<p class='note'>{max_rows} of {len(table):,} rows shown.</p>"
            table = table.head(max_rows)
        body = table.to_html(index=False, border=0, classes="table", na_rep="", float_format=_number)
        cap = f"<p class='note'>{html.escape(caption)}</p>" if caption else ""
        self.sections.append((heading, f"<div class='wide'>{body}</div>" + note + cap))
        return self

    def add_figure(self, heading: str, fig, caption: str = "") -> "Report":
        """A matplotlib figure, embedded as PNG (the figure is closed afterwards)."""
        import matplotlib.pyplot as plt

        data = _figure_png(fig)
        plt.close(fig)
        cap = f"<p class='note'>{html.escape(caption)}</p>" if caption else ""
        self.sections.append((heading, f"<img class='plot' alt='{html.escape(heading)}' "
                                       f"src='data:image/png;base64,{data}'/>{cap}"))
        return self

    def add_map(self, heading: str, m, height_px: int = 520) -> "Report":
        """A folium map, embedded with its JavaScript inlined (works offline, tiles aside)."""
        page, _ = offline_map_html(m)
        frame = (f"<iframe class='map' style='height:{height_px}px' "
                 f"srcdoc=\"{html.escape(page, quote=True)}\"></iframe>")
        self.sections.append((heading, frame))
        return self

    def extend(self, other: "Report", prefix: str = "") -> "Report":
        """Append the sections of another report, their headings prefixed (e.g. ``"Grids: "``)."""
        self.sections.extend((prefix + heading, content) for heading, content in other.sections)
        return self

    def to_html(self) -> str:
        """The whole report as one HTML document."""
        words = _WORDS[self.lang]
        toc = "".join(f"<li><a href='#s{i}'>{html.escape(h)}</a></li>" for i, (h, _) in enumerate(self.sections))
        body = "".join(f"<section id='s{i}'><h2>{html.escape(h)}</h2>{content}</section>"
                       for i, (h, content) in enumerate(self.sections))
        stamp = dt.datetime.now().strftime("%Y-%m-%d %H:%M")
        return f"""<!DOCTYPE html>
<html lang="{self.lang}"><head><meta charset="utf-8"/>
<meta name="viewport" content="width=device-width, initial-scale=1"/>
<title>{html.escape(self.title)}</title>
<style>{_CSS}</style></head>
<body><header><h1>{html.escape(self.title)}</h1>
<p class="note">{words['made']} {stamp}</p></header>
<nav><h2>{words['contents']}</h2><ol>{toc}</ol></nav>
{body}
</body></html>"""

    def save(self, path) -> Path:
        """Write the report; returns the path."""
        path = Path(path)
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(self.to_html(), encoding="utf-8")
        return path

    def _repr_html_(self) -> str:
        return self.to_html()

    def __repr__(self) -> str:
        return f"Report({self.title!r}, lang={self.lang!r}, {len(self.sections)} sections)"


_CSS = """
body{font-family:system-ui,-apple-system,"Segoe UI","Noto Sans CJK SC","Microsoft YaHei",sans-serif;
 max-width:1100px;margin:2em auto;padding:0 1em;color:#222;line-height:1.5}
h1{margin-bottom:.2em} h2{border-bottom:1px solid #ddd;padding-bottom:.2em;margin-top:1.6em}
.note{color:#666;font-size:.9em} nav ol{columns:2}
table.table{border-collapse:collapse;font-size:.9em;margin:.5em 0}
table.table th,table.table td{padding:.25em .6em;border-bottom:1px solid #eee;text-align:right}
table.table th{background:#f6f6f6}
img.plot{max-width:100%} iframe.map{width:100%;border:1px solid #ccc} div.wide{overflow-x:auto}
"""


# --------------------------------------------------------------------------------------------
# builders


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
        The band (default from settings).
    title : str, optional
    lang : {"en", "zh"}

    Returns
    -------
    Report
    """
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    from gridtools import io
    from gridtools.maps import IN_BAND_COLOR, OVER_COLORS, UNDER_COLORS, grid_map

    words = _PARTITION_TEXT.get(lang)
    report = Report(title or (words or {}).get("title", ""), lang=lang)  # validates lang
    font = cjk_font()
    # plot labels in Chinese only where a font can draw them; the text around them is Chinese anyway
    plot_words = words if lang == "en" or font else _PARTITION_TEXT["en"]
    if font:
        matplotlib.rcParams["font.sans-serif"] = [font, *matplotlib.rcParams["font.sans-serif"]]
    io.require_columns(grids, {"grid_code": None, "population": None}, "grids")
    lo = settings.min_pop if min_pop is None else min_pop
    hi = settings.max_pop if max_pop is None else max_pop
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

    fig, ax = plt.subplots(figsize=(7, 3.2))
    bins = np.histogram_bin_edges(pop, bins=40)
    for part, colour in ((pop < lo, UNDER_COLORS[0]), ((pop >= lo) & (pop <= hi), IN_BAND_COLOR),
                         (pop > hi, OVER_COLORS[0])):  # the map's colours, so plot and map agree
        if part.any():
            ax.hist(pop[part], bins=bins, color=colour, edgecolor="white")
    for edge in (lo, hi):
        ax.axvline(edge, color="#444", linestyle="--", linewidth=1)
    ax.set_xlabel(plot_words["xlabel"])
    ax.set_ylabel(plot_words["ylabel"])
    ax.set_title(f"{plot_words['band']} {lo:,.0f}-{hi:,.0f}")
    report.add_figure(words["hist"], fig)
    if np.isfinite(pp).any():
        fig, ax = plt.subplots(figsize=(7, 3.2))
        ax.hist(pp[np.isfinite(pp)], bins=30, range=(0, 1), color="#6baed6", edgecolor="white")
        ax.set_xlabel(plot_words["ppx"])
        ax.set_ylabel(plot_words["ylabel"])
        report.add_figure(words["pp"], fig)
    report.add_map(words["map"], grid_map(grids, min_pop=lo, max_pop=hi, units=units))
    if infeasible is not None and len(infeasible):
        report.add_table(words["infeasible"], infeasible)
    columns = [c for c in ("grid_code", "population", "status", "polsby_popper", "n_units") if c in grids]
    report.add_table(words["table"], pd.DataFrame(grids[columns]).sort_values("grid_code"))
    return report


# --------------------------------------------------------------------------------------------
# hotspot backtests

_HOTSPOT_TEXT = {
    "en": {
        "title": "Theft hotspot forecasts: backtest",
        "summary": "Summary",
        "lines": ("{folds} rolling folds from {start}, {horizon:g}-day horizon, {cells} units ({cell}), "
                  "{events:,} events. At {cov:.0%} of the area the best forecasting method, {best}, catches "
                  "{hit:.1%} of the next period's events (PAI {pai:.2f}, fold sd {sd:.2f}); the best naive "
                  "baseline, {naive}, catches {nhit:.1%} (PAI {npai:.2f})."),
        "table": "Mean over folds at each share of the area (± sd across folds)",
        "plot": "PAI against the share of the area flagged", "map": "Riskiest cells of the latest forecast",
        "top": "Top cells of the latest forecast", "defs": "How to read this",
        "patrol": "Patrol areas: the riskiest {share} of the area, neighbouring cells joined",
        "patrol_cols": ("area", "cells", "km²", "expected events", "events per km²"),
        "defs_text": ("Hit rate: share of the horizon's events inside the flagged cells. PAI (predictive accuracy "
                      "index) = hit rate / share of the area flagged; 1 is no better than chance. PEI (predictive "
                      "efficiency index) = flagged events / the most any cells of the same area could have caught "
                      "(0-1). Means over folds; sd is the standard deviation across folds; min-max the range."),
        "xlabel": "share of the study area flagged (%)", "ylabel": "PAI (mean over folds, ± sd)",
        "cols": {"method": "method", "coverage": "area", "folds": "folds", "pai": "PAI", "pai_sd": "PAI sd",
                 "pai_range": "PAI min-max", "hit": "hit rate", "hit_sd": "hit rate sd", "pei": "PEI",
                 "pei_sd": "PEI sd"},
    },
    "zh": {
        "title": "盗窃热点预测回测报告",
        "summary": "概要",
        "lines": ("滚动回测 {folds} 折，自 {start} 起，每折预测 {horizon:g} 天，{cells} 个单元（{cell}），共 {events:,} "
                  "起事件。圈定 {cov:.0%} 的面积时，最佳预测方法 {best} 命中下一期 {hit:.1%} 的事件（PAI {pai:.2f}，"
                  "折间标准差 {sd:.2f}）；最佳朴素基线 {naive} 命中 {nhit:.1%}（PAI {npai:.2f}）。"),
        "table": "各面积比例下的折均值（± 折间标准差）",
        "plot": "PAI 与圈定面积比例", "map": "最新预测的高风险单元", "top": "最新预测的前列单元",
        "patrol": "巡逻区域：风险最高的 {share} 面积，相邻单元合并",
        "patrol_cols": ("区域", "单元数", "平方千米", "预计案件数", "每平方千米案件数"),
        "defs": "指标说明",
        "defs_text": ("命中率：预测期事件落在圈定单元内的比例。PAI（预测精度指数）= 命中率 / 圈定面积比例，1 表示与随机相当。"
                      "PEI（预测效率指数）= 圈定单元内事件数 / 同等面积单元最多可能命中的事件数（0-1）。"
                      "数值为各折均值；标准差为折间标准差；最小-最大为折间范围。"),
        "xlabel": "圈定面积比例（%）", "ylabel": "PAI（折均值 ± 标准差）",
        "cols": {"method": "方法", "coverage": "面积比例", "folds": "折数", "pai": "PAI", "pai_sd": "PAI 标准差",
                 "pai_range": "PAI 最小-最大", "hit": "命中率", "hit_sd": "命中率标准差", "pei": "PEI",
                 "pei_sd": "PEI 标准差"},
    },
}


def _use_font(lang: str, words: dict, english: dict) -> dict:
    """Words for plot labels: the language's own where a font can draw them, else English."""
    import matplotlib

    matplotlib.use("Agg")
    font = cjk_font()
    if font:
        matplotlib.rcParams["font.sans-serif"] = [font, *matplotlib.rcParams["font.sans-serif"]]
    return words if lang == "en" or font else english


def _words(table: dict, lang: str) -> dict:
    if lang not in table:
        raise InputError(f"unknown report language {lang!r}: use one of {', '.join(table)} (CLI: --lang)")
    return table[lang]


def backtest_table(metrics: pd.DataFrame, coverages=None) -> pd.DataFrame:
    """Mean, spread and range over folds of PAI, hit rate and PEI, per method and coverage.

    Parameters
    ----------
    metrics : pandas.DataFrame
        Per-fold rows ``method, fold, coverage, hit_rate, pai, pei`` (``BacktestResult.metrics``
        or the ``metrics.csv`` that ``gridtools hotspots backtest`` writes).
    coverages : sequence of float, optional
        Coverages to keep (default: all in *metrics*).

    Returns
    -------
    pandas.DataFrame
        ``method, coverage, folds, pai_mean, pai_sd, pai_min, pai_max, hit_rate_mean, hit_rate_sd,
        pei_mean, pei_sd``; folds without events (NaN metrics) are left out of every statistic.

    Examples
    --------
    >>> m = pd.DataFrame({"method": ["a", "a"], "fold": [0, 1], "coverage": [0.02, 0.02],
    ...                   "hit_rate": [0.1, 0.3], "pai": [5.0, 15.0], "pei": [0.5, 0.7]})
    >>> backtest_table(m)[["pai_mean", "pai_sd", "pai_min", "hit_rate_mean"]].round(3).values.tolist()
    [[10.0, 7.071, 5.0, 0.2]]
    """
    from gridtools import io

    io.require_columns(metrics, ["method", "fold", "coverage", "hit_rate", "pai", "pei"], "backtest metrics")
    m = pd.DataFrame(metrics)
    if coverages is not None:
        keep = np.isclose(m["coverage"].to_numpy(float)[:, None], np.asarray(coverages, float)[None, :]).any(axis=1)
        m = m[keep]
    order = {name: i for i, name in enumerate(m["method"].unique())}
    grouped = m.groupby(["method", "coverage"], sort=False)
    table = pd.DataFrame({
        "folds": grouped["pai"].count(),
        "pai_mean": grouped["pai"].mean(), "pai_sd": grouped["pai"].std(),
        "pai_min": grouped["pai"].min(), "pai_max": grouped["pai"].max(),
        "hit_rate_mean": grouped["hit_rate"].mean(), "hit_rate_sd": grouped["hit_rate"].std(),
        "pei_mean": grouped["pei"].mean(), "pei_sd": grouped["pei"].std(),
    }).reset_index()
    table["_order"] = table["method"].map(order)
    return table.sort_values(["coverage", "_order"]).drop(columns="_order").reset_index(drop=True)


def hotspot_report(backtest, *, cells=None, params: dict | None = None, coverages=None, top_share: float = 0.05,
                   title: str | None = None, lang: str = "en") -> Report:
    """Report on a hotspot backtest: summary, metric table with fold spread, PAI curve, top-cell map.

    Parameters
    ----------
    backtest : BacktestResult or pandas.DataFrame
        :func:`gridtools.hotspots.backtest` output, or its per-fold metrics table
        (``metrics.csv`` of ``gridtools hotspots backtest``).
    cells : geopandas.GeoDataFrame, optional
        A forecast (:func:`gridtools.hotspots.forecast`, ``cell_id, risk, rank, area_m2``): its
        riskiest *top_share* of the area is mapped and listed.
    params : dict, optional
        The run's settings (``BacktestResult.params`` or ``summary.json["params"]``); taken from
        *backtest* when it is a ``BacktestResult``.
    coverages : sequence of float, default ``settings.hotspot_coverages`` (1, 2, 5, 10 %)
    top_share : float
        Share of the area shown on the map.
    title : str, optional
    lang : {"en", "zh"}

    Returns
    -------
    Report
    """
    import matplotlib.pyplot as plt

    words = _words(_HOTSPOT_TEXT, lang)
    plot_words = _use_font(lang, words, _HOTSPOT_TEXT["en"])
    if isinstance(backtest, pd.DataFrame):
        metrics, params = backtest, dict(params or {})
    else:
        metrics, params = backtest.metrics, {**(backtest.params or {}), **(params or {})}
    coverages = settings.hotspot_coverages if coverages is None else tuple(coverages)
    table = backtest_table(metrics, coverages)
    if table.empty:
        raise InputError("the backtest metrics hold none of the coverages "
                         f"{', '.join(f'{c:g}' for c in coverages)}; pass coverages= that the backtest used")
    report = Report(title or words["title"], lang=lang)

    focus = 0.02 if np.isclose(table["coverage"], 0.02).any() else float(table["coverage"].iloc[0])
    at = table[np.isclose(table["coverage"], focus)].set_index("method")
    naive = [m for m in at.index if str(m).startswith("naive")]
    # the best *forecasting* method, set against the best baseline (even when a baseline wins)
    methods = [m for m in at.index if m not in naive] or list(at.index)
    best = at.loc[methods, "pai_mean"].idxmax()
    best_naive = at.loc[naive, "pai_mean"].idxmax() if naive else best
    report.add_text(words["summary"], words["lines"].format(
        folds=int(params.get("folds", metrics["fold"].nunique())), start=params.get("start", metrics.get("cutoff", pd.Series(["?"])).min()),
        horizon=float(params.get("horizon_days", float("nan"))), cells=f"{params['n_cells']:,}" if "n_cells" in params else "?",
        cell=params.get("cell", "?"), events=int(params.get("n_events", 0)), cov=focus, best=best,
        hit=at.loc[best, "hit_rate_mean"], pai=at.loc[best, "pai_mean"], sd=at.loc[best, "pai_sd"],
        naive=best_naive, nhit=at.loc[best_naive, "hit_rate_mean"], npai=at.loc[best_naive, "pai_mean"]))

    c = words["cols"]
    shown = pd.DataFrame({
        c["coverage"]: [f"{v:.0%}" for v in table["coverage"]],
        c["method"]: table["method"],
        c["folds"]: table["folds"],
        c["pai"]: table["pai_mean"].map(lambda v: f"{v:.2f}"),
        c["pai_sd"]: table["pai_sd"].map(lambda v: f"{v:.2f}"),
        c["pai_range"]: [f"{lo:.2f}-{hi:.2f}" for lo, hi in zip(table["pai_min"], table["pai_max"])],
        c["hit"]: table["hit_rate_mean"].map(lambda v: f"{v:.3f}"),
        c["hit_sd"]: table["hit_rate_sd"].map(lambda v: f"{v:.3f}"),
        c["pei"]: table["pei_mean"].map(lambda v: f"{v:.3f}"),
        c["pei_sd"]: table["pei_sd"].map(lambda v: f"{v:.3f}"),
    })
    report.add_table(words["table"], shown)

    fig, ax = plt.subplots(figsize=(7, 4.2))
    for method, g in table.groupby("method", sort=False):
        x = g["coverage"].to_numpy(float) * 100
        style = "--" if str(method).startswith("naive") else "-"
        ax.plot(x, g["pai_mean"], style, marker="o", label=str(method))
        ax.fill_between(x, g["pai_mean"] - g["pai_sd"].fillna(0), g["pai_mean"] + g["pai_sd"].fillna(0), alpha=0.12)
    ax.axhline(1, color="#888", linewidth=0.8)
    ax.set_xlabel(plot_words["xlabel"])
    ax.set_ylabel(plot_words["ylabel"])
    ax.grid(alpha=0.3)
    ax.legend(fontsize=8)
    report.add_figure(words["plot"], fig)

    if cells is not None:
        from gridtools.maps import hotspot_map

        from gridtools.hotspots.patrol import flagged_cells, patrol_areas

        areas = patrol_areas(cells, share=focus)
        report.add_map(words["map"], hotspot_map(cells, top_share=top_share, patrol_areas=areas))
        names = words["patrol_cols"]
        report.add_table(words["patrol"].format(share=f"{focus:.0%}"), pd.DataFrame({
            names[0]: areas["area_id"], names[1]: areas["n_cells"], names[2]: areas["area_km2"].round(3),
            names[3]: areas["expected_events"].round(2), names[4]: areas["events_per_km2"].round(1),
        }), max_rows=30)
        top = pd.DataFrame(flagged_cells(cells, top_share)[["rank", "cell_id", "risk", "area_m2"]])
        top["risk"] = top["risk"].round(3)
        report.add_table(words["top"], top, max_rows=50)
    report.add_text(words["defs"], words["defs_text"])
    return report


# --------------------------------------------------------------------------------------------
# incidents: the closed loop per grid and per type

_INCIDENT_TEXT = {
    "en": {
        "title": "City management cases",
        "summary": "Summary",
        "lines": ("{period}: {cases:,} cases reported, {closed:,} closed, {open:,} open, {rejected:,} rejected; "
                  "{outside:,} lie outside every grid. Of the closed cases {solved} were solved inside their "
                  "grid (never escalated) and {on_time} were handled by their deadline; closing took a "
                  "median of {median} hours (mean {mean}). {overdue:,} open cases are overdue at {now}."),
        "all": "All cases", "from": "from {0}", "to": "to {0}",
        "map": "Cases per grid", "grids": "Closed loop per grid", "types": "Closed loop per event type",
        "overdue": "Overdue cases", "none": "No case is overdue.", "hours": "Hours from report to close",
        "xlabel": "hours from report to close", "ylabel": "closed cases",
        "type_name": "name_en",
    },
    "zh": {
        "title": "城市管理案件报告",
        "summary": "概要",
        "lines": ("{period}：上报案件 {cases:,} 件，已结案 {closed:,} 件，在办 {open:,} 件，不予立案 {rejected:,} 件；"
                  "{outside:,} 件不在任何网格内。已结案件中 {solved} 在网格内解决（未升级），{on_time} 按时处置；"
                  "结案用时中位数 {median} 小时（平均 {mean} 小时）。截至 {now}，在办案件中 {overdue:,} 件超期。"),
        "all": "全部案件", "from": "自 {0}", "to": "至 {0}",
        "map": "各网格案件数", "grids": "各网格闭环情况", "types": "各事件类型闭环情况",
        "overdue": "超期案件", "none": "没有超期案件。", "hours": "上报至结案用时",
        "xlabel": "上报至结案小时数", "ylabel": "已结案件数",
        "type_name": "name_zh",
    },
}
_OUTSIDE = "(outside grids)"
#: Column headers of the incident and component tables in a Chinese report.
_ZH_HEADERS = {
    "grid_code": "网格编码", "type_code": "类型编码", "name": "名称", "cases": "案件数", "open": "在办", "closed": "已结案",
    "rejected": "不予立案", "solved_in_grid": "网格内解决", "share_solved_in_grid": "网格内解决率",
    "median_hours_to_close": "结案用时中位数（小时）", "mean_hours_to_close": "平均结案用时（小时）",
    "on_time_share": "按时处置率", "overdue_now": "当前超期", "case_id": "案件号", "status": "状态", "level": "层级",
    "assignee": "承办", "stage": "环节", "due_at": "期限", "overdue_hours": "超期小时数",
    "class_code": "类别编码", "class": "类别", "components": "部件数", "all": "合计",
}


def _headers(table: pd.DataFrame, lang: str) -> pd.DataFrame:
    return table.rename(columns=_ZH_HEADERS) if lang == "zh" else table


def _overdue_cases(cases: pd.DataFrame, types: pd.DataFrame, now) -> pd.DataFrame:
    """Open cases past their limit at *now* (the rule of ``IncidentStore.overdue``, on a table)."""
    open_ = cases[cases["status"].isin(("reported", "registered", "dispatched"))]
    urgent = open_["type_code"].map(types.set_index("code")["urgent"].astype(bool)).fillna(False).to_numpy(bool)
    limit = np.where(urgent, settings.incident_dispatch_minutes_urgent, settings.incident_dispatch_minutes)
    waiting = (open_["status"] != "dispatched").to_numpy()
    due = (pd.to_datetime(open_["reported_at"]) + pd.to_timedelta(limit, unit="min")).where(
        waiting, pd.to_datetime(open_["deadline_at"]))
    over = (due < now).to_numpy()
    out = open_[over].copy()
    out["stage"] = np.where(waiting[over], "dispatch", "handling")
    out["due_at"] = due[over].dt.strftime("%Y-%m-%d %H:%M:%S").to_numpy()
    out["overdue_hours"] = ((now - due[over]).dt.total_seconds() / 3600).round(3).to_numpy()
    return out.sort_values("overdue_hours", ascending=False).reset_index(drop=True)


def case_statistics(cases: pd.DataFrame, by: str = "grid_code", *, overdue: pd.DataFrame | None = None) -> pd.DataFrame:
    """Closed-loop statistics of a case table per grid (or per type, or any column).

    Parameters
    ----------
    cases : pandas.DataFrame
        The ``cases`` table of an :class:`~gridtools.incidents.IncidentStore` (``store.cases()``).
    by : str
        Column to group by; cases without a grid are grouped as ``"(outside grids)"``.
    overdue : pandas.DataFrame, optional
        Overdue cases (``store.overdue(now)``) counted in ``overdue_now``.

    Returns
    -------
    pandas.DataFrame
        Indexed by *by*: ``cases, open, closed, rejected, solved_in_grid, share_solved_in_grid``
        (closed without escalation / closed), ``median_hours_to_close, mean_hours_to_close``
        (report to close), ``on_time_share`` (closed cases handled by their deadline),
        ``overdue_now`` -- the columns of ``IncidentStore.grid_stats``.

    Examples
    --------
    >>> cases = pd.DataFrame({"grid_code": ["g1", "g1", None], "status": ["closed", "dispatched", "closed"],
    ...     "escalations": [0, 0, 1], "reported_at": ["2026-01-05 09:00"] * 3,
    ...     "closed_at": ["2026-01-05 13:00", None, "2026-01-06 09:00"],
    ...     "handled_at": ["2026-01-05 12:00", None, "2026-01-06 08:00"],
    ...     "deadline_at": ["2026-01-05 14:00", "2026-01-05 14:00", "2026-01-05 14:00"]})
    >>> s = case_statistics(cases)
    >>> s[["cases", "closed", "share_solved_in_grid", "median_hours_to_close", "on_time_share"]].values.tolist()
    [[1.0, 1.0, 0.0, 24.0, 0.0], [2.0, 1.0, 1.0, 4.0, 1.0]]
    """
    if cases.empty:
        return pd.DataFrame(columns=["cases", "open", "closed", "rejected", "solved_in_grid", "share_solved_in_grid",
                                     "median_hours_to_close", "mean_hours_to_close", "on_time_share", "overdue_now"],
                            index=pd.Index([], name=by))
    key = cases[by].fillna(_OUTSIDE) if by == "grid_code" else cases[by]
    closed = cases["status"] == "closed"
    hours = (pd.to_datetime(cases["closed_at"]) - pd.to_datetime(cases["reported_at"])).dt.total_seconds() / 3600
    on_time = pd.to_datetime(cases["handled_at"]) <= pd.to_datetime(cases["deadline_at"])
    frame = pd.DataFrame({
        by: key, "cases": 1,
        "open": cases["status"].isin(("reported", "registered", "dispatched", "handled", "verified")).astype(int),
        "closed": closed.astype(int), "rejected": (cases["status"] == "rejected").astype(int),
        "solved_in_grid": (closed & (cases["escalations"] == 0)).astype(int),
        "hours": hours.where(closed), "on_time": on_time.where(closed).astype(float),
    })
    grouped = frame.groupby(by)
    stats = grouped[["cases", "open", "closed", "rejected", "solved_in_grid"]].sum()
    stats["share_solved_in_grid"] = (stats["solved_in_grid"] / stats["closed"]).where(stats["closed"] > 0)
    stats["median_hours_to_close"] = grouped["hours"].median()
    stats["mean_hours_to_close"] = grouped["hours"].mean()
    stats["on_time_share"] = grouped["on_time"].mean()
    counts = pd.Series(dtype=int)
    if overdue is not None and len(overdue):
        okey = overdue[by].fillna(_OUTSIDE) if by == "grid_code" else overdue[by]
        counts = okey.value_counts()
    stats["overdue_now"] = counts.reindex(stats.index).fillna(0).astype(int)
    return stats


def _share(value) -> str:
    return f"{value:.1%}" if pd.notna(value) else "-"


def _hours(value) -> str:
    return f"{value:.1f}" if pd.notna(value) else "-"


def _moment(value, end: bool = False):
    """A time from text/date; a bare date as the end of a period means the end of that day."""
    if value is None:
        return None
    try:
        stamp = pd.Timestamp(value)
    except (ValueError, TypeError) as exc:
        raise InputError(f"cannot read the time {value!r}; write it as YYYY-MM-DD or 'YYYY-MM-DD HH:MM'") from exc
    bare_date = isinstance(value, dt.date) and not isinstance(value, dt.datetime) or (
        isinstance(value, str) and len(value.strip()) <= 10)
    return stamp + pd.Timedelta(days=1) - pd.Timedelta(1, "ns") if end and bare_date else stamp


def incident_report(cases, grids, *, period=None, now=None, types: pd.DataFrame | None = None,
                    title: str | None = None, lang: str = "en", max_points: int = 5000) -> Report:
    """Report on city management cases: cases per grid on a map, closed-loop statistics, overdue list.

    Parameters
    ----------
    cases : IncidentStore or pandas.DataFrame
        A case store, or its ``cases`` table (``store.cases()``).
    grids : geopandas.GeoDataFrame
        Grid polygons with ``grid_code`` (layer ``grids`` of ``gridtools partition``).
    period : (start, end), optional
        Cases *reported* in ``[start, end]``; either end may be None.  A bare date as end
        includes that whole day.
    now : time, optional
        When overdue is judged (default: now).  Statuses are those stored now.
    types : pandas.DataFrame, optional
        Event types (default: the store's, else the shipped table).
    title : str, optional
    lang : {"en", "zh"}
    max_points : int
        Case points drawn on the map at most (evenly sampled beyond that).

    Returns
    -------
    Report
    """
    import geopandas as gpd
    import matplotlib.pyplot as plt

    from gridtools import io
    from gridtools.incidents import event_types
    from gridtools.maps import incident_map

    words = _words(_INCIDENT_TEXT, lang)
    plot_words = _use_font(lang, words, _INCIDENT_TEXT["en"])
    io.require_columns(grids, {"grid_code": None}, "grids")
    if isinstance(cases, pd.DataFrame):
        table = cases.copy()
        types = event_types() if types is None else types
    else:
        table = cases.cases()
        types = cases.types() if types is None else types
    io.require_columns(table, ["case_id", "type_code", "grid_code", "status", "reported_at", "closed_at",
                               "handled_at", "deadline_at", "escalations"], "cases")
    start, end = (period if period is not None else (None, None))
    start, end = _moment(start), _moment(end, end=True)
    reported = pd.to_datetime(table["reported_at"])
    keep = np.ones(len(table), dtype=bool)
    if start is not None:
        keep &= (reported >= start).to_numpy()
    if end is not None:
        keep &= (reported <= end).to_numpy()
    table = table[keep].reset_index(drop=True)
    moment = pd.Timestamp(dt.datetime.now().replace(microsecond=0)) if now is None else _moment(now)
    late = _overdue_cases(table, types, moment)
    per_grid = case_statistics(table, "grid_code", overdue=late)
    per_type = case_statistics(table, "type_code", overdue=late)

    closed = table["status"] == "closed"
    hours = ((pd.to_datetime(table["closed_at"]) - pd.to_datetime(table["reported_at"])).dt.total_seconds() / 3600)[closed]
    on_time = (pd.to_datetime(table["handled_at"]) <= pd.to_datetime(table["deadline_at"]))[closed]
    parts = [words["from"].format(period[0]) if start is not None else "",
             words["to"].format(period[1]) if end is not None else ""]
    label = " ".join(p for p in parts if p) or words["all"]
    report = Report(title or words["title"], lang=lang)
    report.add_text(words["summary"], words["lines"].format(
        period=label, cases=len(table), closed=int(closed.sum()),
        open=int(table["status"].isin(("reported", "registered", "dispatched", "handled", "verified")).sum()),
        rejected=int((table["status"] == "rejected").sum()), outside=int(table["grid_code"].isna().sum()
                                                                          + (table["grid_code"] == "").sum()),
        solved=_share((table.loc[closed, "escalations"] == 0).mean()), on_time=_share(on_time.mean()),
        median=_hours(hours.median()), mean=_hours(hours.mean()),
        overdue=len(late), now=moment.strftime("%Y-%m-%d %H:%M")))

    located = table.dropna(subset=["lon", "lat"]) if {"lon", "lat"} <= set(table.columns) else table.iloc[:0]
    points = gpd.GeoDataFrame(located[["case_id", "grid_code", "status"]],
                              geometry=gpd.points_from_xy(located["lon"], located["lat"]) if len(located) else [],
                              crs=4326) if len(located) else None
    report.add_map(words["map"], incident_map(grids, per_grid, events=points, max_events=max_points))
    if closed.any():
        fig, ax = plt.subplots(figsize=(7, 3.2))
        ax.hist(hours, bins=40, color="#a63603", edgecolor="white")
        ax.set_xlabel(plot_words["xlabel"])
        ax.set_ylabel(plot_words["ylabel"])
        report.add_figure(words["hours"], fig)
    report.add_table(words["grids"], _headers(per_grid.reset_index().round(3), lang))
    names = types.set_index("code")[words["type_name"]]
    by_type = per_type.reset_index()
    by_type.insert(1, "name", by_type["type_code"].map(names))
    report.add_table(words["types"], _headers(by_type.round(3), lang))
    if len(late):
        report.add_table(words["overdue"], _headers(late[["case_id", "type_code", "grid_code", "status", "level",
                                                          "assignee", "stage", "due_at", "overdue_hours"]], lang))
    else:
        report.add_text(words["overdue"], words["none"])
    return report


# --------------------------------------------------------------------------------------------
# components (城市部件)

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
    from gridtools import io
    from gridtools.components import load_classes
    from gridtools.maps import component_map

    words = _words(_COMPONENT_TEXT, lang)
    io.require_columns(components, ["code", "class_code", "grid_code"], "components")
    report = Report(title or words["title"], lang=lang)
    in_grid = components["grid_code"].fillna("").astype(str) != ""
    report.add_text(words["summary"], words["lines"].format(
        n=len(components), classes=components["class_code"].nunique(),
        grids=components.loc[in_grid, "grid_code"].nunique(), outside=int((~in_grid).sum())))
    names = load_classes().set_index("class_code")[words["name"]]
    per_class = components["class_code"].value_counts().rename_axis("class_code").reset_index(name="components")
    per_class.insert(1, "class", per_class["class_code"].map(names))
    report.add_table(words["classes"], _headers(per_class, lang))
    per_grid = components.loc[in_grid].groupby(["grid_code", "class_code"]).size().unstack(fill_value=0)
    per_grid.columns.name = None
    per_grid.insert(0, "all", per_grid.sum(axis=1))
    report.add_table(words["grids"], _headers(per_grid.sort_values("all", ascending=False).reset_index(), lang))
    if len(components):
        report.add_map(words["map"], component_map(components, grids=grids))
    return report


_DISPATCH_TEXT = {
    "en": {"title": "Truck dispatch", "summary": "Summary", "table": "Fastest route at the earliest slot vs spreading",
           "plot": "Peak load per slot", "map": "Load per road segment", "ylabel": "peak load / capacity",
           "lines": ("{trips:,} trips assigned ({refused:,} refused). Segment-slots over their large-truck capacity: "
                     "{before:,} when every truck takes its fastest legal route at its earliest time, {after:,} after "
                     "spreading, with a travel-time change of {detour:+.1%} (routes are chosen by cost, which "
                     "penalises residential roads, so a spread route can be quicker) and {delay:.1f} min mean delay. "
                     "A refused trip has no legal route for its truck or no free dock slot; each refusal names the "
                     "blocking restriction.")},
    "zh": {"title": "货车调度", "summary": "概要", "table": "最快路线与错峰分流对比", "plot": "各时段最大负荷",
           "map": "路段负荷", "ylabel": "peak load / capacity",
           "lines": ("共安排 {trips:,} 车次（拒绝 {refused:,}）。若每辆车都在最早时间走最快合法路线，超出大车容量的路段时段为 "
                     "{before:,} 个；错峰分流后为 {after:,} 个，行驶时间变化 {detour:+.1%}，平均延误 {delay:.1f} 分钟。"
                     "被拒绝的车次没有合法路线或没有空闲月台时段，每条拒绝都注明了受限原因。")},
}


def dispatch_report(dispatcher, assignments, *, baseline=None, title: str | None = None,
                    lang: str = "en") -> Report:
    """Report on a day of truck dispatch: summary, before/after table, peak load per slot, load map.

    Parameters
    ----------
    dispatcher : gridtools.dispatch.Dispatcher
        The dispatcher that made ``assignments`` (its load is reported).
    assignments : list of Assignment or None
        One per request (None where refused), as returned by ``dispatch.batch.assign_batch``.
    baseline : gridtools.dispatch.Dispatcher, optional
        The same requests assigned with ``mode="fastest"``: the "before" column.
    title : str, optional
    lang : {"en", "zh"}

    Returns
    -------
    Report
    """
    import geopandas as gpd
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    from gridtools.maps import dispatch_map

    words = _DISPATCH_TEXT.get(lang)
    report = Report(title or (words or {}).get("title", ""), lang=lang)
    ok = [a for a in assignments if a is not None]
    after = dispatcher.load_stats()
    before = baseline.load_stats() if baseline is not None else None
    detour = sum(a.detour_s for a in ok) / max(sum(a.fastest_time_s for a in ok), 1e-9)
    delay = float(np.mean([a.delay_s for a in ok]) / 60) if ok else 0.0
    report.add_text(words["summary"], words["lines"].format(
        trips=len(ok), refused=len(assignments) - len(ok), before=(before or after)["segment_slots_over"],
        after=after["segment_slots_over"], detour=detour, delay=delay))
    rows = {"spread": after} if before is None else {"fastest": before, "spread": after}
    report.add_table(words["table"], pd.DataFrame(rows).T.rename_axis("plan").reset_index())
    fig, ax = plt.subplots(figsize=(8, 3))
    for name, d in ([("fastest", baseline)] if baseline is not None else []) + [("spread", dispatcher)]:
        t = d.load_table()
        if len(t):
            peak = (t["load"] / t["capacity"]).groupby(t["slot_start"]).max()
            ax.plot(pd.to_datetime(peak.index), peak.to_numpy(), marker=".", label=name)
    ax.axhline(1, color="k", linestyle="--", linewidth=1)
    ax.set_ylabel(words["ylabel"] if lang == "en" or cjk_font() else _DISPATCH_TEXT["en"]["ylabel"])
    ax.legend()
    report.add_figure(words["plot"], fig)
    t = dispatcher.load_table()
    if len(t):
        net = dispatcher.network
        load = gpd.GeoDataFrame(t, geometry=list(net.segment_lines(t["segment"].to_numpy())), crs="EPSG:4326")
        report.add_map(words["map"], dispatch_map(load=load, park=dispatcher.park))
    return report
