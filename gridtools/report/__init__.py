"""Self-contained HTML reports, one builder per capability, each returning a :class:`Report`.

:mod:`gridtools.report.base` holds the :class:`Report` container, the offline map page, fonts,
word tables and the one figure helper; :mod:`~gridtools.report.partition`,
:mod:`~gridtools.report.hotspots`, :mod:`~gridtools.report.incidents`,
:mod:`~gridtools.report.components` and :mod:`~gridtools.report.dispatch` build one report each.

Examples
--------
>>> from gridtools.report import Report, partition_report
>>> Report("Grids: all districts").extend(partition_report(grids), "Grids: ").save("report.html")   # doctest: +SKIP
PosixPath('report.html')
"""

from gridtools.report.base import Report, cjk_font, offline_map_html
from gridtools.report.components import components_report
from gridtools.report.dispatch import dispatch_report
from gridtools.report.hotspots import backtest_table, hotspot_report
from gridtools.report.incidents import case_statistics, incident_report
from gridtools.report.partition import partition_report

__all__ = ["Report", "offline_map_html", "partition_report", "hotspot_report", "incident_report", "components_report",
           "dispatch_report",
           "backtest_table", "case_statistics", "cjk_font"]
