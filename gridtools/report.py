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

__all__ = ["Report", "offline_map_html", "partition_report"]

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
        self.sections.append((heading, body + note + cap))
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
img.plot{max-width:100%} iframe.map{width:100%;border:1px solid #ccc}
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
