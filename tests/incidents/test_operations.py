"""The states beyond the six steps (suspend / resume / postpone / reassign), duplicates, routing,
role rules and the GB/T 30428.4-style assessment with hand-computed answers."""

from __future__ import annotations

import geopandas as gpd
import pandas as pd
import pytest
import shapely
from conftest import run_cli

from gridtools import coords
from gridtools.errors import InputError
from gridtools.incidents import IncidentStore, WorkCalendar
from gridtools.incidents.access import (
    ForbiddenError,
    NotFoundError,
    TokenStore,
    can_see,
)
from gridtools.incidents.assess import assess, load_weights
from gridtools.incidents.duplicates import (
    merge_duplicate,
    merged_reporters,
    suggest_duplicates,
)
from gridtools.incidents.routing import ReportRouter

GRID_A, GRID_B = "32050901900200100", "32050901900300100"
CAL = WorkCalendar(periods=(("09:00", "12:00"), ("13:00", "17:00")))
MON, TUE, WED = "2026-11-23", "2026-11-24", "2026-11-25"


@pytest.fixture
def store(tmp_path):
    with IncidentStore(tmp_path / "cases.sqlite", calendar=CAL) as s:
        yield s


def _dispatched(store, at=f"{MON} 09:00", grid=GRID_A, lon=120.605, lat=31.305, type_code="0104"):
    case = store.report(type_code, grid_code=grid, at=at, lon=lon, lat=lat)
    store.register(case, at=at)
    store.dispatch(case, at=at)
    return case


def test_suspend_stops_the_clock_postpone_and_reassign(store):
    case = _dispatched(store)
    assert store.case(case)["deadline_at"] == f"{MON} 15:00:00"  # 5 working hours
    store.suspend(case, reason="waiting for the power company", at=f"{MON} 10:00")
    assert store.case(case)["status"] == "suspended" and store.overdue(f"{WED} 09:00").empty
    store.resume(case, at=f"{TUE} 11:00")
    # suspended Mon 10-12, 13-17 and Tue 9-11: 8 working hours added to Mon 15:00
    after = store.case(case)
    assert after["status"] == "dispatched" and after["deadline_at"] == f"{TUE} 16:00:00"
    assert after["suspended_hours"] == 25.0
    store.postpone(case, hours=2, reason="road closed for a parade", at=f"{TUE} 12:00")
    assert store.case(case)["deadline_at"] == f"{WED} 10:00:00" and store.case(case)["postponements"] == 1
    store.reassign(case, to="department:Sanitation", reason="a sanitation job", at=f"{TUE} 12:30")
    after = store.case(case)
    assert after["assignee"] == "department:Sanitation" and after["reassignments"] == 1
    assert after["deadline_at"] == f"{WED} 10:00:00"  # the clock does not restart
    assert store.log(case)["action"].tolist() == ["report", "register", "dispatch", "suspend", "resume",
                                                  "postpone", "reassign"]
    with pytest.raises(InputError, match="needs a reason"):
        store.postpone(case, hours=1, reason=" ")
    fresh = store.report("0104", grid_code=GRID_A, at=f"{MON} 09:00")
    with pytest.raises(InputError, match="reported"):
        store.suspend(fresh, reason="x", at=f"{MON} 09:30")
    with pytest.raises(InputError, match="only a suspended case"):
        store.resume(fresh)


def test_duplicates_are_suggested_within_the_window_and_merged_on_request(store):
    first = _dispatched(store)
    lon2, lat2 = 120.605 + 20 / 95_000, 31.305  # about 20 m east
    near = store.report("0104", grid_code=GRID_A, at=f"{MON} 10:00", lon=lon2, lat=lat2, reporter="public:wu")
    far = store.report("0104", grid_code=GRID_A, at=f"{MON} 10:00", lon=120.606, lat=31.305)  # ~95 m
    other_type = store.report("0501", grid_code=GRID_A, at=f"{MON} 10:00", lon=lon2, lat=lat2)
    found = suggest_duplicates(store, near)
    assert found["case_id"].tolist() == [first] and 18 < found["distance_m"].iloc[0] < 22
    assert suggest_duplicates(store, far).empty and suggest_duplicates(store, other_type).empty
    late = store.report("0104", grid_code=GRID_A, at=f"{TUE} 09:30", lon=lon2, lat=lat2)  # 24.5 h after first
    assert suggest_duplicates(store, late)["case_id"].tolist() == [near]  # near is within 24 h of late
    assert len(store.cases()) == 5 and store.case(near)["status"] == "reported"  # nothing merged by itself
    merge_duplicate(store, near, into=first, at=f"{MON} 10:30", actor="dispatcher:wang")
    merged = store.case(near)
    assert merged["status"] == "closed" and merged["resolution"] == "duplicate" and merged["merged_into"] == first
    assert merged_reporters(store, first)["case_id"].tolist() == [first, near]
    with pytest.raises(InputError, match="merge into an open case"):
        merge_duplicate(store, far, into=near)


def test_routing_to_grid_head_or_component_department_with_phone_datums(tmp_path):
    grids = gpd.GeoDataFrame({"grid_code": [GRID_A, GRID_B]}, geometry=[
        shapely.box(120.600, 31.300, 120.610, 31.310), shapely.box(120.610, 31.300, 120.620, 31.310)], crs=4326)

    from gridtools.components import open_store

    register = open_store(tmp_path / "components.gpkg")
    register.insert_batch(gpd.GeoDataFrame(
        {"class_code": ["0118", "0101"], "source_key": ["lamp", "manhole"], "dept_in_charge": ["Municipal lighting", "Water"]},
        geometry=gpd.points_from_xy([120.615, 120.601], [31.305, 31.301]), crs=4326), admin_code="320509")
    water = register.query(class_code="0101")["code"].iloc[0]
    router = ReportRouter(grids, register)
    assert router.route(120.605, 31.305).assignee == f"grid:{GRID_A}"
    # the same ground point as a GCJ-02 phone reading lands in the same grid
    gx, gy = coords.convert(120.605, 31.305, "wgs84", "gcj02")
    route = router.route(gx, gy, crs="gcj02")
    assert route.grid_code == GRID_A and abs(route.lon - 120.605) < 1e-5
    bx, by = coords.convert(120.605, 31.305, "wgs84", "bd09")
    assert router.route(bx, by, crs="bd09").grid_code == GRID_A
    at_lamp = router.route(120.615, 31.305 + 3 / 111_000)  # 3 m from the lamp
    assert at_lamp.assignee == "department:Municipal lighting" and at_lamp.grid_code == GRID_B
    assert router.route(120.615, 31.305 + 20 / 111_000).assignee == f"grid:{GRID_B}"  # 20 m: not about it
    named = router.route(120.605, 31.305, component_code=water)
    assert (named.assignee, named.component_code, named.grid_code) == ("department:Water", water, GRID_A)
    outside = router.route(121.0, 31.0)
    assert outside.assignee is None and outside.grid_code is None
    with pytest.raises(InputError, match="wgs84, gcj02"):
        router.route(120.6, 31.3, crs="EPSG:3857")


def test_tokens_and_visibility(store):
    tokens = TokenStore(store.database)
    head = tokens.authenticate(tokens.issue("grid_head", "li", grid=GRID_A))
    assert {k: head[k] for k in ("role", "name", "grid", "department")} == {
        "role": "grid_head", "name": "li", "grid": GRID_A, "department": None}
    assert head["id"] == 1 and head["expires"] > "2026"  # 90 days by default
    assert can_see(head, {"grid_code": GRID_A}) and not can_see(head, {"grid_code": GRID_B, "assignee": "x"})
    t = tokens.issue("reporter", "zhang")
    assert tokens.revoke(t) and tokens.authenticate(t) is None and tokens.authenticate("nonsense") is None
    with pytest.raises(InputError, match="--grid"):
        tokens.issue("grid_head", "x")
    assert issubclass(ForbiddenError, Exception) and issubclass(NotFoundError, Exception)


def assessment_month(store):
    """The hand-computed case set (see the expected figures in the test)."""
    s = store
    c0 = s.report("0104", grid_code=GRID_A, at="2026-10-12 09:00", reporter="reporter:zhang")
    for step, at in (("register", "09:01"), ("dispatch", "09:02"), ("handle", "10:00"), ("verify", "10:30"),
                     ("close", "10:40")):
        getattr(s, "close_case" if step == "close" else step)(c0, at=f"2026-10-12 {at}", actor="d1" if step ==
                                                              "dispatch" else "v1")
    c1 = s.report("0104", grid_code=GRID_A, at=f"{MON} 09:00", reporter="reporter:zhang")
    s.register(c1, at=f"{MON} 09:05"); s.dispatch(c1, at=f"{MON} 09:10", actor="d1")
    s.handle(c1, at=f"{MON} 11:00"); s.verify(c1, at=f"{MON} 12:00", actor="v1"); s.close_case(c1, at=f"{MON} 12:30")
    c2 = s.report("0104", grid_code=GRID_A, at=f"{MON} 09:00", reporter="reporter:zhang")
    s.register(c2, at=f"{MON} 09:20"); s.dispatch(c2, to="department:Sanitation", at=f"{MON} 09:50", actor="d1")
    s.handle(c2, at=f"{TUE} 17:00"); s.verify(c2, at=f"{TUE} 17:30", actor="v1"); s.close_case(c2, at=f"{TUE} 17:40")
    c3 = s.report("0104", grid_code=GRID_A, at=f"{MON} 10:00", reporter="reporter:li")
    s.register(c3, accept=False, at=f"{MON} 10:05")
    c4 = s.report("0104", grid_code=GRID_B, at=f"{MON} 10:00", reporter="reporter:li")
    s.register(c4, at=f"{MON} 10:05"); s.dispatch(c4, at=f"{MON} 10:10", actor="d2")
    s.reassign(c4, to="department:Sanitation", reason="a sanitation job", at=f"{MON} 10:20")
    s.handle(c4, at=f"{MON} 11:00"); s.verify(c4, ok=False, at=f"{MON} 11:30", actor="v1")
    s.handle(c4, at=f"{MON} 12:00"); s.verify(c4, at=f"{MON} 16:00", actor="v2"); s.close_case(c4, at=f"{MON} 16:10")
    c5 = s.report("0104", grid_code=GRID_B, at=f"{MON} 11:00", reporter="reporter:zhang")
    s.register(c5, at=f"{MON} 11:02"); s.dispatch(c5, at=f"{MON} 11:05", actor="d2")
    assert s.escalate(f"{TUE} 16:59") == [c5]
    s.handle(c5, at=f"{WED} 09:00"); s.verify(c5, at=f"{WED} 09:30", actor="v2"); s.close_case(c5, at=f"{WED} 10:00")


NOV = ("2026-11-01", "2026-12-01")


def test_assessment_on_a_month_with_known_answers(store):
    assessment_month(store)
    dept = assess(store, "department", period=NOV).loc["Sanitation"]
    assert (dept["received"], dept["handled"]) == (2, 2)
    assert (dept["on_time_rate"], dept["rework_rate"], dept["closure_rate"], dept["postpone_rate"]) == (0.5, 0.5, 1, 0)
    assert dept["mean_handling_hours"] == round((31 + 10 / 60 + 1 + 50 / 60) / 2, 2)
    assert (dept["score"], dept["grade"]) == (70.0, "C")  # 100 x (.4 x .5 + .25 x 1 + .2 x .5 + .15 x 1)
    people = assess(store, "reporter", period=NOV)
    assert people.loc["reporter:zhang", "valid_rate"] == 1 and people.loc["reporter:li", "valid_rate"] == 0.5
    assert people.loc["v1", "on_time_verify_rate"] == 1 and people.loc["v2", "on_time_verify_rate"] == 0.5
    assert people["score"].to_dict() == {"reporter:zhang": 100.0, "v1": 100.0, "reporter:li": 50.0, "v2": 50.0}
    desk = assess(store, "dispatcher", period=NOV)
    assert desk.loc["d1", ["on_time_dispatch_rate", "accurate_dispatch_rate"]].tolist() == [0.5, 1.0]
    assert desk.loc["d2", ["on_time_dispatch_rate", "accurate_dispatch_rate"]].tolist() == [1.0, 0.5]
    assert desk["score"].tolist() == [75.0, 75.0]
    grids = assess(store, "grid", period=NOV, compare=True)
    a, b = grids.loc[GRID_A], grids.loc[GRID_B]
    assert (a["cases"], a["closed"], a["solved_in_grid_share"], a["department_share"]) == (3, 2, 0.5, 0.5)
    assert a["closure_rate"] == pytest.approx(2 / 3) and a["on_time_rate"] == 0.5
    assert (a["score"], a["grade"]) == (55.0, "D")  # 100 x (.5 x .5 + .3 x 2/3 + .2 x .5)
    assert (a["score_previous"], a["score_change"]) == (100.0, -45.0)  # October: one case solved in the grid
    assert (b["solved_in_grid_share"], b["escalated_share"], b["department_share"], b["score"]) == (0, .5, .5, 50.0)
    assert pd.isna(b["score_previous"])
    assert assess(store, "community", period=NOV).loc[GRID_A[:12], "score"] == 55.0


def test_weights_table_is_loadable_and_checked(store, tmp_path):
    assessment_month(store)
    path = tmp_path / "weights.csv"
    path.write_text("subject,indicator,weight,better\ngrid,solved_in_grid_share,1,higher\n", encoding="utf-8")
    assert assess(store, "grid", period=NOV, weights=load_weights(path)).loc[GRID_A, "score"] == 50.0
    path.write_text("subject,indicator,weight,better\ngrid,happiness,1,higher\n", encoding="utf-8")
    with pytest.raises(InputError, match="unknown indicators happiness"):
        assess(store, "grid", period=NOV, weights=load_weights(path))
    path.write_text("subject,indicator,weight,better\ngrid,closure_rate,-1,higher\n", encoding="utf-8")
    with pytest.raises(InputError, match="rows 1"):
        load_weights(path)


def test_cli_assess(store, tmp_path, capsys):
    assessment_month(store)
    out = tmp_path / "grid.csv"
    code, text = run_cli(["incidents", "assess", store.path, "--subject", "grid", "--from", NOV[0], "--to", NOV[1],
                          "--compare", "-o", out], capsys)
    assert code == 0, text
    table = pd.read_csv(out, dtype={"grid": str}).set_index("grid")
    assert table.loc[GRID_A, "score"] == 55.0 and table.loc[GRID_A, "score_change"] == -45.0
    code, text = run_cli(["incidents", "assess", store.path, "--subject", "planet", "--from", NOV[0], "--to", NOV[1]],
                         capsys)
    assert code != 0 and "--subject" in text and "Traceback" not in text


def test_incident_report_has_the_assessment_section(store):
    from gridtools.report import incident_report

    assessment_month(store)
    grids = gpd.GeoDataFrame({"grid_code": [GRID_A, GRID_B]}, geometry=[
        shapely.box(120.600, 31.300, 120.610, 31.310), shapely.box(120.610, 31.300, 120.620, 31.310)], crs=4326)
    html = incident_report(store, grids, period=("2026-11-01", "2026-11-30"), now=f"{WED} 12:00").to_html()
    assert "Assessment per department" in html and "Assessment per grid" in html
    section = html[html.index("<h2>Assessment per grid"):]
    assert "<td>Sanitation</td>" in html and "<td>55</td>" in section and "<td>-45</td>" in section


def test_cli_step_suspend_resume_postpone_reassign(store, capsys):
    case = _dispatched(store)
    db = store.path
    run = lambda *a: run_cli(["incidents", "step", db, case, *a], capsys)
    code, text = run("suspend", "--at", f"{MON} 10:00")
    assert code != 0 and "needs a reason (--reason" in text  # the library's reason= as the CLI's flag
    assert run("suspend", "--reason", "waiting", "--at", f"{MON} 10:00")[1].startswith(f"case {case}: suspended")
    assert "dispatched" in run("resume", "--at", f"{MON} 11:00")[1]
    assert run("postpone", "--hours", "2", "--reason", "rain", "--at", f"{MON} 11:10")[0] == 0
    code, text = run("reassign", "--to", "department:Water", "--reason", "a pipe", "--at", f"{MON} 11:20")
    assert code == 0 and "department:Water" in text
    code, text = run("fly")
    assert code != 0 and "unknown action 'fly'" in text


OLD_CASES = """CREATE TABLE cases (case_id INTEGER PRIMARY KEY AUTOINCREMENT, external_id TEXT,
    type_code TEXT NOT NULL, description TEXT, source TEXT, lon REAL, lat REAL, grid_code TEXT, community_code TEXT,
    street_code TEXT, status TEXT NOT NULL, level TEXT NOT NULL DEFAULT 'grid', assignee TEXT, reported_at TEXT NOT NULL,
    registered_at TEXT, dispatched_at TEXT, handled_at TEXT, verified_at TEXT, closed_at TEXT, deadline_at TEXT,
    escalations INTEGER NOT NULL DEFAULT 0, reworks INTEGER NOT NULL DEFAULT 0, resolution TEXT)"""


def test_a_database_of_the_first_schema_gets_the_new_columns(tmp_path):
    import sqlite3

    db = tmp_path / "old.sqlite"
    with sqlite3.connect(db) as con:  # a case database written before the new states
        con.execute(OLD_CASES)
        con.execute("INSERT INTO cases (type_code, status, reported_at, grid_code) "
                    f"VALUES ('0104', 'registered', '{MON} 09:00:00', '{GRID_A}')")
    with IncidentStore(db, calendar=CAL) as store:
        store.dispatch(1, at=f"{MON} 09:00")
        store.suspend(1, reason="waiting", at=f"{MON} 10:00")
        case = store.case(1)
        assert case["status"] == "suspended" and case["suspended_hours"] == 0 and case["reporter"] is None
