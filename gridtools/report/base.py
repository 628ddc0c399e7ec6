"""Self-contained HTML reports: text, tables, plots and interactive maps in one file.

A report is handed to a street office as a single ``.html`` file, so it must open offline: plots are
embedded as PNG data, and maps are folium maps whose JavaScript and CSS (Leaflet, MarkerCluster,
vendored under ``gridtools/templates/vendor``) are inlined; only the basemap tiles come from the
network, and the map still draws its layers without them.

This module holds what every report section shares: the :class:`Report` container, the offline
map page (:func:`offline_map_html`), fonts (:func:`cjk_font`), the word tables of each language
(:func:`report_words`, :func:`plot_words`, :func:`localize_headers`), number formatting and the one
figure helper (:func:`new_figure`, the only place gridtools sets matplotlib's backend).  Each other
module of :mod:`gridtools.report` builds the report of one capability.

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
from dataclasses import dataclass, field
from pathlib import Path

import pandas as pd

from gridtools.errors import InputError

__all__ = ["Report", "offline_map_html", "CJK_FONTS", "cjk_font", "new_figure", "histogram", "format_number",
           "report_words", "plot_words", "ZH_HEADERS", "localize_headers"]

#: Words of the report frame in each language (section texts come from the builders).
_WORDS = {
    "en": {"made": "Made with gridtools on", "contents": "Contents"},
    "zh": {"made": "由 gridtools 生成于", "contents": "目录"},
}


# -- languages -----------------------------------------------------------------------------------


def report_words(table: dict[str, dict], lang: str) -> dict:
    """The words of one language from a builder's word table.

    Parameters
    ----------
    table : dict
        Language code -> words (``{"en": {...}, "zh": {...}}``).
    lang : str
        The language asked for.

    Returns
    -------
    dict

    Raises
    ------
    InputError
        If ``table`` has no ``lang``; the message names the ``lang`` parameter and its choices.

    Examples
    --------
    >>> report_words({"en": {"title": "Grids"}, "zh": {"title": "网格"}}, "zh")
    {'title': '网格'}
    """
    if lang not in table:
        choices = " or ".join(f"lang={code!r}" for code in table)
        raise InputError(f"unknown report language {lang!r}: pass {choices}")
    return table[lang]


def plot_words(table: dict[str, dict], lang: str) -> dict:
    """Words for plot labels: the language's own where a font here can draw them, else English.

    Where :func:`cjk_font` finds a font, it is put first in matplotlib's sans-serif list (the
    plots of the whole process then use it).

    Parameters
    ----------
    table : dict
        Language code -> words; must hold ``"en"``.
    lang : str

    Returns
    -------
    dict

    Examples
    --------
    >>> plot_words({"en": {"x": "residents"}, "zh": {"x": "居民"}}, "en")
    {'x': 'residents'}
    """
    words = report_words(table, lang)
    font = cjk_font()
    if font:
        import matplotlib

        matplotlib.rcParams["font.sans-serif"] = [font, *matplotlib.rcParams["font.sans-serif"]]
    return words if lang == "en" or font else table["en"]


#: Column headers of the incident and component tables in a Chinese report.
ZH_HEADERS = {
    "grid_code": "网格编码", "type_code": "类型编码", "name": "名称", "cases": "案件数", "open": "在办", "closed": "已结案",
    "rejected": "不予立案", "solved_in_grid": "网格内解决", "share_solved_in_grid": "网格内解决率",
    "median_hours_to_close": "结案用时中位数（小时）", "mean_hours_to_close": "平均结案用时（小时）",
    "on_time_share": "按时处置率", "overdue_now": "当前超期", "case_id": "案件号", "status": "状态", "level": "层级",
    "assignee": "承办", "stage": "环节", "due_at": "期限", "overdue_hours": "超期小时数",
    "class_code": "类别编码", "class": "类别", "components": "部件数", "all": "合计",
}


def localize_headers(table: pd.DataFrame, lang: str) -> pd.DataFrame:
    """``table`` with its column names in ``lang`` (:data:`ZH_HEADERS` for Chinese; English as they are).

    Examples
    --------
    >>> list(localize_headers(pd.DataFrame({"grid_code": [], "cases": []}), "zh").columns)
    ['网格编码', '案件数']
    """
    return table.rename(columns=ZH_HEADERS) if lang == "zh" else table


# -- fonts, numbers, figures ---------------------------------------------------------------------

#: Fonts that can draw Chinese plot labels, in order of preference.
CJK_FONTS = ("Noto Sans CJK SC", "Source Han Sans SC", "WenQuanYi Micro Hei", "WenQuanYi Zen Hei",
             "SimHei", "Microsoft YaHei", "PingFang SC", "Heiti SC")


def cjk_font() -> str | None:
    """A font installed here that draws Chinese, or None (plots then keep English labels).

    Returns
    -------
    str or None
        The first of :data:`CJK_FONTS` that matplotlib knows.

    Examples
    --------
    >>> cjk_font() in (None, *CJK_FONTS)
    True
    """
    from matplotlib import font_manager

    installed = {f.name for f in font_manager.fontManager.ttflist}
    return next((name for name in CJK_FONTS if name in installed), None)


def format_number(value: float) -> str:
    """Counts with thousands separators, shares and indices with three significant digits.

    Examples
    --------
    >>> format_number(49000.0), format_number(0.12345)
    ('49,000', '0.123')
    """
    return f"{value:,.0f}" if abs(value) >= 100 else f"{value:.3g}"


def new_figure(figsize: tuple[float, float] = (7, 3.2)):
    """A matplotlib figure and its axes, drawn off-screen.

    This is the one place gridtools sets matplotlib's backend (``Agg``, which needs no display):
    every plot of a report, and ``BacktestResult.plot``, starts here.

    Parameters
    ----------
    figsize : (float, float)
        Width and height in inches.

    Returns
    -------
    fig : matplotlib.figure.Figure
    ax : matplotlib.axes.Axes

    Examples
    --------
    >>> fig, ax = new_figure((4, 3))
    >>> fig.get_size_inches().tolist()
    [4.0, 3.0]
    """
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return plt.subplots(figsize=figsize)


def histogram(values, *, xlabel: str, ylabel: str, color: str, bins: int, range=None):
    """A one-colour histogram (white bar edges) on a :func:`new_figure` of the default size.

    Parameters
    ----------
    values : array-like of float
    xlabel, ylabel : str
    color : str
    bins : int
    range : (float, float), optional
        Lower and upper edge of the bins (default: the data's range).

    Returns
    -------
    matplotlib.figure.Figure

    Examples
    --------
    >>> fig = histogram([0.2, 0.5, 0.5], xlabel="compactness", ylabel="grids", color="#6baed6", bins=10)
    >>> fig.axes[0].get_xlabel()
    'compactness'
    """
    fig, ax = new_figure()
    ax.hist(values, bins=bins, range=range, color=color, edgecolor="white")
    ax.set_xlabel(xlabel)
    ax.set_ylabel(ylabel)
    return fig


def _figure_png(fig) -> str:
    buffer = _io.BytesIO()
    fig.savefig(buffer, format="png", dpi=110, bbox_inches="tight")
    return base64.b64encode(buffer.getvalue()).decode("ascii")


# -- maps ----------------------------------------------------------------------------------------


def offline_map_html(m) -> tuple[str, list[str]]:
    """Render a folium map to one HTML page that needs no network except for tiles.

    Leaflet and MarkerCluster are inlined from the vendored copies; other assets folium links by
    default (jQuery, Bootstrap, Font Awesome, awesome-markers) are dropped: the maps gridtools
    builds do not use them.  The names of dropped assets are returned so a caller can warn.
    This is :func:`gridtools.maps.map_page` with ``offline=True``: that function decides where
    every map page's assets come from.

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
    from gridtools.maps.base import map_page

    return map_page(m, offline=True)


# -- the container -------------------------------------------------------------------------------


@dataclass
class Report:
    """A single-file HTML report built section by section.

    Parameters
    ----------
    title : str
    lang : {"en", "zh"}
        Language of the report frame (headings given by the caller are used as they are).

    Raises
    ------
    InputError
        If ``lang`` is not a language of the report frame.

    Examples
    --------
    >>> Report("Grids").add_text("Summary", "11 grids.")
    Report('Grids', lang='en', 1 sections)
    """

    title: str
    lang: str = "en"
    sections: list[tuple[str, str]] = field(default_factory=list)

    def __post_init__(self):
        report_words(_WORDS, self.lang)

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
        body = table.to_html(index=False, border=0, classes="table", na_rep="", float_format=format_number)
        self.sections.append((heading, f"<div class='wide'>{body}</div>" + note + _caption(caption)))
        return self

    def add_figure(self, heading: str, fig, caption: str = "") -> "Report":
        """A matplotlib figure, embedded as PNG (the figure is closed afterwards)."""
        import matplotlib.pyplot as plt

        data = _figure_png(fig)
        plt.close(fig)
        self.sections.append((heading, f"<img class='plot' alt='{html.escape(heading)}' "
                                       f"src='data:image/png;base64,{data}'/>{_caption(caption)}"))
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


def _caption(text: str) -> str:
    return f"<p class='note'>{html.escape(text)}</p>" if text else ""


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
