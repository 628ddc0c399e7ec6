"""Tests of gridtools.hotspots: metrics with known answers, estimators on synthetic processes,
leakage, bad input, and short backtests on real data (Toronto sample shipped in data/, Portland NIJ)."""

from __future__ import annotations

import json
import re
from pathlib import Path

import geopandas as gpd
import numpy as np
import pandas as pd
import pytest
import shapely
from conftest import run_cli, shared_data

from gridtools import hotspots, io
from gridtools.errors import InputError
from gridtools.hotspots import (
    ETAS,
    KDE,
    EventSet,
    NaiveCounts,
    SmoothedRate,
    assign_events,
    hit_metrics,
    square_cells,
)

REPO = Path(__file__).resolve().parents[2]
TORONTO = REPO / "data" / "toronto_theft_2016_2019.csv.gz"
ALL_METHODS = ["naive_4w", "naive_1y", "naive_all", "smoothed", "kde", "prospective", "etas", "gbm", "ensemble"]


def _cli(args, capsys):
    return run_cli(args, capsys, collapse=False)


def _events(t, x, y, crs=32617):
    return EventSet(t=np.asarray(t, float), x=np.asarray(x, float), y=np.asarray(y, float),
                    row=np.arange(1, len(t) + 1), crs=crs)


@pytest.fixture(scope="module")
def toronto_small():
    """Auto thefts of the shipped Toronto sample, 2018-06 to 2019-03 (a few thousand events)."""
    raw = io.read_events(TORONTO)
    raw = raw[(raw["occurrencedate"] >= "2018-06-01") & (raw["occurrencedate"] < "2019-03-01")]
    return raw


# ------------------------------------------------------------------------------------ metrics


def test_metrics_known_answer_equal_cells():
    # 10 equal cells; forecast ranks cells 0, 1, 2, ...; 20 events: 8 in cell 0, 2 in cell 5, 10 in cell 9
    risk = np.arange(10, 0, -1.0)
    actual = np.zeros(10)
    actual[[0, 5, 9]] = [8, 2, 10]
    m = hit_metrics(risk, np.ones(10), actual, coverages=[0.1, 0.2, 0.6])
    assert m["n_cells"].tolist() == [1, 2, 6]
    assert m["hit_rate"].tolist() == pytest.approx([0.4, 0.4, 0.5])
    assert m["pai"].tolist() == pytest.approx([4.0, 2.0, 0.5 / 0.6])
    # oracle at 1 cell catches 10, at 2 cells 18, at 6 cells 20
    assert m["pei"].tolist() == pytest.approx([8 / 10, 8 / 18, 10 / 20])


def test_metrics_area_weighted_clipped_cells():
    # cell 0 is a clipped sliver (10% of a cell) with the highest risk density; coverage 5% of
    # total area 2.1 = 0.105 -> the sliver (0.1) is not enough, the next cell is added.
    area = np.array([0.1, 1.0, 1.0])
    risk = np.array([1.0, 2.0, 0.5])  # densities 10, 2, 0.5
    actual = np.array([1.0, 3.0, 6.0])
    m = hit_metrics(risk, area, actual, coverages=[0.04, 0.05]).set_index("coverage")
    assert m.loc[0.04, "n_cells"] == 1 and m.loc[0.04, "area_share"] == pytest.approx(0.1 / 2.1)
    assert m.loc[0.04, "pai"] == pytest.approx((1 / 10) / (0.1 / 2.1))
    assert m.loc[0.05, "n_cells"] == 2 and m.loc[0.05, "hits"] == 4
    # oracle for area 1.1: sliver (density 10) + 1.0 of the density-6 cell = 1 + 6 = 7
    assert m.loc[0.05, "pei"] == pytest.approx(4 / 7)


def test_ties_broken_reproducibly_not_by_cell_order():
    risk = np.zeros(1000)
    a = hotspots.rank_cells(risk, np.ones(1000))
    b = hotspots.rank_cells(risk, np.ones(1000))
    assert (a == b).all()
    assert not (a[:10] == np.arange(10)).all()  # not the first cells of the grid
    assert a[:500].mean() == pytest.approx(500, abs=60)  # spread over the grid


def test_no_events_in_horizon_gives_nan():
    m = hit_metrics(np.ones(4), np.ones(4), np.zeros(4), coverages=[0.5])
    assert np.isnan(m["pai"].iloc[0]) and np.isnan(m["pei"].iloc[0])


# ------------------------------------------------------------------------------------- cells


def test_square_cells_clipped_to_area_keep_total_area():
    circle = shapely.Point(1000, 1000).buffer(700)
    cs = square_cells(circle.bounds, 200, crs=32617, area=circle)
    assert cs.total_area == pytest.approx(circle.area, rel=1e-9)
    assert (cs.area <= 200**2 + 1e-6).all() and (cs.area > 0).all()
    # absolute ids: the cell with lower-left corner (400, 400) is E2N2; (200, 400) lies outside
    ids = set(cs.cells["cell_id"])
    assert "E2N2" in ids and "E1N2" not in ids


def test_events_outside_area_are_reported_not_kept():
    square = shapely.box(0, 0, 400, 400)
    cs = square_cells(square.bounds, 200, crs=32617, area=shapely.box(0, 0, 300, 400))
    ev = assign_events(_events([0, 1, 2], [100, 350, 250], [100, 100, 300]), cs)
    assert ev.report["outside"] == [2]
    assert len(ev) == 2 and sorted(ev.unit.tolist()) == sorted([0, int(np.flatnonzero(
        cs.cells["cell_id"] == "E1N1")[0])])


def test_management_grids_as_units_match_spatial_join():
    path = shared_data("crime", "portland_nij", "portland-police-districts.zip")
    districts = io.read_any(path)
    raw = io.read_events(shared_data("crime", "portland_nij", "NIJ2016_AUG_SEP_portland_cfs.csv.gz"),
                         x="x_coordina", y="y_coordina", crs=2913)
    ev, cs = hotspots.prepare(raw, time="occ_date", grids=districts)
    joined = gpd.sjoin(raw, districts.to_crs(raw.crs), predicate="intersects", how="inner")
    inside = joined.index.unique()
    assert len(ev) == len(inside)
    assert len(ev.report["outside"]) == len(raw) - len(inside)
    assert ev.report["missing_coordinates"] == [int(np.flatnonzero(
        pd.read_csv(shared_data("crime", "portland_nij", "NIJ2016_AUG_SEP_portland_cfs.csv.gz"))
        ["x_coordina"].eq(0))[0]) + 1]
    assert cs.total_area == pytest.approx(districts.to_crs(ev.crs).area.sum())


# -------------------------------------------------------------------------------- estimators


def test_naive_and_kde_known_answers():
    cs = square_cells((0, 0, 1999, 1999), 200, crs=32617)
    ev = assign_events(_events([0, 10, 20, 30], [1100, 1100, 1100, 500], [1100, 1100, 1100, 500]), cs)
    c = 40.0
    naive = NaiveCounts().fit(ev, cs, c).predict(40)
    assert naive.sum() == pytest.approx(4.0) and naive.max() == pytest.approx(3.0)
    last = NaiveCounts(window_days=25).fit(ev, cs, c).predict(25)
    assert last.sum() == pytest.approx(2.0)  # window [15, 40) holds the events at t=20 and t=30
    kde = KDE(bandwidth=200, window_days=40).fit(ev, cs, c).predict(40)
    # a kernel well inside the grid keeps its mass (it is cut at 3 bandwidths)
    assert kde.sum() == pytest.approx(4.0, rel=0.01)
    assert kde.argmax() == naive.argmax()


def test_future_events_are_ignored_by_fit():
    cs = square_cells((0, 0, 999, 999), 200, crs=32617)
    ev = assign_events(_events([0, 5, 50, 60], [100, 100, 900, 900], [100, 100, 900, 900]), cs)
    for name in ALL_METHODS:
        a = hotspots.make_estimator(name).fit(ev, cs, 10.0).predict(7)
        b = hotspots.make_estimator(name).fit(ev.before(10.0), cs, 10.0).predict(7)
        np.testing.assert_array_equal(a, b, err_msg=name)


def test_smoothed_rate_is_naive_without_prior_and_closer_to_a_smooth_truth_with_it():
    # A smooth true intensity over 40 x 40 cells, two years of Poisson events.
    n, days = 40, 730.0
    gy, gx = np.mgrid[0:n, 0:n]
    truth = 0.002 + 0.03 * np.exp(-((gx - 12) ** 2 + (gy - 25) ** 2) / 40.0) \
        + 0.02 * np.exp(-((gx - 30) ** 2 + (gy - 10) ** 2) / 25.0)
    truth = truth.ravel()
    rng = np.random.default_rng(4)
    counts = rng.poisson(truth * days)
    cell = np.repeat(np.arange(n * n), counts)
    cs = square_cells((0, 0, n * 200 - 1, n * 200 - 1), 200, crs=32617)
    order = cs.weights.indices.argsort()  # unit position of each raster pixel (row-major)
    x, y = (cell % n) * 200 + 100.0, (cell // n) * 200 + 100.0
    ev = assign_events(_events(np.sort(rng.uniform(0, days, cell.size)), x, y), cs)
    naive = NaiveCounts().fit(ev, cs, days).predict(1)
    np.testing.assert_allclose(SmoothedRate(prior_weight=0).fit(ev, cs, days).predict(1), naive)
    smooth = SmoothedRate().fit(ev, cs, days).predict(1)
    inner = (gx.ravel() > 5) & (gx.ravel() < n - 6) & (gy.ravel() > 5) & (gy.ravel() < n - 6)
    err_naive = np.abs(naive[order] - truth)[inner].mean()
    err_smooth = np.abs(smooth[order] - truth)[inner].mean()
    assert err_smooth < 0.8 * err_naive
    # inside the grid the kernel keeps the mass: the total rate is unchanged
    assert smooth[order][inner].sum() == pytest.approx(naive[order][inner].sum(), rel=0.05)
    with pytest.raises(InputError, match="prior_weight"):
        SmoothedRate(prior_weight=-1).fit(ev, cs, days)


def _simulate_hawkes(n_cells, days, mu, theta, omega, seed=0):
    """Exact simulation by generations: background Poisson, each event has Poisson(theta) children
    at exponential(omega) delays in the same cell."""
    rng = np.random.default_rng(seed)
    n0 = rng.poisson(mu * days, size=n_cells)
    cell = np.repeat(np.arange(n_cells), n0)
    t = rng.uniform(0, days, size=cell.size)
    all_t, all_c = [t], [cell]
    while t.size:
        k = rng.poisson(theta, size=t.size)
        t = np.repeat(t, k) + rng.exponential(1 / omega, size=k.sum())
        cell = np.repeat(cell, k)
        keep = t < days
        t, cell = t[keep], cell[keep]
        all_t.append(t)
        all_c.append(cell)
    t, cell = np.concatenate(all_t), np.concatenate(all_c)
    order = np.argsort(t)
    return t[order], cell[order]


def test_etas_recovers_simulated_parameters():
    mu = np.random.default_rng(1).gamma(2.0, 0.01, size=400)  # mean 0.02 events/day/cell
    t, cell = _simulate_hawkes(400, 1500.0, mu, theta=0.4, omega=0.1)
    cs = square_cells((0, 0, 20 * 200 - 1, 20 * 200 - 1), 200, crs=32617)
    x = (cell % 20) * 200 + 100.0
    y = (cell // 20) * 200 + 100.0
    ev = assign_events(_events(t, x, y), cs)
    est = ETAS(fit_days=1500, max_lag_days=120, n_iter=100).fit(ev, cs, 1500.0)
    assert est.theta_ == pytest.approx(0.4, abs=0.06)
    assert est.omega_ == pytest.approx(0.1, rel=0.25)
    # background rates correlate with the truth
    assert np.corrcoef(est.mu_[cs.weights.indices.argsort()], mu)[0, 1] > 0.7


def test_etas_beats_long_term_counts_when_contagion_is_strong():
    mu = np.random.default_rng(2).gamma(0.5, 0.01, size=400)
    t, cell = _simulate_hawkes(400, 1200.0, mu, theta=0.7, omega=0.15, seed=3)
    cs = square_cells((0, 0, 20 * 200 - 1, 20 * 200 - 1), 200, crs=32617)
    ev = assign_events(_events(t, (cell % 20) * 200 + 100.0, (cell // 20) * 200 + 100.0), cs)
    r = hotspots.backtest(ev, cs, start=900.0, folds=40, horizon_days=7, methods=["etas"], n_boot=100)
    table = r.pai_table(0.05).set_index("method")
    assert table.loc["etas", "pai_mean"] > table.loc["naive_all", "pai_mean"]


def test_parameters_validated_up_front():
    cs = square_cells((0, 0, 999, 999), 200, crs=32617)
    ev = assign_events(_events([0, 1], [100, 300], [100, 100]), cs)
    with pytest.raises(InputError, match="bandwidth"):
        KDE(bandwidth=-1).fit(ev, cs, 5.0)
    with pytest.raises(InputError, match="n_iter"):
        ETAS(n_iter=0).fit(ev, cs, 5.0)
    with pytest.raises(InputError, match="unknown method"):
        hotspots.make_estimator("magic")
    with pytest.raises(InputError, match="horizon_days"):
        NaiveCounts().fit(ev, cs, 5.0).predict(0)
    with pytest.raises(InputError, match="covariates have 3 rows"):
        hotspots.GBM(covariates=np.ones(3)).fit(ev, cs, 5.0)
    with pytest.raises(InputError, match="geometric"):
        hotspots.Ensemble(how="median").fit(ev, cs, 5.0)


def test_ensemble_geometric_mean_of_members():
    cs = square_cells((0, 0, 999, 999), 200, crs=32617)
    ev = assign_events(_events([0, 1, 2, 3], [100, 100, 300, 900], [100, 100, 100, 900]), cs)
    members = [("a", NaiveCounts()), ("b", KDE(bandwidth=150))]
    got = hotspots.Ensemble(members=members, weights=[1, 3]).fit(ev, cs, 4.0).predict(7)
    a = NaiveCounts().fit(ev, cs, 4.0).predict(7)
    b = KDE(bandwidth=150).fit(ev, cs, 4.0).predict(7)
    expected = np.exp(0.25 * np.log(a + 1e-4) + 0.75 * np.log(b + 1e-4))
    np.testing.assert_allclose(got, expected)


# ------------------------------------------------------------------------- real data, leakage


def test_prediction_never_changes_when_later_events_are_added(toronto_small):
    cutoff = "2018-12-03"
    early = toronto_small[toronto_small["occurrencedate"] < "2018-12-20"]
    # the same cell grid for both: fix the study area to the full data's extent
    full_ev, cells = hotspots.prepare(toronto_small, time="occurrencedate", cell=200)
    early_ev, _ = hotspots.prepare(early, time="occurrencedate", cell=200)
    early_ev = assign_events(early_ev, cells)
    assert len(full_ev) > len(early_ev)
    for method in ALL_METHODS:
        a = hotspots.forecast(full_ev, cells, cutoff=cutoff, horizon_days=7, method=method)
        b = hotspots.forecast(early_ev, cells, cutoff=cutoff, horizon_days=7, method=method)
        np.testing.assert_array_equal(a["risk"].to_numpy(), b["risk"].to_numpy(), err_msg=method)


def test_cli_predict_leakage_and_layer(tmp_path, toronto_small, capsys):
    before = toronto_small[toronto_small["occurrencedate"] < "2019-01-01"]
    a_csv, b_csv = tmp_path / "a.csv", tmp_path / "b.csv"
    pd.DataFrame(before.drop(columns="geometry")).to_csv(a_csv, index=False)
    pd.DataFrame(toronto_small.drop(columns="geometry")).to_csv(b_csv, index=False)
    outs = []
    for src in (a_csv, b_csv):
        out = tmp_path / f"{src.stem}.gpkg"
        code, text = _cli(["hotspots", "predict", str(src), "--time", "occurrencedate", "--lon", "Long",
                           "--lat", "Lat", "--category-col", "MCI", "--category", "Auto Theft", "--cutoff",
                           "2018-12-10", "--horizon-days", "7", "--cell", "200", "--method", "etas",
                           "-o", str(out)], capsys)
        assert code == 0, text
        outs.append(gpd.read_file(out, layer="cells"))
    a, b = outs
    assert {"cell_id", "risk", "geometry"} <= set(a.columns)
    merged = a.merge(b, on="cell_id", suffixes=("_a", "_b"))
    assert len(merged) == len(a)  # every cell of the smaller extent is in the larger grid
    np.testing.assert_array_equal(merged["risk_a"], merged["risk_b"])
    # the grid covers every event of the file: absolute cell ids from an independent floor()
    pts = io.read_events(a_csv)
    pts = pts[pts["MCI"] == "Auto Theft"].to_crs(io.local_metric_crs(pts))
    ids = ("E" + np.floor(pts.geometry.x / 200).astype(int).astype(str) + "N"
           + np.floor(pts.geometry.y / 200).astype(int).astype(str))
    assert set(ids) <= set(a["cell_id"])
    # the patrol areas of the same run: the riskiest 2% of cells, joined
    areas = gpd.read_file(tmp_path / "b.gpkg", layer="patrol_areas")
    flagged = hotspots.flagged_cells(b, 0.02)
    assert areas["n_cells"].sum() == len(flagged)
    assert areas["expected_events"].sum() == pytest.approx(flagged["risk"].sum())
    assert "patrol areas" in text


def test_patrol_areas_join_edge_neighbours_not_corner_neighbours():
    # 4 x 4 unit cells; flagged (ranks 1-6): an L of three cells, a pair, and one cell touching the L
    # only at a corner.  Risks make the pair the area with the most expected events.
    boxes, ids = [], []
    for row in range(4):
        for col in range(4):
            boxes.append(shapely.box(col, row, col + 1, row + 1))
            ids.append(f"c{col}r{row}")
    risk = dict.fromkeys(ids, 0.0)
    risk.update({"c0r0": 3.0, "c1r0": 2.0, "c0r1": 1.0,      # the L
                 "c3r2": 5.0, "c3r3": 4.5,                   # the pair
                 "c2r1": 0.5})                               # touches the L's c1r0 only at a corner
    f = gpd.GeoDataFrame({"cell_id": ids, "risk": [risk[i] for i in ids], "area_m2": 1.0},
                         geometry=boxes, crs=32617)
    f["rank"] = f["risk"].rank(ascending=False, method="first").astype(int)
    areas = hotspots.patrol_areas(f, share=6 / 16)
    assert areas["cell_ids"].tolist() == ["c3r2;c3r3", "c0r0;c1r0;c0r1", "c2r1"]
    assert areas["expected_events"].tolist() == [9.5, 6.0, 0.5]
    assert areas["area_id"].tolist() == [1, 2, 3]
    assert areas.geom_type.eq("Polygon").all()
    assert areas.area.tolist() == [2.0, 3.0, 1.0]
    with pytest.raises(InputError, match="share"):
        hotspots.patrol_areas(f, share=0)
    with pytest.raises(InputError, match="'rank'"):
        hotspots.patrol_areas(f.drop(columns="rank"))


def test_naive_all_pai_matches_independent_computation(toronto_small):
    ev, cells = hotspots.prepare(toronto_small, time="occurrencedate", cell=200,
                                 category_col="MCI", categories=["Break and Enter"])
    res = hotspots.backtest(ev, cells, start="2019-01-07", folds=3, horizon_days=7,
                            methods=["naive_all"], n_boot=50)
    # independent: pandas floor-division cells in the same UTM zone
    pts = toronto_small[toronto_small["MCI"] == "Break and Enter"].to_crs(ev.crs)
    df = pd.DataFrame({"cx": np.floor(pts.geometry.x / 200), "cy": np.floor(pts.geometry.y / 200),
                       "d": pd.to_datetime(pts["occurrencedate"])})
    n_cells = len(cells)
    k = int(np.ceil(0.02 * n_cells))
    for fold in range(3):
        c = pd.Timestamp("2019-01-07") + pd.Timedelta(days=7 * fold)
        hist = df[df["d"] < c].groupby(["cx", "cy"]).size()
        fut = df[(df["d"] >= c) & (df["d"] < c + pd.Timedelta(days=7))].groupby(["cx", "cy"]).size()
        kth = hist.sort_values(ascending=False).iloc[k - 1]
        sure = hist[hist > kth].index
        tied = hist[hist == kth].index
        lo = fut.reindex(sure).fillna(0).sum()
        hi = lo + fut.reindex(tied).fillna(0).sort_values(ascending=False).iloc[: k - len(sure)].sum()
        got = res.metrics.query("method == 'naive_all' and fold == @fold and coverage == 0.02")
        assert int(got["n_events"].iloc[0]) == fut.sum()
        assert lo <= got["hits"].iloc[0] <= hi


def test_cli_backtest_writes_report(tmp_path, capsys):
    out = tmp_path / "report"
    code, text = _cli(["hotspots", "backtest", str(TORONTO), "--time", "occurrencedate", "--category-col", "MCI",
          "--category", "Auto Theft", "--start", "2019-09-02", "--folds", "3", "--horizon-days", "7",
          "--cell", "250", "--area", "hull", "--methods", "etas,ensemble", "-o", str(out)], capsys)
    assert code == 0, text
    assert "PAI at 2%" in " ".join(text.split())
    # never silent (issue 11: 88 s without a word): each step says where it is, even off a terminal
    assert "reading and preparing the events: 0/1" in text
    assert "backtest folds: 1/3" in text and "backtest folds: 3/3" in text  # one task per fold (Dask-ready)
    assert "forecast with the best method" in text
    m = pd.read_csv(out / "metrics.csv")
    assert list(m.columns[:6]) == ["method", "fold", "coverage", "hit_rate", "pai", "pei"][:2] + ["cutoff"] + [
        "coverage", "hit_rate", "pai"]
    assert set(m["method"]) == {"etas", "ensemble", "naive_4w", "naive_1y", "naive_all", "kde"}
    assert (m.groupby("method").size() == 3 * 4).all()
    assert (m["pei"].dropna() <= 1 + 1e-9).all()
    assert np.allclose(m["pai"], m["hit_rate"] / m["area_share"], equal_nan=True)
    assert (out / "pai_vs_coverage.png").stat().st_size > 10_000
    assert "leaflet" in (out / "top_cells_map.html").read_text().lower()
    assert len(io.read_any(out / "top_cells.gpkg", layer="cells")) > 0  # the forecast the report maps
    summary = json.loads((out / "summary.json").read_text())
    assert summary["params"]["folds"] == 3


def test_point_density_matches_spatial_join():
    raw = io.read_events(TORONTO)
    poi = raw[raw["MCI"] == "Auto Theft"].iloc[:3000]  # any points will do: stolen-car spots as "POIs"
    _, cells = hotspots.prepare(raw, time="occurrencedate", cell=500, area="hull")
    density = hotspots.point_density(poi, cells)
    # the hull's corners are events themselves, on the edge of their cells: intersects, once per point
    joined = gpd.sjoin(poi.to_crs(cells.cells.crs), cells.cells, predicate="intersects", how="inner")
    joined = joined[~joined.index.duplicated()]
    expected = np.bincount(joined["index_right"].to_numpy(), minlength=len(cells)) / (cells.area / 1e6)
    np.testing.assert_allclose(density, expected)
    assert density.sum() > 0
    with pytest.raises(InputError, match="no CRS"):
        hotspots.point_density(poi.set_crs(None, allow_override=True), cells)


def _poi_driven_events(seed=5):
    """Thefts whose rate is proportional to the number of points of interest in the cell; a year and a
    half of sparse history, so the counts alone are a noisy guide and the POI density is the truth."""
    n, days = 30, 600.0
    rng = np.random.default_rng(seed)
    poi_per_cell = rng.poisson(rng.gamma(0.4, 5.0, size=n * n))
    cell = rng.permutation(np.repeat(np.arange(n * n), rng.poisson((0.0015 * poi_per_cell + 0.0002) * days)))
    cs = square_cells((0, 0, n * 200 - 1, n * 200 - 1), 200, crs=32617)
    ev = assign_events(_events(np.sort(rng.uniform(0, days, cell.size)), (cell % n) * 200 + rng.uniform(5, 195, cell.size),
                               (cell // n) * 200 + rng.uniform(5, 195, cell.size)), cs)
    pc = np.repeat(np.arange(n * n), poi_per_cell)
    poi = gpd.GeoDataFrame(geometry=shapely.points((pc % n) * 200 + rng.uniform(5, 195, pc.size),
                                                   (pc // n) * 200 + rng.uniform(5, 195, pc.size)), crs=32617)
    return ev, cs, poi


def test_gbm_learns_from_a_poi_covariate():
    ev, cs, poi = _poi_driven_events()
    cov = hotspots.point_density(poi, cs)
    plain = hotspots.backtest(ev, cs, start=420.0, folds=6, horizon_days=28, methods=["gbm"], n_boot=50)
    informed = hotspots.backtest(ev, cs, start=420.0, folds=6, horizon_days=28, methods=["gbm", "ensemble"],
                                 n_boot=50, covariates=cov)
    p0 = plain.pai_table(0.05).set_index("method")["pai_mean"]
    p1 = informed.pai_table(0.05).set_index("method")["pai_mean"]
    assert p1["gbm"] > p0["gbm"] + 0.5
    assert p1["gbm"] > p0["naive_all"]
    # the ensemble's gbm member got the covariate too
    ens = hotspots.with_covariates(hotspots.make_estimator("ensemble"), cov)
    assert dict(ens.members)["gbm"].covariates is cov
    assert informed.params["methods"]["gbm"]["covariates"] == "array of shape (900,)"


def test_density_covariates_one_column_per_layer():
    ev, cs, poi = _poi_driven_events()
    both = hotspots.cells.density_covariates([poi, poi.iloc[:10]], cs)
    assert both.shape == (len(cs), 2)
    np.testing.assert_array_equal(both[:, 0], hotspots.point_density(poi, cs))
    np.testing.assert_array_equal(both[:, 1], hotspots.point_density(poi.iloc[:10], cs))
    assert hotspots.cells.density_covariates([], cs) is None


def test_backtest_best_method_last_cutoff_and_save(tmp_path):
    ev, cs, _ = _poi_driven_events()
    result = hotspots.backtest(ev, cs, start=420.0, folds=3, horizon_days=28, methods=["kde"], n_boot=20)
    assert result.best_method() == result.pai_table(0.02)["method"].iloc[0]
    assert result.best_method(0.05) == result.pai_table(0.05)["method"].iloc[0]
    # the last fold's cutoff: start + 2 steps of 28 days
    assert result.last_cutoff == hotspots.from_day(420.0 + 2 * 28)
    assert result.metrics["cutoff"].iloc[-1] == result.last_cutoff.date().isoformat()
    top = hotspots.forecast(ev, cs, cutoff=result.last_cutoff, horizon_days=28, method=result.best_method())
    assert result.save(tmp_path / "bt", top_cells=top, covariates=["shops.gpkg"]) == tmp_path / "bt"
    files = {p.name for p in (tmp_path / "bt").iterdir()}
    assert files == {"metrics.csv", "summary.csv", "summary.json", "pai_vs_coverage.png", "top_cells_map.html",
                     "top_cells.gpkg"}
    summary = json.loads((tmp_path / "bt" / "summary.json").read_text())
    assert list(summary) == ["params", "covariates", "seconds", "report", "summary"]
    assert summary["covariates"] == ["shops.gpkg"] and summary["params"]["folds"] == 3
    assert list(pd.read_csv(tmp_path / "bt" / "metrics.csv").columns) == list(result.METRIC_COLUMNS)
    assert len(io.read_any(tmp_path / "bt" / "top_cells.gpkg", layer="cells")) == len(cs)
    # without a forecast: the four backtest files only
    result.save(tmp_path / "plain")
    assert {p.name for p in (tmp_path / "plain").iterdir()} == {"metrics.csv", "summary.csv", "summary.json",
                                                                 "pai_vs_coverage.png"}


def test_cli_poi_covariate_and_bad_poi_file(tmp_path, capsys):
    poi = io.read_events(TORONTO).iloc[:500][["geometry"]]
    poi.to_file(tmp_path / "shops.gpkg", layer="shops")
    out = tmp_path / "report"
    args = ["hotspots", "backtest", str(TORONTO), "--time", "occurrencedate", "--category-col", "MCI",
            "--category", "Auto Theft", "--start", "2019-09-02", "--folds", "2", "--horizon-days", "7",
            "--cell", "500", "--area", "hull", "--methods", "gbm", "-o", str(out)]
    code, text = _cli([*args, "--poi", str(tmp_path / "shops.gpkg")], capsys)
    assert code == 0, text
    assert re.search(r"covariate: density of shops.gpkg \(49\d points in the study area\)", " ".join(text.split()))
    summary = json.loads((out / "summary.json").read_text())
    assert summary["covariates"] == [str(tmp_path / "shops.gpkg")]
    assert summary["params"]["methods"]["gbm"]["covariates"].startswith("array of shape (")
    empty = tmp_path / "empty.csv"
    empty.write_text("lon,lat\n")
    code, text = _cli([*args, "--poi", str(empty)], capsys)
    assert code == 2 and "empty.csv" in text


def test_portland_feet_backtest_runs():
    raw = io.read_events(shared_data("crime", "portland_nij", "NIJ2016_AUG_SEP_portland_cfs.csv.gz"),
                         x="x_coordina", y="y_coordina", crs=2913)
    ev, cells = hotspots.prepare(raw, time="occ_date", cell=200, category_col="CATEGORY",
                                 categories=["STREET CRIMES"], area="hull")
    assert ev.crs.axis_info[0].unit_name == "metre"  # feet replaced by UTM
    assert 200 < cells.total_area / 1e6 < 600  # Portland is ~375 km²
    res = hotspots.backtest(ev, cells, start="2016-09-05", folds=3, horizon_days=7, methods=["etas"], n_boot=50)
    t = res.pai_table(0.02).set_index("method")
    assert t.loc["naive_all", "pai_mean"] > 2  # street crime is concentrated


# ------------------------------------------------------------------------------ bad input


def _write(tmp_path, rows, name="ev.csv"):
    path = tmp_path / name
    pd.DataFrame(rows).to_csv(path, index=False)
    return path


def test_unparseable_dates_name_rows(tmp_path):
    path = _write(tmp_path, {"date": ["2020-01-01", "not a date", "2020-01-03", "", "2020-13-45"],
                             "lon": [-79.4] * 5, "lat": [43.7] * 5})
    with pytest.raises(InputError, match=r"rows 2, 4, 5") as err:
        hotspots.prepare(io.read_events(path), time="date")
    assert "'not a date'" in str(err.value) and "date" in str(err.value)


def test_missing_coordinates_counted_and_reported(tmp_path, capsys):
    path = _write(tmp_path, {"date": ["2020-01-01", "2020-01-02", "2020-01-03", "2020-01-04"],
                             "lon": [-79.4, None, -79.41, 0], "lat": [43.7, 43.7, 43.71, 0]})
    raw = io.read_events(path)
    assert raw.attrs["missing_coordinates"] == [2, 4] and len(raw) == 2
    code, err = _cli(["hotspots", "predict", str(path), "--time", "date", "--cutoff", "2020-01-03",
                      "--horizon-days", "7", "--method", "naive_all", "-o", str(tmp_path / "c.gpkg")], capsys)
    assert code == 0
    err = " ".join(err.split())
    assert "2 events have no coordinates" in err and "rows 2, 4" in err


def test_gcj02_events_are_converted_and_unlocated_rows_still_set_aside(tmp_path):
    """Phone / AMap reports come in GCJ-02: read_events converts them like read_any does."""
    from gridtools.coords import convert

    lon, lat = np.array([121.470, 121.480, 121.490]), np.array([31.230, 31.235, 31.240])  # WGS-84 truth
    glon, glat = convert(lon, lat, "wgs84", "gcj02")
    path = _write(tmp_path, {"date": ["2026-01-05"] * 4, "lon": [glon[0], None, glon[1], glon[2]],
                             "lat": [glat[0], None, glat[1], glat[2]]})
    raw = io.read_events(path, crs="gcj02")
    assert raw.attrs["missing_coordinates"] == [2] and raw.attrs["n_rows"] == 4
    assert np.allclose(raw.geometry.x, lon, atol=1e-8) and np.allclose(raw.geometry.y, lat, atol=1e-8)


def test_events_outside_boundary_reported(tmp_path, capsys):
    path = _write(tmp_path, {"date": ["2020-01-01", "2020-01-02", "2020-01-03"],
                             "lon": [-79.40, -79.41, -75.0], "lat": [43.70, 43.71, 43.70]})
    boundary = gpd.GeoDataFrame(geometry=[shapely.box(-79.5, 43.6, -79.3, 43.8)], crs=4326)
    boundary.to_file(tmp_path / "b.gpkg")
    code, err = _cli(["hotspots", "predict", str(path), "--time", "date", "--cutoff", "2020-01-03",
                      "--horizon-days", "7", "--boundary", str(tmp_path / "b.gpkg"), "--method", "kde",
                      "-o", str(tmp_path / "c.gpkg")], capsys)
    assert code == 0
    err = " ".join(err.split())
    assert "1 events lie outside the study area" in err and "row 3" in err


def test_category_without_events_lists_categories(toronto_small):
    with pytest.raises(InputError, match="no events of category 'Bicycle'") as err:
        hotspots.prepare(toronto_small, time="occurrencedate", category_col="MCI", categories=["Bicycle"])
    assert "'Auto Theft'" in str(err.value)


def test_cutoff_before_data(toronto_small, tmp_path, capsys):
    ev, cells = hotspots.prepare(toronto_small, time="occurrencedate", cell=300)
    with pytest.raises(InputError, match="no events before the cutoff 2010-01-01"):
        hotspots.forecast(ev, cells, cutoff="2010-01-01", horizon_days=7, method="kde")
    with pytest.raises(InputError, match="no history"):
        hotspots.backtest(ev, cells, start="2010-01-01", folds=2, horizon_days=7)
    with pytest.raises(InputError, match="past the last event"):
        hotspots.backtest(ev, cells, start="2019-02-01", folds=10, horizon_days=7)
    code, text = _cli(["hotspots", "predict", str(TORONTO), "--time", "occurrencedate", "--cutoff",
                       "2001-01-01", "-o", str(tmp_path / "x.gpkg")], capsys)
    assert code == 2 and "no events before the cutoff" in text and "Traceback" not in text


def test_day_first_dates_are_read_right_or_refused(tmp_path, capsys):
    """Toronto thefts with their dates rewritten day-first (03/12/2019): the forecast is the same as from ISO dates."""
    raw = pd.read_csv(TORONTO).query("occurrencedate >= '2019-01-01'").head(3000)
    iso = tmp_path / "iso.csv"
    raw.to_csv(iso, index=False)
    dmy = tmp_path / "dmy.csv"
    raw.assign(occurrencedate=pd.to_datetime(raw["occurrencedate"]).dt.strftime("%d/%m/%Y")).to_csv(dmy, index=False)
    outputs = {}
    for name, path in (("iso", iso), ("dmy", dmy)):
        code, text = _cli(["hotspots", "predict", str(path), "--time", "occurrencedate", "--lon", "Long", "--lat", "Lat",
                           "--cutoff", "2019-03-01", "--horizon-days", "7", "--method", "naive_all",
                           "-o", str(tmp_path / f"{name}.gpkg")], capsys)
        assert code == 0, text
        outputs[name] = gpd.read_file(tmp_path / f"{name}.gpkg", layer="cells")
    assert (outputs["iso"]["risk"].to_numpy() == outputs["dmy"]["risk"].to_numpy()).all()
    # a column no value settles (every day <= 12) is refused until --dayfirst says which
    early = raw[pd.to_datetime(raw["occurrencedate"]).dt.day <= 12].head(50)
    amb = tmp_path / "amb.csv"
    early.assign(occurrencedate=pd.to_datetime(early["occurrencedate"]).dt.strftime("%d/%m/%Y")).to_csv(amb, index=False)
    args = ["hotspots", "predict", str(amb), "--time", "occurrencedate", "--lon", "Long", "--lat", "Lat",
            "--cutoff", "2019-03-01", "--method", "naive_all", "-o", str(tmp_path / "amb.gpkg")]
    code, text = _cli(args, capsys)
    assert code == 2 and "--dayfirst" in text and "Traceback" not in text
    assert _cli([*args, "--dayfirst"], capsys)[0] == 0
