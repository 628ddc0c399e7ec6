"""Event types, working-time deadlines and the closed-loop case store (SQLite; PostgreSQL in
test_incidents_postgres.py)."""

from __future__ import annotations

import datetime as dt
import sqlite3
import threading

import numpy as np
import pandas as pd
import pytest
from conftest import run_cli

from gridtools import settings
from gridtools.errors import InputError
from gridtools.incidents import IncidentStore, WorkCalendar, event_types, geocode

GRID_A = "32050901900200100"
GRID_B = "32050901900200200"

# --------------------------------------------------------------------------------------------
# Event types and the calendar
# --------------------------------------------------------------------------------------------


def test_shipped_event_types_cover_the_six_classes_with_names_and_deadlines():
    types = event_types()
    assert set(types["major_code"]) == {"01", "02", "03", "04", "05", "06"}
    assert set(types["major_en"]) >= {"City appearance and environment", "Advertising", "Construction management",
                                      "Emergencies", "Street order"}
    assert types["code"].is_unique and (types["code"].str.len() == 4).all()
    assert (types["code"].str[:2] == types["major_code"]).all()
    assert (types["name_zh"] != "").all() and (types["name_en"] != "").all()
    # emergencies are urgent and counted in calendar hours
    emergencies = types[types["major_code"] == "04"]
    assert emergencies["urgent"].all() and (emergencies["basis"] == "calendar").all()
    by_code = types.set_index("code")
    assert by_code.loc["0403", "name_zh"] == "井盖缺失" and by_code.loc["0403", "deadline_hours"] == 2


def test_event_types_from_a_city_file_are_checked(tmp_path):
    table = event_types()
    table.loc[3, "deadline_hours"] = -1
    table.loc[5, "basis"] = "weekly"
    path = tmp_path / "types.csv"
    table.to_csv(path, index=False)
    with pytest.raises(InputError, match="deadline_hours.*row 4"):
        event_types(path)
    table = event_types()
    table.loc[1, "code"] = table.loc[0, "code"]
    table.to_csv(path, index=False)
    with pytest.raises(InputError, match="duplicate"):
        event_types(path)


def test_working_calendar_skips_nights_weekends_and_holidays_and_counts_makeup_days():
    cal = WorkCalendar(periods=(("08:30", "12:00"), ("13:30", "17:30")))
    friday = dt.datetime(2026, 9, 25, 17, 0)
    # 0.5 h on Friday, Monday 08:30-12:00 is 3.5 h -> 4 h ends 12:00 Monday
    assert cal.add(friday, 4) == dt.datetime(2026, 9, 28, 12, 0)
    # at lunch time the clock is stopped
    assert cal.add(dt.datetime(2026, 9, 28, 12, 30), 1) == dt.datetime(2026, 9, 28, 14, 30)
    # National Day week off, Sunday 27 Sep a make-up working day
    holidays = frozenset(dt.date(2026, 10, d) for d in range(1, 8))
    cal2 = WorkCalendar(periods=cal.periods, holidays=holidays, workdays=frozenset({dt.date(2026, 9, 27)}))
    assert cal2.add(friday, 4) == dt.datetime(2026, 9, 27, 12, 0)
    assert cal2.add(dt.datetime(2026, 9, 30, 17, 0), 1) == dt.datetime(2026, 10, 8, 9, 0)
    assert cal2.hours_between(dt.datetime(2026, 9, 30, 17, 0), dt.datetime(2026, 10, 8, 9, 0)) == pytest.approx(1.0)


# --------------------------------------------------------------------------------------------
# The loop
# --------------------------------------------------------------------------------------------


@pytest.fixture
def store(tmp_path):
    cal = WorkCalendar(periods=(("09:00", "12:00"), ("13:00", "17:00")))
    with IncidentStore(tmp_path / "cases.sqlite", calendar=cal) as s:
        yield s


def test_full_loop_timestamps_deadline_and_log(store):
    case = store.report("0104", grid_code=GRID_A, lon=120.6, lat=31.1, at="2026-11-23 09:00", description="mud")
    store.register(case, at="2026-11-23 09:05")
    store.dispatch(case, at="2026-11-23 09:10")
    row = store.cases().iloc[0]
    # dirty road: 5 working hours from 09:10 -> 2h50 before lunch, 2h10 after -> 15:10
    assert row["deadline_at"] == "2026-11-23 15:10:00"
    assert row["assignee"] == f"grid:{GRID_A}"
    assert row["community_code"] == GRID_A[:12] and row["street_code"] == GRID_A[:9]
    store.handle(case, at="2026-11-23 11:00")
    store.verify(case, at="2026-11-23 11:30")
    store.close_case(case, at="2026-11-23 11:40")
    row = store.cases().iloc[0]
    assert row["status"] == "closed" and row["resolution"] == "solved"
    assert store.log(case)["action"].tolist() == ["report", "register", "dispatch", "handle", "verify", "close"]
    with pytest.raises(InputError, match="case 1 is closed"):
        store.handle(case, at="2026-11-23 12:00")


def test_invalid_steps_unknown_types_and_times(store):
    with pytest.raises(InputError, match="unknown event type '9999'"):
        store.report("9999", at="2026-11-23 09:00")
    case = store.report("0201", grid_code=GRID_A, at="2026-11-23 09:00")
    with pytest.raises(InputError, match="the step 'dispatch' needs a case that is registered"):
        store.dispatch(case, at="2026-11-23 09:10")
    with pytest.raises(InputError, match="before its report"):
        store.register(case, at="2026-11-23 08:00")
    outside = store.report("0201", at="2026-11-23 09:00")  # no grid: must name a department
    store.register(outside, at="2026-11-23 09:01")
    with pytest.raises(InputError, match="outside every grid"):
        store.dispatch(outside, at="2026-11-23 09:02")
    store.dispatch(outside, to="Urban management enforcement", at="2026-11-23 09:02")
    rejected = store.report("0699", grid_code=GRID_A, at="2026-11-23 09:00")
    store.register(rejected, accept=False, at="2026-11-23 09:03")
    assert store.cases().set_index("case_id").loc[rejected, "status"] == "rejected"


def test_rework_overdue_escalation_and_grid_stats(store):
    # A: solved in the grid, on time
    a = store.report("0102", grid_code=GRID_A, at="2026-11-23 09:00")  # exposed garbage, 4 working h
    store.register(a, at="2026-11-23 09:02"); store.dispatch(a, at="2026-11-23 09:05")
    store.handle(a, at="2026-11-23 10:00"); store.verify(a, at="2026-11-23 10:30"); store.close_case(a, at="2026-11-23 11:00")
    # B: verification fails once (rework), then solved
    b = store.report("0102", grid_code=GRID_A, at="2026-11-23 09:00")
    store.register(b, at="2026-11-23 09:02"); store.dispatch(b, at="2026-11-23 09:05")
    store.handle(b, at="2026-11-23 10:00"); store.verify(b, ok=False, at="2026-11-23 10:30")
    assert store.cases().set_index("case_id").loc[b, "status"] == "dispatched"
    store.handle(b, at="2026-11-23 11:00"); store.verify(b, at="2026-11-23 11:10"); store.close_case(b, at="2026-11-23 12:00")
    # C: in grid B, never handled -> overdue at 14:10 (deadline 4 working h from 09:05 = 14:05)
    c = store.report("0102", grid_code=GRID_B, at="2026-11-23 09:00")
    store.register(c, at="2026-11-23 09:02"); store.dispatch(c, at="2026-11-23 09:05")
    # D: urgent burst pipe reported, not registered: dispatch limit 10 minutes
    d = store.report("0404", grid_code=GRID_B, at="2026-11-23 14:00")
    late = store.overdue("2026-11-23 14:10").set_index("case_id")
    assert set(late.index) == {c}
    assert late.loc[c, "stage"] == "handling" and late.loc[c, "overdue_hours"] == pytest.approx(5 / 60, abs=1e-3)
    late = store.overdue("2026-11-23 14:20").set_index("case_id")
    assert set(late.index) == {c, d} and late.loc[d, "stage"] == "dispatch"
    assert settings.incident_dispatch_minutes_urgent == 10
    # escalation: C goes to the community with a new deadline; again later to the street
    assert store.escalate("2026-11-23 14:20") == [c]
    row = store.cases().set_index("case_id").loc[c]
    assert row["level"] == "community" and row["assignee"] == f"community:{GRID_B[:12]}"
    assert row["escalations"] == 1 and row["deadline_at"] == "2026-11-24 10:20:00"  # 4 working hours later
    assert store.escalate("2026-11-23 15:00") == []  # not overdue again yet
    assert store.escalate("2026-11-24 10:30") == [c]
    assert store.cases().set_index("case_id").loc[c, "level"] == "street"
    assert store.escalate("2026-11-25 17:00") == []  # street is the top: stays overdue
    assert c in store.overdue("2026-11-25 17:00")["case_id"].tolist()
    store.handle(c, at="2026-11-25 17:00"); store.verify(c, at="2026-11-25 17:10"); store.close_case(c, at="2026-11-25 17:20")
    stats = store.grid_stats("2026-11-25 17:30")
    assert stats.loc[GRID_A, "closed"] == 2 and stats.loc[GRID_A, "share_solved_in_grid"] == 1.0
    assert stats.loc[GRID_A, "median_hours_to_close"] == pytest.approx(2.5)  # 2 h and 3 h
    assert stats.loc[GRID_A, "on_time_share"] == 1.0
    assert stats.loc[GRID_B, "closed"] == 1 and stats.loc[GRID_B, "share_solved_in_grid"] == 0.0
    assert stats.loc[GRID_B, "on_time_share"] == 0.0
    assert stats.loc[GRID_B, "open"] == 1 and stats.loc[GRID_B, "overdue_now"] == 1  # D never dispatched


def test_store_is_a_real_database_that_survives_reopening(tmp_path):
    path = tmp_path / "cases.sqlite"
    with IncidentStore(path) as s:
        case = s.report("0601", grid_code=GRID_A, at="2026-11-23 09:00")
        s.set_calendar_days(holidays=["2026-11-24"])
    with sqlite3.connect(path) as db:  # readable by any SQLite tool
        assert db.execute("SELECT status FROM cases WHERE case_id = ?", (case,)).fetchone() == ("reported",)
    with IncidentStore(path) as s:
        assert dt.date(2026, 11, 24) in s.calendar.holidays
        s.register(case, at="2026-11-23 16:00")
        s.dispatch(case, at="2026-11-23 16:00")
        # street lamps out: 8 working hours (08:30-12:00, 13:30-17:30 default); the 24th is a holiday
        # 1.5 h on the 23rd, 3.5 h on the morning of the 25th, 3 h after lunch -> 16:30
        assert s.cases().loc[0, "deadline_at"] == "2026-11-25 16:30:00"


def check_concurrent_imports_and_steps(target) -> None:
    """Two stores (two supervisors' sessions) import at once and race to register the same cases:
    distinct ids, each report logged under its own id, each case registered exactly once."""
    IncidentStore(target).close()  # create the tables once
    table = pd.DataFrame({"type": ["0601"] * 300, "time": ["2026-11-23 09:00"] * 300, "grid_code": GRID_A})
    results, errors = {}, []

    def importer(name):
        try:
            with IncidentStore(target) as s:
                results[name] = s.report_many(table, type_col="type", time_col="time", source=name)
        except Exception as exc:  # pragma: no cover - reported below
            errors.append(exc)

    threads = [threading.Thread(target=importer, args=(n,)) for n in ("a", "b")]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert not errors
    ids = np.concatenate([results["a"], results["b"]])
    assert len(set(ids.tolist())) == 600
    with IncidentStore(target) as s:
        log = s.log()
        cases = s.cases()
    # every case's report step is logged under its own id and source
    first = log[log["action"] == "report"].set_index("case_id")["actor"]
    assert first.loc[results["a"]].eq("a").all() and first.loc[results["b"]].eq("b").all()
    assert len(cases) == 600

    # both sessions register the same 50 cases: each case is registered exactly once
    wins, refused = [], []

    def registrar():
        with IncidentStore(target) as s:
            for case in results["a"][:50]:
                try:
                    s.register(int(case), at="2026-11-23 09:10")
                    wins.append(case)
                except InputError:
                    refused.append(case)

    threads = [threading.Thread(target=registrar) for _ in range(2)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert sorted(wins) == sorted(results["a"][:50].tolist()) and len(refused) == 50
    with IncidentStore(target) as s:
        steps = s.log()
    assert (steps["action"] == "register").sum() == 50


def test_sqlite_concurrent_imports_and_steps(tmp_path):
    check_concurrent_imports_and_steps(tmp_path / "cases.sqlite")


def test_report_many_from_geocode_output(store):
    import geopandas as gpd
    import shapely

    grids = gpd.GeoDataFrame({"grid_code": [GRID_A, GRID_B]},
                             geometry=[shapely.box(120.60, 31.30, 120.61, 31.31), shapely.box(120.61, 31.30, 120.62, 31.31)],
                             crs=4326)
    events = pd.DataFrame({"id": ["e1", "e2", "e3"], "type": ["0104", "0501", "0102"],
                           "time": ["2026-11-23 09:00", "2026-11-23 09:30", "2026-11-23 10:00"],
                           "lng": ["120.605", "120.615", "121.0"], "lat": ["31.305", "31.305", "31.0"]})
    located = geocode(events, grids, lon="lng", lat="lat", crs="wgs84").table
    ids = store.report_many(located, type_col="type", time_col="time", lon="lng", lat="lat", id_col="id")
    cases = store.cases().set_index("case_id").loc[ids]
    assert cases["grid_code"].tolist()[:2] == [GRID_A, GRID_B] and pd.isna(cases["grid_code"].iloc[2])
    assert cases["external_id"].tolist() == ["e1", "e2", "e3"]
    assert cases["community_code"].tolist()[:2] == [GRID_A[:12], GRID_B[:12]]
    assert cases["lon"].tolist() == [120.605, 120.615, 121.0]
    assert len(store.log()) == 3
    bad = events.assign(type=["0104", "xx", "0102"])
    with pytest.raises(InputError, match="row 2"):
        store.report_many(bad, type_col="type", time_col="time")
    with pytest.raises(InputError, match="time_col="):
        store.report_many(events, type_col="type", time_col="when")


def test_cli_import_step_overdue_escalate_stats(tmp_path, capsys):
    check_cli_workflow(tmp_path, capsys, tmp_path / "cases.sqlite")


def check_cli_workflow(tmp_path, capsys, db) -> None:
    """import -> step -> overdue -> escalate -> stats through the CLI, on a fresh database *db*."""
    def run(*args):
        return run_cli(args, capsys, collapse=False)

    events = tmp_path / "geocoded.csv"
    events.write_text(
        "id,type,time,grid_code,street_code,community_code,geocode_flag\n"
        f"e1,0104,2026-11-23 09:00,{GRID_A},{GRID_A[:9]},{GRID_A[:12]},\n"
        "e2,0404,2026-11-23 09:30,,,,outside_grids\n", encoding="utf-8")
    assert run("incidents", "import", db, events, "--type", "type", "--time", "time", "--id", "id")[0] == 0
    assert run("incidents", "step", db, 1, "register", "--at", "2026-11-23 09:05")[0] == 0
    code, text = run("incidents", "step", db, 1, "dispatch", "--at", "2026-11-23 09:06")
    assert code == 0 and f"grid:{GRID_A}" in text
    code, text = run("incidents", "step", db, 1, "close", "--at", "2026-11-23 09:07")
    assert code == 2 and "verified" in text
    code, text = run("incidents", "overdue", db, "--now", "2026-11-23 17:00", "-o", tmp_path / "late.csv")
    late = pd.read_csv(tmp_path / "late.csv")
    assert sorted(late["case_id"]) == [1, 2] and set(late["stage"]) == {"dispatch", "handling"}
    code, text = run("incidents", "escalate", db, "--now", "2026-11-23 17:00")
    assert code == 0 and "escalated 1 case(s): 1" in text
    code, text = run("incidents", "stats", db, "-o", tmp_path / "stats.csv")
    stats = pd.read_csv(tmp_path / "stats.csv", dtype={"grid_code": str})
    assert set(stats["grid_code"]) == {GRID_A, "(outside grids)"} and stats["cases"].sum() == 2
    code, text = run("incidents", "types", "-o", tmp_path / "types.csv")
    assert len(pd.read_csv(tmp_path / "types.csv")) == len(event_types())
    import json

    assert run("incidents", "open311", db, "-o", tmp_path / "requests.json")[0] == 0
    requests = json.loads((tmp_path / "requests.json").read_text(encoding="utf-8"))
    assert [r["service_request_id"] for r in requests] == ["1", "2"]
    assert run("incidents", "open311", db, "--services", "--language", "zh", "-o", tmp_path / "s.json")[0] == 0
    assert json.loads((tmp_path / "s.json").read_text(encoding="utf-8"))[0]["group"] == "市容环境"


# --------------------------------------------------------------------------------------------
# Offline address look-up (real OSM roads of Huangpu, Shanghai)
# --------------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def huangpu_roads():
    from conftest import shared_data

    from gridtools import io

    return io.read_any(shared_data("china", "shanghai_huangpu_osm", "shanghai_huangpu_drive.osm"), layer="lines")


def test_address_lookup_on_real_roads(huangpu_roads):
    import numpy as np
    import shapely

    from gridtools.incidents.gazetteer import build_gazetteer, lookup

    gaz = build_gazetteer(huangpu_roads)
    found = lookup(["西藏中路与福州路交叉口", "九江路/河南中路路口", "上海市黄浦区汉口路200号", "福州路１００号（近山东中路）",
                    "河南路100号", "火星基地"], gaz)
    assert found["match_kind"].tolist() == ["intersection", "intersection", "road", "road", "", ""]
    assert found["match_note"].tolist()[4:] == ["ambiguous", "not found"]  # 河南中路 / 河南南路 tie
    # independent check against the raw OSM ways: a crossing lies on both roads, a road point on it
    metric = huangpu_roads.to_crs(32651)
    pts = gpd_points(found, 32651)

    def dist(i, road):
        return float(shapely.distance(pts[i], metric.loc[metric["name"] == road].union_all()))

    assert dist(0, "西藏中路") < 20 and dist(0, "福州路") < 20
    assert dist(1, "九江路") < 20 and dist(1, "河南中路") < 20
    assert dist(2, "汉口路") < 1 and dist(3, "福州路") < 1
    assert np.isnan(found.loc[5, "lon"])


def test_add_matches_and_read_gazetteer():
    import geopandas as gpd
    import shapely

    from conftest import shared_data
    from gridtools.incidents.gazetteer import add_matches, build_gazetteer, read_gazetteer

    roads = gpd.GeoDataFrame({"name": ["福州路", "河南中路"]}, geometry=[
        shapely.LineString([(121.47, 31.235), (121.49, 31.235)]),
        shapely.LineString([(121.485, 31.23), (121.485, 31.24)])], crs=4326)
    events = pd.DataFrame({"id": ["1", "2"], "addr": ["福州路与河南中路交叉口", "火星基地"]})
    events.attrs["source"] = "reports.csv"
    located = add_matches(events, "addr", build_gazetteer(roads))
    assert list(located.columns) == ["id", "addr", "match_lon", "match_lat", "match_kind", "match_name",
                                     "match_score", "match_note"]
    assert located["match_lon"].tolist() == [repr(121.485), ""] and located["match_note"][1] == "not found"
    assert "match_lon" not in events.columns  # the input is left alone
    with pytest.raises(InputError, match="reports.csv already has column\\(s\\) match_lon"):
        add_matches(located.drop(columns="match_kind"), "addr", build_gazetteer(roads))
    with pytest.raises(InputError, match="'address'"):
        add_matches(events, "address", build_gazetteer(roads))
    # an OSM file: roads (lines) and named points together
    osm = read_gazetteer(shared_data("china", "shanghai_huangpu_osm", "shanghai_huangpu_drive.osm"))
    assert {"福州路", "河南中路"} <= set(osm.names.loc[osm.names["kind"] == "road", "name"])
    with pytest.raises(InputError, match="'名称'"):
        read_gazetteer(shared_data("china", "shanghai_huangpu_osm", "shanghai_huangpu_drive.osm"), name="名称")


def gpd_points(found, crs):
    import geopandas as gpd

    return gpd.GeoSeries(gpd.points_from_xy(found["lon"], found["lat"]), crs=4326).to_crs(crs).to_numpy()


def test_cli_addresses_then_geocode(tmp_path, capsys, huangpu_roads):
    import geopandas as gpd
    import shapely

    from conftest import shared_data
    from gridtools import io
    from gridtools.cli import main

    events = tmp_path / "reports.csv"
    events.write_text("id,地址\n1,西藏中路与福州路交叉口\n2,汉口路200号\n3,不知道哪里\n", encoding="utf-8")
    located = tmp_path / "located.csv"
    osm = shared_data("china", "shanghai_huangpu_osm", "shanghai_huangpu_drive.osm")
    with pytest.raises(SystemExit) as info:
        main(["incidents", "addresses", str(events), "--address", "地址", "--gazetteer", str(osm), "-o", str(located)])
    assert info.value.code == 0, capsys.readouterr()
    table = pd.read_csv(located, dtype=str, keep_default_na=False)
    assert table["match_kind"].tolist() == ["intersection", "road", ""]
    assert table["地址"].tolist() == ["西藏中路与福州路交叉口", "汉口路200号", "不知道哪里"]
    # two grids splitting the district at 121.475 E: the crossing is west, Hankou Road mostly east
    x0, y0, x1, y1 = huangpu_roads.total_bounds
    grids = gpd.GeoDataFrame({"grid_code": ["31010100100100100", "31010100100100200"]},
                             geometry=[shapely.box(x0, y0, 121.475, y1), shapely.box(121.475, y0, x1, y1)], crs=4326)
    io.write_any(grids, tmp_path / "grids.gpkg", layer="grids")
    out = tmp_path / "out.csv"
    with pytest.raises(SystemExit) as info:
        main(["geocode", str(located), "--grids", str(tmp_path / "grids.gpkg"), "--lon", "match_lon",
              "--lat", "match_lat", "--crs", "wgs84", "-o", str(out)])
    assert info.value.code == 0
    result = pd.read_csv(out, dtype=str, keep_default_na=False)
    lon = pd.to_numeric(table["match_lon"])
    expect = ["31010100100100100" if v < 121.475 else "31010100100100200" for v in lon[:2]]
    assert result["grid_code"].tolist() == [*expect, ""] and result["geocode_flag"][2] == "missing"


def test_open311_export(store):
    from gridtools.incidents.workflow import open311_requests, open311_services

    services = open311_services(store)
    assert len(services) == len(event_types())
    road = next(s for s in services if s["service_code"] == "0104")
    assert road["service_name"] == "Dirty road" and road["group"] == "City appearance and environment"
    assert "5 working hours" in road["description"]
    a = store.report("0104", grid_code=GRID_A, lon=120.6, lat=31.1, at="2026-11-23 09:00", description="mud")
    store.register(a, at="2026-11-23 09:05"); store.dispatch(a, at="2026-11-23 09:10")
    b = store.report("0699", at="2026-11-23 10:00")
    store.register(b, accept=False, at="2026-11-23 10:01")
    req = {r["service_request_id"]: r for r in open311_requests(store)}
    assert req[str(a)]["status"] == "open" and req[str(a)]["status_notes"] == "dispatched"
    assert req[str(a)]["requested_datetime"] == "2026-11-23T09:00:00+08:00"
    assert req[str(a)]["updated_datetime"] == "2026-11-23T09:10:00+08:00"
    assert req[str(a)]["expected_datetime"] == "2026-11-23T15:10:00+08:00"
    assert req[str(a)]["agency_responsible"] == f"grid:{GRID_A}" and req[str(a)]["lat"] == 31.1
    assert req[str(b)]["status"] == "closed" and "rejected" in req[str(b)]["status_notes"]
    assert req[str(b)]["lat"] is None and req[str(b)]["expected_datetime"] is None


def test_incident_map_colours_grids_by_cases(store, tmp_path):
    import geopandas as gpd
    import shapely

    from gridtools.maps import incident_map, save_map

    grids = gpd.GeoDataFrame({"grid_code": [GRID_A, GRID_B]},
                             geometry=[shapely.box(120.60, 31.30, 120.61, 31.31), shapely.box(120.61, 31.30, 120.62, 31.31)],
                             crs=4326)
    for _ in range(3):
        store.report("0104", grid_code=GRID_A, lon=120.605, lat=31.305, at="2026-11-23 09:00")
    events = gpd.GeoDataFrame({"grid_code": [GRID_A]}, geometry=[shapely.Point(120.605, 31.305)], crs=4326)
    m = incident_map(grids, store.grid_stats("2026-11-23 10:00"), events=events)
    html = save_map(m, tmp_path / "m.html").read_text(encoding="utf-8")
    assert "#a63603" in html  # the busiest grid gets the darkest colour
    assert "#fff5eb" in html  # a grid without cases the lightest
    assert "Events (1 shown of 1)" in html
