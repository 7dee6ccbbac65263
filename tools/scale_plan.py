#!/usr/bin/env python3
"""Memory and communication of the level-synchronous sweeps on hypergrids split over several GPUs.

For a D-dimensional hypergrid of height H (states sorted by level = sum of coordinates, ties by
the base-H code, as the library numbers them) it reports, per grid:
  - states, edges and the bytes the library estimates (72 B per state, 44 B per edge, 48 past
    2^31-1 edges: estimate_dag_bytes), and how many GPUs of --gpu-memory-gb that needs;
  - for G GPUs owning contiguous ranges of each level's state ids: per level, the values an
    all-gather of the child level moves (every GPU receives the other GPUs' shares, 4 B per
    state), and the edges whose child lives on another GPU (sampled: --samples states per level
    drawn uniformly, each child's owner found from its exact rank), whose values a point-to-point
    exchange along cut edges sends (an upper bound: a child needed twice on one GPU goes once);
  - the time of one sweep: per level the exchange, THEN the local work (soft VI's 24 B per state
    and 20 B per edge at --hbm-gbps, spread over the GPUs): the plan exchanges a level's values
    before the kernel that reads them, so the two add up; plus a collective's fixed cost per level
    (--level-latency-us within a node, --node-latency-us once the GPUs span nodes). GPUs sit
    --gpus-per-node to a node (8 by default, as DGX/HGX H100/H200 nodes): a GPU receives from GPUs
    of its node at --link-gbps (NVLink) and from other nodes at --node-link-gbps (InfiniBand), both
    at once, so an exchange takes the longer of the two. Also reported, as a lower bound, the
    overlapped sweep a design splitting interior edges (child on the same GPU: computed while the
    halo arrives) from boundary edges (computed after) could reach: per level max(local, exchange).
Everything is exact integer counting except the cut-edge fractions, which are sampled (seeded).

Usage: tools/scale_plan.py --ndim 6 --height 15 --gpus 4 [--csv levels.csv]
"""
import argparse
import csv
import json
import math
import os
import random
import sys
import tempfile

# host/runtime/memory_budget.cpp: int64 offsets; CSC edge ids in 8 bytes past 2^31-1 edges.
BYTES_PER_STATE, BYTES_PER_EDGE, BYTES_PER_WIDE_EDGE = 72, 44, 48
MAX_INDEX = 2**31 - 1  # state ids are int32
SWEEP_BYTES_PER_STATE, SWEEP_BYTES_PER_EDGE = 24, 20  # bench_exact.cpp's soft VI traffic
VALUE_BYTES = 4  # one float per state value


class Grid:
    """Bounded compositions: count[k][m] = states of k coordinates in [0, H-1] summing to m."""

    def __init__(self, ndim, height):
        self.D, self.H = ndim, height
        self.max_level = ndim * (height - 1)
        self.count = [[0] * (self.max_level + 1) for _ in range(ndim + 1)]
        self.count[0][0] = 1
        for k in range(1, ndim + 1):
            for m in range(self.max_level + 1):
                self.count[k][m] = sum(self.count[k - 1][m - v] for v in range(height) if m - v >= 0)

    def states(self, level):
        return self.count[self.D][level] if 0 <= level <= self.max_level else 0

    def edges(self, level):
        """Edges from `level` to level + 1: every coordinate below H - 1 can grow; by symmetry
        D x (states of the level whose first coordinate is not H - 1)."""
        if not 0 <= level < self.max_level:
            return 0
        top = self.count[self.D - 1][level - (self.H - 1)] if level >= self.H - 1 else 0
        return self.D * (self.states(level) - top)

    def rank(self, x):
        """Position of state x (x[0] the least significant digit of its code) among its level's
        states sorted by code: the states of the level with a smaller code."""
        level, r = sum(x), 0
        rest = level
        for d in range(self.D - 1, -1, -1):  # most significant digit first
            for v in range(x[d]):
                if rest - v >= 0:
                    r += self.count[d][rest - v]
            rest -= x[d]
        return r

    def sample(self, level, rng):
        """A state drawn uniformly from the level."""
        x = [0] * self.D
        rest = level
        for d in range(self.D - 1, -1, -1):
            weights = [self.count[d][rest - v] if rest - v >= 0 else 0 for v in range(self.H)]
            pick = rng.randrange(sum(weights))
            v = 0
            while pick >= weights[v]:
                pick -= weights[v]
                v += 1
            x[d] = v
            rest -= v
        return x


def owner(rank, size, gpus):
    return rank * gpus // size


def cut_fraction(grid, level, gpus, samples, rng):
    """Fraction of the level's edges whose child is owned by another GPU than the parent."""
    n, n_next = grid.states(level), grid.states(level + 1)
    if gpus == 1 or grid.edges(level) == 0:
        return 0.0
    cut = total = 0
    for _ in range(samples):
        x = grid.sample(level, rng)
        mine = owner(grid.rank(x), n, gpus)
        for d in range(grid.D):
            if x[d] < grid.H - 1:
                x[d] += 1
                cut += owner(grid.rank(x), n_next, gpus) != mine
                x[d] -= 1
                total += 1
    return cut / total if total else 0.0


def exchange_seconds(intra_bytes, inter_bytes, link_gbps, node_link_gbps):
    """One GPU's receive: its node's share over NVLink and the rest over the network, at once."""
    return max(intra_bytes / (link_gbps * 1e9), inter_bytes / (node_link_gbps * 1e9))


def plan(ndim, height, gpus, samples, seed, gpu_memory_gb, hbm_gbps, link_gbps, latency_us,
         gpus_per_node=8, node_link_gbps=50.0, node_latency_us=30.0):
    grid = Grid(ndim, height)
    rng = random.Random(seed)
    per_node = min(gpus_per_node, gpus)
    nodes = -(-gpus // gpus_per_node)
    levels = []
    for level in range(grid.max_level + 1):
        n, e = grid.states(level), grid.edges(level)
        n_next = grid.states(level + 1)
        frac = cut_fraction(grid, level, gpus, samples, rng)
        allgather = n_next * (gpus - 1) * VALUE_BYTES  # summed over the receiving GPUs
        p2p = e * frac * VALUE_BYTES
        local = (n * SWEEP_BYTES_PER_STATE + e * SWEEP_BYTES_PER_EDGE) / gpus / (hbm_gbps * 1e9)
        # Per GPU, an all-gather receives (G-1)/G of the child level: (per_node-1)/G of it from
        # its own node, the rest from the others. A point-to-point exchange receives its share of
        # the cut edges, which join neighbouring slices: for a GPU at a node's edge (the slowest)
        # half of them come from the next node once there are several.
        share = n_next * VALUE_BYTES / gpus
        t_allgather = exchange_seconds(share * (per_node - 1), share * (gpus - per_node),
                                       link_gbps, node_link_gbps)
        mine_p2p = p2p / gpus
        cross = 0.5 if nodes > 1 else 0.0
        t_p2p = exchange_seconds(mine_p2p * (1 - cross), mine_p2p * cross, link_gbps,
                                 node_link_gbps)
        levels.append({"level": level, "states": n, "edges": e, "cut_fraction": frac,
                       "allgather_bytes": allgather, "p2p_bytes": p2p, "local_s": local,
                       "allgather_s": t_allgather, "p2p_s": t_p2p})
    states = sum(l["states"] for l in levels)
    edges = sum(l["edges"] for l in levels)
    need = states * BYTES_PER_STATE + edges * (BYTES_PER_WIDE_EDGE if edges > MAX_INDEX
                                                else BYTES_PER_EDGE)
    per_level_latency = (node_latency_us if nodes > 1 else latency_us) * 1e-6
    lat = per_level_latency * len(levels) if gpus > 1 else 0.0
    summary = {
        "ndim": ndim, "height": height, "gpus": gpus, "states": states, "edges": edges,
        "bytes": need, "gpus_needed": -(-need // int(gpu_memory_gb * 1e9)),
        "state_ids_ok": states <= MAX_INDEX,
        "levels": len(levels),
        "allgather_bytes": sum(l["allgather_bytes"] for l in levels),
        "p2p_bytes": sum(l["p2p_bytes"] for l in levels),
        "sweep_s_local_only": sum(l["local_s"] for l in levels),
        "nodes": nodes, "gpus_per_node": per_node,
        # Exchange, then compute: the plan's order.
        "sweep_s_allgather": sum(l["local_s"] + l["allgather_s"] for l in levels) + lat,
        "sweep_s_p2p": sum(l["local_s"] + l["p2p_s"] for l in levels) + lat,
        # The lower bound of an interior/boundary split overlapping the two.
        "sweep_s_p2p_overlapped": sum(max(l["local_s"], l["p2p_s"]) for l in levels) + lat,
    }
    return summary, levels


def parse(argv):
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--ndim", type=int, required=True, help="D, 1..12")
    ap.add_argument("--height", type=int, required=True, help="H, 2..64")
    ap.add_argument("--gpus", type=int, default=1, help="GPUs sharing each level, 1..4096")
    ap.add_argument("--samples", type=int, default=400, help="sampled states per level, 1..100000")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--gpu-memory-gb", type=float, default=139.0, help="an H200's ~139 GB")
    ap.add_argument("--hbm-gbps", type=float, default=1000.0,
                    help="a GPU's achieved sweep bandwidth (the H100's soft VI: ~1 TB/s)")
    ap.add_argument("--gpus-per-node", type=int, default=8,
                    help="GPUs in one node (8: DGX/HGX H100 and H200), 1..64")
    ap.add_argument("--link-gbps", type=float, default=450.0,
                    help="per-GPU bandwidth each way within a node: NVLink 4 ~450")
    ap.add_argument("--node-link-gbps", type=float, default=50.0,
                    help="per-GPU bandwidth each way between nodes: InfiniBand NDR ~50")
    ap.add_argument("--level-latency-us", type=float, default=15.0,
                    help="a collective's fixed cost per level within a node")
    ap.add_argument("--node-latency-us", type=float, default=30.0,
                    help="a collective's fixed cost per level across nodes")
    ap.add_argument("--csv", help="write the per-level table here")
    ap.add_argument("--json", action="store_true", help="print the summary as JSON")
    return ap.parse_args(argv)


def usage_error(a):
    """The first out-of-range argument's message, or None."""
    checks = [("--ndim", a.ndim, 1, 12), ("--height", a.height, 2, 64),
              ("--gpus", a.gpus, 1, 4096), ("--samples", a.samples, 1, 100000),
              ("--gpus-per-node", a.gpus_per_node, 1, 64)]
    for name, v, lo, hi in checks:
        if not lo <= v <= hi:
            return f"{name} = {v} is out of range [{lo}, {hi}]"
    for name, v in [("--gpu-memory-gb", a.gpu_memory_gb), ("--hbm-gbps", a.hbm_gbps),
                    ("--link-gbps", a.link_gbps), ("--node-link-gbps", a.node_link_gbps)]:
        if not 0 < v < math.inf:
            return f"{name} = {v} must be > 0 and finite"
    for name, v in [("--level-latency-us", a.level_latency_us),
                    ("--node-latency-us", a.node_latency_us)]:
        if not 0 <= v < math.inf:
            return f"{name} = {v} must be >= 0 and finite"
    if a.csv and (os.path.exists(a.csv) and not os.path.isfile(a.csv)
                  or not os.access(os.path.dirname(os.path.abspath(a.csv)), os.W_OK)):
        return f"--csv {a.csv}: not a regular file in a writable folder"
    return None


def write_levels(path, levels):
    """The per-level table, whole or not at all: a temporary beside it, renamed over it."""
    fd, tmp = tempfile.mkstemp(dir=os.path.dirname(os.path.abspath(path)), suffix=".csv")
    try:
        with os.fdopen(fd, "w", newline="") as f:
            w = csv.DictWriter(f, fieldnames=list(levels[0]))
            w.writeheader()
            w.writerows(levels)
        os.replace(tmp, path)
    except BaseException:
        os.unlink(tmp)
        raise


def print_summary(s, a):
    print(f"{s['ndim']}-D H={s['height']}: {s['states']:.3e} states, {s['edges']:.3e} edges, "
          f"{s['bytes'] / 1e9:.1f} GB -> {s['gpus_needed']} GPU(s) of {a.gpu_memory_gb:g} GB"
          f"{'' if s['state_ids_ok'] else '; past int32 state ids'}")
    print(f"  {s['gpus']} GPUs, {s['levels']} levels: all-gather {s['allgather_bytes'] / 1e9:.2f}"
          f" GB, cut-edge exchange <= {s['p2p_bytes'] / 1e9:.2f} GB per sweep")
    print(f"  {s['nodes']} node(s) of {s['gpus_per_node']} GPUs; one sweep: "
          f"{s['sweep_s_local_only'] * 1e3:.2f} ms of local work; exchange then compute: "
          f"{s['sweep_s_allgather'] * 1e3:.2f} ms with all-gathers, "
          f"{s['sweep_s_p2p'] * 1e3:.2f} ms with cut-edge exchanges "
          f"({s['sweep_s_p2p_overlapped'] * 1e3:.2f} ms if interior edges overlap the "
          f"exchange); links {a.link_gbps:g} GB/s in a node, {a.node_link_gbps:g} between")


def main(argv=None):
    a = parse(argv)
    error = usage_error(a)
    if error:
        print(f"scale_plan: {error}", file=sys.stderr)
        return 2
    summary, levels = plan(a.ndim, a.height, a.gpus, a.samples, a.seed, a.gpu_memory_gb,
                           a.hbm_gbps, a.link_gbps, a.level_latency_us, a.gpus_per_node,
                           a.node_link_gbps, a.node_latency_us)
    if a.csv:
        write_levels(a.csv, levels)
    if a.json:
        print(json.dumps(summary))
    else:
        print_summary(summary, a)
    return 0


if __name__ == "__main__":
    sys.exit(main())
