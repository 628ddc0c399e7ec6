"""The accident section of ``gridtools report hotspots`` (issue 14): counts by hour x day type, road class
and light condition with the source's labels, checked against pandas on a real Paris slice, and the
sub-day backtest table from a backtest folder."""

from __future__ import annotations

import html
import re

import geopandas as gpd
import numpy as np
import pandas as pd
import pytest
from conftest import run_cli, shared_data

from gridtools.errors import InputError
from gridtools.report.accidents import (
    CODE_LABELS,
    accident_counts,
    accident_report,
    subday_backtest_report,
)


@pytest.fixture(scope="module")
def paris_2019(tmp_path_factory):
    """Paris road injury accidents of 2019 (BAAC), as the file has them (rows without coordinates too)."""
    raw = pd.read_csv(shared_data("accidents", "paris", "paris_accidents_2016_2020.csv.gz"), dtype=str)
    year = raw[raw["datetime"].str.startswith("2019")].reset_index(drop=True)
    path = tmp_path_factory.mktemp("paris") / "paris_2019.csv"
    year.to_csv(path, index=False)
    return year, path


def _table_after(page: str, heading: str) -> pd.DataFrame:
    """The first HTML table after *heading* in a report page (numbers as numbers where they read so)."""
    at = re.search(r"<h2[^>]*>" + re.escape(html.escape(heading, quote=False)), page).end()
    body = page[page.index("<table", at):page.index("</table>", at)]
    cell = re.compile(r"<t[hd][^>]*>(.*?)</t[hd]>", re.S)
    rows = [[html.unescape(c).strip() for c in cell.findall(r)] for r in re.findall(r"<tr[^>]*>(.*?)</tr>", body, re.S)]
    table = pd.DataFrame(rows[1:], columns=rows[0])
    for column in table.columns:
        numbers = pd.to_numeric(table[column], errors="coerce")
        if numbers.notna().all():
            table[column] = numbers
    return table


def test_paris_counts_by_hour_day_type_road_class_and_light_match_the_file(paris_2019):
    year, _ = paris_2019
    page = accident_report(year, time="datetime", road_col="road_category", light_col="light", codes="baac").to_html()
    stamps = pd.to_datetime(year["datetime"])
    weekend = stamps.dt.day_of_week >= 5
    hours = _table_after(page, "Accidents by hour of day and day type: counts")
    assert hours["working day"].sum() + hours["weekend or holiday"].sum() == len(year)
    assert hours["working day"].tolist() == [int(((stamps.dt.hour == h) & ~weekend).sum()) for h in range(24)]
    assert hours["weekend or holiday"].tolist() == [int(((stamps.dt.hour == h) & weekend).sum()) for h in range(24)]
    n_working = int((pd.date_range("2019-01-01", "2019-12-31").day_of_week < 5).sum())
    assert hours.iloc[8, 3] == pytest.approx(hours.iloc[8, 1] / n_working, abs=1e-3)   # per working day at 08:00
    roads = _table_after(page, "Accidents by road class (road_category): counts")
    expected = pd.to_numeric(year["road_category"]).astype(int).value_counts()
    labels = CODE_LABELS["baac"]["road_category"]
    assert dict(zip(roads["label"], roads["accidents"])) == {labels[k]: v for k, v in expected.items()}
    assert roads["label"].iloc[0] == "communal road"              # Paris: almost all on communal roads
    light = _table_after(page, "Accidents by light condition (light): counts")
    assert dict(zip(light["label"], light["accidents"])) == {
        CODE_LABELS["baac"]["light"][int(k)]: v for k, v in year["light"].value_counts().items()}
    assert page.count("data:image/png;base64,") == 3 and not re.search(r"""(src|href)=["']https?://""", page)


def test_codes_without_a_label_and_empty_values_are_shown_not_dropped():
    counts = accident_counts(pd.Series(["4", "8", "", "4"]), CODE_LABELS["baac"]["road_category"])
    assert counts.values.tolist() == [["4", "communal road", 2, 0.5], ["8", "8", 1, 0.25], ["", "not recorded", 1, 0.25]]


def test_bad_times_are_refused_with_rows_named():
    acc = pd.DataFrame({"t": ["2019-06-03 08:10", "03/06/2019 09:00", "2019-06-05 10:00"]})
    with pytest.raises(InputError, match="row 2"):
        accident_report(acc, time="t")
    with pytest.raises(InputError, match="no time of day"):
        accident_report(pd.DataFrame({"t": ["2019-06-03", "2019-06-04"]}), time="t")
    with pytest.raises(InputError, match="road_col"):
        accident_report(acc.iloc[:1], time="t", road_col="road")


def test_subday_backtest_table_shows_pooled_pai_and_the_gain_interval():
    summary = pd.DataFrame({"method": ["naive_all", "profile"], "coverage": 0.02, "pai": [4.53, 4.64],
                            "pai_ci_low": [4.1, 4.2], "pai_ci_high": [5.0, 5.1], "hit_rate": [0.09, 0.093],
                            "pei": [0.3, 0.31], "best_naive": "naive_all", "gain_vs_best_naive": [0.0, 0.023],
                            "gain_ci_low": [0.0, -0.02], "gain_ci_high": [0.0, 0.069]})
    by_hour = pd.DataFrame({"method": ["profile"] * 2, "coverage": 0.02, "hour": [0, 2], "pai": [3.0, 5.0]})
    page = subday_backtest_report(summary, by_hour, {"folds": 104, "windows": 84, "horizon_hours": 2,
                                                     "start": "2019-01-01 00:00"}).to_html()
    table = _table_after(page, "Sub-day backtest: pooled over 8,736 windows of 2 h (104 cutoffs")
    assert table["method"].tolist() == ["profile", "naive_all"]
    assert table.iloc[0]["gain over naive_all"] == "+2.3%" and table.iloc[0]["gain 95% interval"] == "-2.0% – +6.9%"
    assert "PAI at 2% of the area by hour of day" in page


@pytest.mark.slow
def test_report_hotspots_cli_on_a_paris_sub_day_backtest_with_the_accident_section(paris_2019, tmp_path, capsys):
    _, path = paris_2019
    folder = tmp_path / "bt"
    code, text = run_cli(["hotspots", "backtest", path, "--time", "datetime", "--lon", "lon", "--lat", "lat",
                          "--area", "hull", "--cell", "500", "--start", "2019-06-03 00:00", "--folds", "2",
                          "--step-days", "7", "--horizon-hours", "2", "--windows", "84", "--methods", "profile",
                          "-o", folder], capsys)
    assert code == 0, text
    forecast = tmp_path / "week.gpkg"
    code, text = run_cli(["hotspots", "predict", path, "--time", "datetime", "--lon", "lon", "--lat", "lat",
                          "--area", "hull", "--cell", "500", "--cutoff", "2019-12-02 05:00", "--horizon-hours", "2",
                          "--windows", "12", "-o", forecast], capsys)
    assert code == 0, text
    out = tmp_path / "report.html"
    code, text = run_cli(["report", "hotspots", folder, "--cells", forecast, "--events", path, "--time", "datetime",
                          "--road-col", "road_category", "--light-col", "light", "--codes", "baac", "-o", out], capsys)
    assert code == 0, text
    page = out.read_text()
    per_window = gpd.read_file(forecast, layer="window_patrol_areas")
    shown_areas = _table_after(page, "Patrol areas of each window (the riskiest 2% of the area)")
    assert shown_areas["patrol areas"].tolist() == per_window.groupby("window_start").size().tolist()
    assert len(shown_areas) == 12 and "gridtools-window-slider" in page
    summary = pd.read_csv(folder / "summary.csv")
    shown = _table_after(page, "Sub-day backtest: pooled over 168 windows of 2 h (2 cutoffs from 2019-06-03 00:00)")
    at2 = summary[np.isclose(summary["coverage"], 0.02)].set_index("method")["pai"]
    table2 = shown[shown["area"] == "2%"].set_index("method")["PAI"]
    assert {m: f"{v:.2f}" for m, v in at2.items()} == {m: f"{v:.2f}" for m, v in table2.items()}
    assert "communal road" in page and "night, lit" in page
    code, text = run_cli(["report", "hotspots", "--events", path, "-o", out], capsys)
    assert code != 0 and "--events needs --time" in text and "Traceback" not in text
    code, text = run_cli(["report", "hotspots", "--events", path, "--time", "datetime", "--codes", "insee",
                          "-o", out], capsys)
    assert code != 0 and "--codes insee is neither a known source ('baac')" in text
