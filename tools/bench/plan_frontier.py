#!/usr/bin/env python3
"""The least storage any plan needs for at most K small layers: an exact bound.

Usage (from the repository root; needs ``pip install pulp``, which brings the
CBC solver; an analysis script, not a test and not used by the rules)::

    PYTHONPATH=tools python3 tools/bench/plan_frontier.py FLEET.json
        [--cap 100] [--base-layers 5] [--small 5.0] [--pair-limit nix|none]

Small packages (under 1 MiB) used by the same set of images form a *unit*.
Units with no large package of the same users are what leaves small layers
(a unit that has one rides in its layer for free). The integer program
chooses, for every image, how its units are covered: by layers made of one or
more units (any subset of units, used by any images that hold all of them),
or by riding in a large layer whose users all need the unit (stored once more
per such layer). It minimises the bytes stored twice subject to

* at most ``--small`` layers under 1 MiB per image on average, and
* (``--pair-limit nix``, the default) a pair metric no worse than the
  largest-first (Nix-style) plan's under the same cap.

Large packages keep one layer per used-by signature, as the planner makes
them; the cap must leave room for that (checked). The result is the least any
plan of that shape stores: if it is above the largest-first plan's storage,
no plan is at least as good as largest-first on storage and pair with that
few small layers. The planner's own plan is printed beside it.
"""

from __future__ import annotations

import argparse
import itertools
import json
import sys
from collections import defaultdict
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from pyimage.planner import (
    FLEET_RESERVED_LAYERS,
    SMALL_LAYER_BYTES,
    Image,
    Package,
    baselines,
    metrics,
    plan_fleet,
)

try:
    import pulp
except ImportError:  # pragma: no cover - depends on the machine
    sys.exit("plan_frontier.py needs the PuLP solver package: pip install pulp")


def load(path: str, base_layers: int) -> tuple[dict[str, int], dict[str, list[str]], dict]:
    doc = json.loads(Path(path).read_text())
    sizes = {k: v["installed_bytes"] for k, v in doc["packages"].items()}
    images = {n: sorted(v["packages"]) for n, v in doc["images"].items()}
    base = {n: v.get("base_layers", base_layers) for n, v in doc["images"].items()}
    return sizes, images, base


def units_and_hosts(
    sizes: dict[str, int], images: dict[str, list[str]]
) -> tuple[dict[str, tuple[int, frozenset[str]]], list[frozenset[str]], set[str]]:
    """Units (name -> bytes, users), host signatures, packages in units."""
    users: dict[str, set[str]] = defaultdict(set)
    for name, pkgs in images.items():
        for p in pkgs:
            users[p].add(name)
    groups: dict[frozenset[str], list[str]] = defaultdict(list)
    for p, who in users.items():
        groups[frozenset(who)].append(p)
    units: dict[str, tuple[int, frozenset[str]]] = {}
    hosts: list[frozenset[str]] = []
    in_units: set[str] = set()
    for who, pkgs in sorted(groups.items(), key=lambda kv: sorted(kv[1])):
        if any(sizes[p] >= SMALL_LAYER_BYTES for p in pkgs):
            hosts.append(who)
        else:
            units["+".join(sorted(p.split("==")[0] for p in pkgs))] = (
                sum(sizes[p] for p in pkgs),
                who,
            )
            in_units.update(pkgs)
    return units, hosts, in_units


def solve(  # noqa: PLR0912 (one model, built in one place)
    sizes: dict[str, int],
    images: dict[str, list[str]],
    max_small: float,
    pair_limit: float | None,
) -> dict:
    units, hosts, in_units = units_and_hosts(sizes, images)
    names = sorted(images)
    prob = pulp.LpProblem("frontier", pulp.LpMinimize)
    layer: dict[tuple[str, ...], tuple[pulp.LpVariable, int, frozenset[str]]] = {}
    use: dict[tuple[tuple[str, ...], str], pulp.LpVariable] = {}
    for r in range(1, len(units) + 1):
        for combo in itertools.combinations(sorted(units), r):
            who = frozenset(names).intersection(*(units[u][1] for u in combo))
            if not who:
                continue
            x = pulp.LpVariable(f"x{len(layer)}", cat="Binary")
            layer[combo] = (x, sum(units[u][0] for u in combo), who)
            for n in who:
                y = use[combo, n] = pulp.LpVariable(f"y{len(use)}", cat="Binary")
                prob += y <= x
    ride = {
        (u, k): pulp.LpVariable(f"h{k}_{i}", cat="Binary")
        for i, u in enumerate(sorted(units))
        for k, host in enumerate(hosts)
        if host <= units[u][1]
    }
    for n in names:
        for u, (_, who) in units.items():
            if n in who:
                prob += (
                    pulp.lpSum(use[c, n] for c in layer if u in c and (c, n) in use)
                    + pulp.lpSum(v for (uu, k), v in ride.items() if uu == u and n in hosts[k])
                    == 1
                )
    stored = pulp.lpSum(x * b for x, b, _ in layer.values()) + pulp.lpSum(
        v * units[u][0] for (u, _), v in ride.items()
    )
    small = pulp.lpSum(y for (c, _), y in use.items() if layer[c][1] < SMALL_LAYER_BYTES)
    prob += small <= max_small * len(names)
    held = {n: set(images[n]) for n in names}
    terms = []
    for a in names:
        for b in names:
            missing = held[b] - held[a]
            need = sum(sizes[p] for p in missing)
            if a == b or not need:
                continue
            pulled = [sum(sizes[p] for p in missing if p not in in_units)]
            for c, (_, size, who) in layer.items():
                if b in who:
                    z = pulp.LpVariable(f"z{len(terms)}_{len(pulled)}", lowBound=0)
                    prob += z >= use[c, b] - (use[c, a] if a in who else 0)
                    pulled.append(z * size)
            for (u, k), v in ride.items():
                if b in hosts[k] and a not in hosts[k]:
                    pulled.append(v * units[u][0])
            terms.append(pulp.lpSum(pulled) * (1.0 / need))
    pair = pulp.lpSum(terms) * (1.0 / len(terms)) if terms else 1.0
    if pair_limit is not None and terms:
        prob += pair <= pair_limit
    prob += stored
    status = prob.solve(pulp.PULP_CBC_CMD(msg=False))
    if pulp.LpStatus[status] != "Optimal":
        return {"status": pulp.LpStatus[status]}
    unit_bytes = sum(b for b, _ in units.values())
    chosen = [
        (list(c), sorted(n for n in who if use[c, n].value() > 0.5))
        for c, (x, _, who) in layer.items()
        if x.value() > 0.5
    ]
    rides = [(u, sorted(hosts[k])) for (u, k), v in ride.items() if v.value() > 0.5]
    return {
        "status": "Optimal",
        "stored_twice": round(pulp.value(stored)) - unit_bytes,
        "small": pulp.value(small) / len(names),
        "pair": pulp.value(pair),
        "layers": chosen,
        "rides": rides,
        "units": len(units),
    }


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("fleet")
    ap.add_argument("--cap", type=int, default=100)
    ap.add_argument("--base-layers", type=int, default=5)
    ap.add_argument("--small", type=float, default=5.0, help="small layers per image, mean")
    ap.add_argument("--pair-limit", choices=("nix", "none"), default="nix")
    args = ap.parse_args()
    sizes, images, base = load(args.fleet, args.base_layers)
    used = {p for pkgs in images.values() for p in pkgs}
    total = sum(sizes[p] for p in used)
    nix = baselines.largest_first(sizes, images, base, FLEET_RESERVED_LAYERS, args.cap)
    nix_storage = metrics.storage_ratio(sizes, images, nix)
    nix_pair = metrics.pair_ratio(sizes, images, nix)
    ours = plan_fleet(
        [Package(p, sizes[p]) for p in sorted(used)],
        [Image(n, tuple(images[n]), base[n]) for n in sorted(images)],
        args.cap,
    )
    layers = {im.name: [lay.packages for lay in im.layers] for im in ours.images}
    units, hosts, _ = units_and_hosts(sizes, images)
    for n in images:
        fixed = sum(1 for h in hosts if n in h)
        free = args.cap - base[n] - FLEET_RESERVED_LAYERS
        if fixed + sum(1 for _, who in units.values() if n in who) > free:
            print(f"warning: image {n}: the cap may bind; the bound assumes it does not")
    limit = nix_pair if args.pair_limit == "nix" else None
    got = solve(sizes, images, args.small, limit)
    print(f"fleet {args.fleet}: {len(images)} images, {len(used)} packages, {total:,} bytes")
    print(f"small units (no large package of the same users): {len(units)}")
    print(
        f"largest-first (cap {args.cap}): storage {nix_storage:.6f}  pair {nix_pair:.6f}  "
        f"small {metrics.small_layers(sizes, nix):.2f}"
    )
    print(
        f"planner:                   storage {metrics.storage_ratio(sizes, images, layers):.6f}"
        f"  pair {metrics.pair_ratio(sizes, images, layers):.6f}"
        f"  small {metrics.small_layers(sizes, layers):.2f}"
    )
    if got["status"] != "Optimal":
        print(f"bound: {got['status']} (no plan of this shape has small <= {args.small})")
        return 0
    print(
        f"bound (small <= {args.small}, pair <= {args.pair_limit}): storage "
        f"{1 + got['stored_twice'] / total:.6f} ({got['stored_twice']:,} bytes stored twice)"
        f"  pair {got['pair']:.6f}  small {got['small']:.2f}"
    )
    for members, who in got["layers"]:
        print(f"  layer {' + '.join(members)}: {len(who)} images")
    for unit, who in got["rides"]:
        print(f"  {unit} rides in the large layer of {{{', '.join(who)}}}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
