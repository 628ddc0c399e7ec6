"""The report on a day of truck dispatch: before/after spreading, peak load per slot, load map.

Examples
--------
>>> from gridtools.report import dispatch_report
>>> dispatch_report(dispatcher, assignments, baseline=fastest).save("report.html")   # doctest: +SKIP
PosixPath('report.html')
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from gridtools.report.base import Report, new_figure, plot_words, report_words

__all__ = ["dispatch_report"]

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

    from gridtools.maps import dispatch_map

    words = report_words(_DISPATCH_TEXT, lang)
    report = Report(title or words["title"], lang=lang)
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
    fig, ax = new_figure((8, 3))
    for name, d in ([("fastest", baseline)] if baseline is not None else []) + [("spread", dispatcher)]:
        t = d.load_table()
        if len(t):
            peak = (t["load"] / t["capacity"]).groupby(t["slot_start"]).max()
            ax.plot(pd.to_datetime(peak.index), peak.to_numpy(), marker=".", label=name)
    ax.axhline(1, color="k", linestyle="--", linewidth=1)
    ax.set_ylabel(plot_words(_DISPATCH_TEXT, lang)["ylabel"])
    ax.legend()
    report.add_figure(words["plot"], fig)
    t = dispatcher.load_table()
    if len(t):
        net = dispatcher.network
        load = gpd.GeoDataFrame(t, geometry=list(net.segment_lines(t["segment"].to_numpy())), crs="EPSG:4326")
        report.add_map(words["map"], dispatch_map(load=load, park=dispatcher.park))
    return report
