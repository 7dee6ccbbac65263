"""tools/scale_plan.py (docs/SCALE.md's numbers) against brute-force enumeration of small
hypergrids: the level and edge counts, the library's state order within a level, the sampled
cut-edge fractions, and its refusals. Pure Python: no gfnrl import."""
import importlib.util
import itertools
import math
import pathlib

import pytest

_PATH = pathlib.Path(__file__).resolve().parents[2] / "tools" / "scale_plan.py"
_spec = importlib.util.spec_from_file_location("scale_plan", _PATH)
scale_plan = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(scale_plan)


def states_by_level(ndim, height):
    """Every state as its coordinate tuple (x[0] least significant), per level, sorted by code."""
    levels = {}
    for code in range(height**ndim):
        x = [(code // height**d) % height for d in range(ndim)]
        levels.setdefault(sum(x), []).append(x)
    return levels


@pytest.mark.parametrize("ndim,height", [(1, 5), (2, 4), (3, 4), (4, 3), (3, 6)])
def test_counts_and_order_equal_enumeration(ndim, height):
    g = scale_plan.Grid(ndim, height)
    levels = states_by_level(ndim, height)
    assert sum(g.states(l) for l in range(g.max_level + 1)) == height**ndim
    assert sum(g.edges(l) for l in range(g.max_level + 1)) == ndim * (height - 1) * height ** (ndim - 1)
    for level, xs in levels.items():
        assert g.states(level) == len(xs)
        assert g.edges(level) == sum(sum(v < height - 1 for v in x) for x in xs)
        # The library sorts a level's states by code: rank is the position in that order.
        assert [g.rank(x) for x in xs] == list(range(len(xs)))


def test_cut_fraction_matches_the_enumerated_one_within_5_sigma():
    ndim, height, gpus, samples = 3, 6, 3, 4000
    g = scale_plan.Grid(ndim, height)
    levels = states_by_level(ndim, height)
    rng = scale_plan.random.Random(1)
    for level in range(1, g.max_level - 1):
        xs, nxt = levels[level], levels[level + 1]
        pos = {tuple(x): i for i, x in enumerate(nxt)}
        cut = total = 0
        for i, x in enumerate(xs):
            mine = scale_plan.owner(i, len(xs), gpus)
            for d in range(ndim):
                if x[d] < height - 1:
                    y = list(x)
                    y[d] += 1
                    cut += scale_plan.owner(pos[tuple(y)], len(nxt), gpus) != mine
                    total += 1
        exact = cut / total
        est = scale_plan.cut_fraction(g, level, gpus, samples, rng)
        # Edges of one sampled state are correlated: allow the per-state variance (deg <= D).
        sigma = math.sqrt(max(exact * (1 - exact), 1e-4) * ndim / samples)
        assert abs(est - exact) <= 5 * sigma, (level, est, exact)
    assert scale_plan.cut_fraction(g, 3, 1, 10, rng) == 0.0


def test_memory_and_index_limits():
    s, _ = scale_plan.plan(8, 12, 2, 5, 0, 139.0, 1000.0, 450.0, 15.0)
    # 3.15e9 edges: past 2^31-1, so 8-byte CSC edge ids; 4.3e8 states: int32 state ids hold.
    assert s["edges"] == 8 * 11 * 12**7 and s["state_ids_ok"]
    assert s["bytes"] == s["states"] * 72 + s["edges"] * 48 and s["gpus_needed"] == 2
    s, _ = scale_plan.plan(8, 16, 32, 5, 0, 139.0, 1000.0, 450.0, 15.0)
    assert s["states"] == 16**8 and not s["state_ids_ok"]
    s, _ = scale_plan.plan(6, 15, 1, 5, 0, 139.0, 1000.0, 450.0, 15.0)
    assert s["bytes"] == s["states"] * 72 + s["edges"] * 44
    assert s["state_ids_ok"] and s["gpus_needed"] == 1 and s["allgather_bytes"] == 0


@pytest.mark.parametrize("bad,args", [("--ndim", ["--ndim", "0", "--height", "4"]),
                                      ("--height", ["--ndim", "3", "--height", "1"]),
                                      ("--gpus", ["--ndim", "3", "--height", "4", "--gpus", "0"]),
                                      ("--link-gbps", ["--ndim", "3", "--height", "4",
                                                       "--link-gbps", "0"]),
                                      ("--hbm-gbps", ["--ndim", "3", "--height", "4",
                                                      "--hbm-gbps", "nan"]),
                                      ("--level-latency-us", ["--ndim", "3", "--height", "4",
                                                              "--level-latency-us", "-1"]),
                                      ("--csv", ["--ndim", "3", "--height", "4",
                                                 "--csv", "/dev/null"]),
                                      ("--csv", ["--ndim", "3", "--height", "4",
                                                 "--csv", "/proc/nowhere/x.csv"])])
def test_bad_values_exit_2_naming_them(bad, args, capsys):
    assert scale_plan.main(args) == 2
    err = capsys.readouterr().err
    assert bad in err and ("range" in err or "must be" in err or "not a regular file" in err)


def test_csv_holds_one_row_per_level(tmp_path):
    out = tmp_path / "levels.csv"
    assert scale_plan.main(["--ndim", "3", "--height", "4", "--gpus", "2", "--samples", "20",
                            "--csv", str(out)]) == 0
    rows = out.read_text().splitlines()
    assert rows[0].startswith("level,states,edges") and len(rows) == 1 + 3 * 3 + 1
    assert [p.name for p in tmp_path.iterdir()] == ["levels.csv"]


def test_a_sweep_charges_exchange_then_compute_and_nodes_hold_8_gpus():
    # 16 GPUs are 2 nodes of 8: the network's latency per level, exchange + local work summed.
    s, levels = scale_plan.plan(3, 6, 16, 50, 0, 139.0, 1000.0, 450.0, 15.0)
    assert (s["nodes"], s["gpus_per_node"]) == (2, 8)
    lat = 30e-6 * len(levels)
    assert s["sweep_s_p2p"] == pytest.approx(sum(l["local_s"] + l["p2p_s"] for l in levels) + lat)
    assert s["sweep_s_allgather"] == pytest.approx(
        sum(l["local_s"] + l["allgather_s"] for l in levels) + lat)
    assert s["sweep_s_p2p_overlapped"] == pytest.approx(
        sum(max(l["local_s"], l["p2p_s"]) for l in levels) + lat)
    assert s["sweep_s_p2p_overlapped"] <= s["sweep_s_p2p"]
    # An all-gather's bytes from other nodes go at the network's speed: 8 of the 15 other GPUs.
    top = max(levels, key=lambda l: l["allgather_bytes"])
    share = top["allgather_bytes"] / (16 - 1) / 16  # one GPU's slice of the child level
    assert top["allgather_s"] == pytest.approx(max(7 * share / 450e9, 8 * share / 50e9))
    # Within one node: NVLink only, the node's latency.
    one, lv = scale_plan.plan(3, 6, 8, 50, 0, 139.0, 1000.0, 450.0, 15.0)
    assert one["nodes"] == 1
    assert one["sweep_s_p2p"] == pytest.approx(
        sum(l["local_s"] + l["p2p_s"] for l in lv) + 15e-6 * len(lv))
