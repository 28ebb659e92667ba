"""Layer planning core: which pip packages go into which image layer.

Pure functions over frozen dataclasses, no I/O (the JSON edge is
:mod:`pyimage.commands.plan`). Two entry points share one algorithm:

* :func:`plan_fleet` plans several images at once (a monorepo) so that
  packages used by the same images share byte-identical layers;
* :func:`plan_image` plans one image alone: what the Bazel image rule calls
  when it has no fleet plan. It is :func:`plan_fleet` on a fleet of one.

The cap counts every layer of the final image: ``base_layers`` of the image's
base, ``reserved_layers`` the caller adds itself (the fleet command reserves 2:
interpreter and app; a rule without an interpreter layer passes 1), and the
package layers planned here. So each image gets at most
``max_layers - base_layers - reserved_layers`` package layers.

Algorithm (see docs/layer-planning.md):

1. ``previous`` layers whose members are all still in the image, same
   ``name==version``, are kept as they are ("kept from previous plan").
2. The other packages are grouped by their *used-by signature*: the set of
   images that need them. Packages with the same signature can share a layer
   without losing any sharing. Within a signature, packages of at least
   :data:`SMALL_LAYER_BYTES` get a layer of their own ("large package alone")
   and the smaller ones are packed into as many layers of at least that size
   as they fill, balanced (largest first into the lightest layer), so that a
   bump re-pushes about SMALL_LAYER_BYTES ("packages used by the same images
   {...}").
3. While an image has more layers than its budget, the cheapest merge of two
   of its layers is applied, fleet-wide: every image holding both layers gets
   the merged layer, so it stays shared ("merged to fit the cap"). The cost
   adds the bytes stored twice, the bytes pulled again between pairs of images
   (weighted by how little those images differ) and the bytes a version bump
   re-pushes. Candidates are the image's smallest layers (never its
   budget - 1 biggest) and the layers only it uses (no sharing lost).
4. Then, while the fleet averages more than :data:`SMALL_LAYERS_MEAN` layers
   under :data:`SMALL_LAYER_BYTES` per image (or an image has more than
   :data:`SMALL_LAYERS_MAX`), small layers are folded the same way, as long as
   a fold wastes at most :data:`FOLD_MAX_COST` ("merged small layers"), and
   as long as all folds together store no more bytes twice than the
   largest-first (Nix-style) plan would under the same cap
   (:func:`largest_first_duplicates`): the plan never stores more than that
   simplest cap-respecting plan because of its folds.
5. Layers are ordered bottom to top by how many images share them, then by
   size, then by members: widely shared, big, slow-changing layers first.
6. For fleets of up to :data:`CHECK_IMAGES_LIMIT` images, the plan is scored
   against the largest-first plan under the same cap (storage, pair and
   :func:`pyimage.planner.metrics.rewrite_ratio`, a stand-in for bump). If it is
   worse on any, steps 1-5 run again with the pair cost weighed more
   (:data:`PULL_WEIGHTS`), and the plan worse on the fewest is kept.

Up to :data:`COSTED_MERGE_LIMIT` (layer, image) pairs and
:data:`PAIR_MATRIX_LIMIT` images, the pair cost of every merge is exact: the
weights of all image pairs are computed once, and merge costs are cached per
pair of layers until one of them loses images. Above, steps 3 and 4 look at
fewer candidates per image and estimate more of the pair cost, to stay
near-linear on fleets of hundreds of images.

Every step breaks ties on package ids and image names, never on input order,
so the same input in any order gives the same plan.
"""

from __future__ import annotations

import heapq
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass

from pyimage.errors import PyimageError
from pyimage.planner.baselines import largest_first

#: Docker's classic layer store refuses images of more than 125 layers.
MAX_LAYERS_LIMIT = 125
#: Default cap on all layers of an image (base + reserved + packages); see
#: docs/layer-planning.md for the measurements behind it.
DEFAULT_MAX_LAYERS = 60
#: Layers the fleet command reserves on top of the base: interpreter and app.
FLEET_RESERVED_LAYERS = 2
#: A layer under this size costs a request and an extraction for little gain.
SMALL_LAYER_BYTES = 1 << 20
#: Small packages join a large package of the same images only while the
#: layer stays under this size: a bump of either re-pushes the whole layer.
HOST_MAX_BYTES = 4 << 20
#: Layers under SMALL_LAYER_BYTES are folded together, cheapest first, at
#: some loss of sharing, while the fleet has more than this many per image on
#: average, or while one image has more than SMALL_LAYERS_MAX.
SMALL_LAYERS_MEAN = 5.0
SMALL_LAYERS_MAX = 8
#: A fold of small layers is not worth it above this cost (bytes stored or
#: pulled again per image relieved): one more layer costs a request and an
#: extraction, about what pulling 256 KiB costs on a typical link.
FOLD_MAX_COST = 256 << 10
#: Weight of the bytes re-pushed by a version bump against bytes stored twice.
BUMP_WEIGHT = 20.0
#: Weight of bytes stored twice in the registry.
STORAGE_WEIGHT = 1.0
#: Weight of the bytes pulled again between pairs of images: the first plan
#: uses the first; if that plan stores or pulls more than the largest-first
#: (Nix-style) plan under the same cap, the next ones are tried too (see
#: :func:`plan_fleet`).
PULL_WEIGHTS = (1.0, 4.0, 8.0)
#: Up to this many images, a plan is checked against the largest-first plan
#: (the pair metric costs a pass over every pair of images).
CHECK_IMAGES_LIMIT = 64
#: How many of an image's layers are considered for its next merge: its
#: smallest (to fit the cap), its smallest as partners of a small layer, and
#: its smallest of those only it uses.
MERGE_CANDIDATES = 5
SMALL_CANDIDATES = 16
OWN_CANDIDATES = 8
#: Without the pair-weight matrix, above this many image pairs a merge's pair
#: cost is estimated, not summed.
PAIR_EXACT_LIMIT = 400
FAST_PAIR_EXACT_LIMIT = 4
#: Up to this many images (and under COSTED_MERGE_LIMIT) the weights of all
#: image pairs are computed once, up front, so every pair cost is exact.
PAIR_MATRIX_LIMIT = 256
#: Above this many (layer, image) pairs the planner considers only each
#: image's two smallest layers and two smallest own layers for a merge, and
#: sums the pair cost over at most FAST_PAIR_EXACT_LIMIT image pairs: same
#: rules, about linear time, for fleets of hundreds of images.
COSTED_MERGE_LIMIT = 8_000

REASON_LARGE = "large package alone"
REASON_KEPT = "kept from previous plan"
REASON_CAP = "merged to fit the cap"
REASON_SMALL = "merged small layers"


@dataclass(frozen=True)
class Package:
    """One pip package version: ``id`` is ``name==version``."""

    id: str
    bytes: int


@dataclass(frozen=True)
class Image:
    """An image: its package ids and how many layers its base image has."""

    name: str
    packages: tuple[str, ...]
    base_layers: int = 0


@dataclass(frozen=True)
class Layer:
    """One planned package layer: sorted member ids, total bytes, why."""

    packages: tuple[str, ...]
    bytes: int
    reason: str


@dataclass(frozen=True)
class ImagePlan:
    """The package layers of one image, bottom to top."""

    name: str
    layers: tuple[Layer, ...]
    budget: int
    base_layers: int


@dataclass(frozen=True)
class Plan:
    """A fleet plan: one :class:`ImagePlan` per image, sorted by name."""

    images: tuple[ImagePlan, ...]
    max_layers: int
    reserved_layers: int

    def image(self, name: str) -> ImagePlan:
        """The plan of the image called ``name``."""
        for img in self.images:
            if img.name == name:
                return img
        raise KeyError(name)


#: A previous plan: image name -> its package layers, each a list of ids.
PreviousPlan = Mapping[str, Sequence[Sequence[str]]]
#: A plan as plain layers: image name -> its package layers (ids).
PlanLayers = Mapping[str, Sequence[Sequence[str]]]


def check_max_layers(max_layers: int) -> None:
    """Refuse a cap the runtimes cannot load."""
    if max_layers > MAX_LAYERS_LIMIT:
        raise PyimageError(
            f"max_layers {max_layers} is above {MAX_LAYERS_LIMIT}: Docker's layer store "
            f"refuses images of more than {MAX_LAYERS_LIMIT} layers ('max depth exceeded'); "
            f"use at most {MAX_LAYERS_LIMIT}"
        )
    if max_layers < 1:
        raise PyimageError(f"max_layers {max_layers} must be at least 1")


def package_budget(image: Image, max_layers: int, reserved_layers: int) -> int:
    """Package layers ``image`` may have under the cap; errors if none fit."""
    budget = max_layers - image.base_layers - reserved_layers
    if budget < (1 if image.packages else 0):
        need = image.base_layers + reserved_layers + (1 if image.packages else 0)
        raise PyimageError(
            f"image '{image.name}': max_layers {max_layers} leaves no room for a package "
            f"layer (base {image.base_layers} + reserved {reserved_layers} layers); "
            f"raise max_layers to at least {need}"
        )
    return budget


def _validate(
    packages: Sequence[Package], images: Sequence[Image], reserved_layers: int
) -> dict[str, int]:
    if reserved_layers < 0:
        raise PyimageError(f"reserved_layers {reserved_layers} must not be negative")
    sizes: dict[str, int] = {}
    for pkg in packages:
        if not isinstance(pkg.id, str) or not pkg.id:
            raise PyimageError(f"package id {pkg.id!r} must be a non-empty 'name==version'")
        if pkg.id in sizes:
            raise PyimageError(f"package '{pkg.id}' is listed twice; list each package once")
        if isinstance(pkg.bytes, bool) or not isinstance(pkg.bytes, int) or pkg.bytes < 0:
            raise PyimageError(
                f"package '{pkg.id}': size {pkg.bytes!r} must be a non-negative integer "
                "number of bytes"
            )
        sizes[pkg.id] = pkg.bytes
    names: set[str] = set()
    for img in images:
        if img.name in names:
            raise PyimageError(f"image '{img.name}' is listed twice; give each image once")
        names.add(img.name)
        if (
            isinstance(img.base_layers, bool)
            or not isinstance(img.base_layers, int)
            or img.base_layers < 0
        ):
            raise PyimageError(
                f"image '{img.name}': base_layers {img.base_layers!r} must be a "
                "non-negative integer"
            )
        seen: set[str] = set()
        for p in img.packages:
            if p not in sizes:
                raise PyimageError(
                    f"image '{img.name}' uses package '{p}' that has no size; add it to "
                    "the packages with its installed_bytes"
                )
            if p in seen:
                raise PyimageError(f"image '{img.name}' lists package '{p}' twice; list it once")
            seen.add(p)
    return sizes


class _Unit:
    """A layer under construction, shared by the images in ``images``."""

    __slots__ = ("bytes", "images", "members", "reason", "rev", "uid")

    def __init__(
        self, uid: int, members: list[int], size: int, images: set[int], reason: str
    ) -> None:
        self.uid = uid
        self.members = members
        self.bytes = size
        self.images = images
        self.reason = reason
        #: Bumped whenever ``images`` shrinks: cached merge costs are stale.
        self.rev = 0


def _describe_images(names: Sequence[str], limit: int = 4) -> str:
    shown = ", ".join(names[:limit])
    if len(names) > limit:
        shown += f", +{len(names) - limit} more"
    return "{" + shown + "}"


class _Planner:
    """One planning run over integer ids (packages and images sorted by name)."""

    def __init__(self, pkg_ids: list[str], sizes: list[int], image_names: list[str]) -> None:
        self.pkg_ids = pkg_ids
        self.sizes = sizes
        self.image_names = image_names
        self.units: dict[int, _Unit] = {}
        self.next_uid = 0
        self.total_bytes = max(1, sum(sizes))
        self.n_packages = max(1, len(sizes))
        self.n_images = max(1, len(image_names))
        self.image_pkgs: list[list[int]] = []
        self.image_sets: list[set[int]] = []
        self.need_memo: dict[int, int] = {}
        self.mean_need = 1.0
        self.pair_scale = 0.0
        self.pair_exact_limit = PAIR_EXACT_LIMIT
        # pair_weight[a][b] = 1/need(a, b) + 1/need(b, a), for fleets small
        # enough to plan with exact pair costs (see weigh_pairs).
        self.pair_weight: list[list[float]] = []
        #: Bytes the folds of small layers may store twice in all (see
        #: largest_first_duplicates); cap merges are not limited by it.
        self.fold_dup_budget = 0
        #: Weight of the pair cost in a merge's cost (one of PULL_WEIGHTS).
        self.pull_weight = PULL_WEIGHTS[0]

    def set_images(self, image_pkgs: list[list[int]]) -> None:
        """The full package lists of the images (for the pair cost)."""
        self.image_pkgs = image_pkgs
        self.image_sets = [set(p) for p in image_pkgs]
        n = len(image_pkgs)
        pairs = n * (n - 1)
        # Pair-metric ratios are per pair of images: one byte more pulled in a
        # pair weighs total_bytes / pairs / need bytes of storage.
        self.pair_scale = self.total_bytes / pairs if pairs else 0.0
        totals = [sum(self.sizes[p] for p in pk) for pk in image_pkgs]
        self.mean_need = max(1.0, sum(totals) / max(1, n) / 2)

    def new_unit(
        self, members: list[int], images: set[int], reason: str, size: int | None = None
    ) -> _Unit:
        members.sort()
        if size is None:
            size = sum(map(self.sizes.__getitem__, members))
        unit = _Unit(self.next_uid, members, size, images, reason)
        self.next_uid += 1
        self.units[unit.uid] = unit
        return unit

    # -- step 2: signature groups -------------------------------------------
    def group(self, rest: list[list[int]]) -> None:
        """Units for the packages each image still needs, by used-by signature."""
        users: dict[int, list[int]] = {}
        for i, pkgs in enumerate(rest):
            for p in pkgs:
                users.setdefault(p, []).append(i)
        by_sig: dict[tuple[int, ...], list[int]] = {}
        for p, imgs in users.items():
            by_sig.setdefault(tuple(imgs), []).append(p)
        for sig in sorted(by_sig):
            members = sorted(by_sig[sig])
            images = set(sig)
            shared = "packages used by the same images " + _describe_images(
                [self.image_names[i] for i in sig]
            )
            small: list[int] = []
            large: list[_Unit] = []
            for p in members:
                if self.sizes[p] >= SMALL_LAYER_BYTES:
                    large.append(self.new_unit([p], set(images), REASON_LARGE))
                else:
                    small.append(p)
            small_bytes = sum(map(self.sizes.__getitem__, small))
            chunks = self.pack(small, small_bytes)
            if small and not chunks:
                # Too small for a layer of its own: join the smallest large
                # package of the same images (no sharing lost) if that keeps
                # the layer cheap to re-push on a bump.
                host = min(large, key=lambda u: (u.bytes, u.uid), default=None)
                if host is not None and host.bytes + small_bytes <= HOST_MAX_BYTES:
                    host.members = sorted(host.members + small)
                    host.bytes += small_bytes
                    host.reason = shared
                else:
                    chunks.append(small)
            for chunk in chunks:
                self.new_unit(chunk, set(images), shared)

    def pack(self, small: list[int], total: int) -> list[list[int]]:
        """Small packages of one signature in as many layers of at least
        SMALL_LAYER_BYTES as they fill, balanced (largest package first into
        the lightest layer): a bump re-pushes the package's whole layer, so
        layers should be as close to SMALL_LAYER_BYTES as they can be.
        Empty if they do not fill one layer."""
        sizes = self.sizes
        k = total // SMALL_LAYER_BYTES
        ranked = sorted(small, key=lambda p: (-sizes[p], p))
        while k > 1:
            heap = [(0, c) for c in range(k)]
            chunks: list[list[int]] = [[] for _ in range(k)]
            for p in ranked:
                got, c = heapq.heappop(heap)
                chunks[c].append(p)
                heapq.heappush(heap, (got + sizes[p], c))
            if heap[0][0] >= SMALL_LAYER_BYTES:
                return chunks
            k -= 1
        return [list(small)] if k == 1 else []

    # -- step 3: merges -----------------------------------------------------
    def need(self, a: int, b: int) -> int:
        """Bytes of image b's packages that image a lacks (memoised)."""
        key = a * self.n_images + b
        got = self.need_memo.get(key)
        if got is None:
            lacking = self.image_sets[b] - self.image_sets[a]
            got = max(1, sum(map(self.sizes.__getitem__, lacking)))
            self.need_memo[key] = got
        return got

    def weigh_pairs(self) -> None:
        """Fill :attr:`pair_weight` for every pair of images at once.

        need(a, b) = bytes of b - bytes a and b share; the shared bytes are
        summed per package over the pairs of its users.
        """
        n = len(self.image_pkgs)
        shared = [[0] * n for _ in range(n)]
        users: dict[int, list[int]] = {}
        for i, pkgs in enumerate(self.image_pkgs):
            for p in pkgs:
                users.setdefault(p, []).append(i)
        sizes = self.sizes
        for p, imgs in users.items():
            size = sizes[p]
            if not size or len(imgs) < 2:
                continue
            for a in imgs:
                row = shared[a]
                for b in imgs:
                    row[b] += size
        totals = [sum(map(sizes.__getitem__, pk)) for pk in self.image_pkgs]
        inv = [[1.0 / max(1, totals[b] - shared[a][b]) for b in range(n)] for a in range(n)]
        self.pair_weight = [[inv[a][b] + inv[b][a] for b in range(n)] for a in range(n)]

    def pulled_cost(self, unit: _Unit, others: set[int], both: set[int]) -> float:
        """Pair-metric cost, in bytes, of images in ``both`` no longer sharing
        ``unit`` with the images in ``others``: each such pair pulls it again."""
        if not others:
            return 0.0
        if self.pair_weight:
            weight = self.pair_weight
            if len(others) > len(both):
                others, both = both, others
            share = 0.0
            for a in others:
                share += sum(map(weight[a].__getitem__, both))
            return unit.bytes * share * self.pair_scale
        if len(others) * len(both) > self.pair_exact_limit:
            share = 1.0 / max(1.0, self.mean_need)
            return 2 * unit.bytes * len(others) * len(both) * share * self.pair_scale
        need = self.need
        # Both directions: b in both pulls the merged layer on a node of a,
        # and a pulls its own copy of unit on a node of b.
        share = sum(1.0 / need(a, b) + 1.0 / need(b, a) for a in others for b in both)
        return unit.bytes * share * self.pair_scale

    def merge_cost(self, u: _Unit, v: _Unit, both: set[int]) -> float:
        """Bytes a merge of ``u`` and ``v`` (for the images in ``both``) wastes."""
        only_u = len(u.images) - len(both)
        only_v = len(v.images) - len(both)
        stored = (u.bytes if only_u else 0) + (v.bytes if only_v else 0)
        pulled = 0.0
        if only_u:
            pulled += self.pulled_cost(u, u.images - both, both)
        if only_v:
            pulled += self.pulled_cost(v, v.images - both, both)
        nu, nv = len(u.members), len(v.members)
        bumped = v.bytes * (nu / self.n_packages + u.bytes / self.total_bytes) + u.bytes * (
            nv / self.n_packages + v.bytes / self.total_bytes
        )
        return STORAGE_WEIGHT * stored + self.pull_weight * pulled + BUMP_WEIGHT * bumped

    def rank(self, unit: _Unit) -> int:
        """Merge candidates come smallest rank first: the layer's bytes."""
        return unit.bytes

    def merge_all(self, budgets: list[int]) -> None:  # noqa: PLR0912, PLR0915 (one loop, shared state)
        """Merge until every image fits its budget and has few small layers."""
        n = len(budgets)
        layers: list[set[int]] = [set() for _ in range(n)]
        heaps: list[list[tuple[int, int, int]]] = [[] for _ in range(n)]
        small = [0] * n
        for unit in self.units.values():
            for i in unit.images:
                layers[i].add(unit.uid)
                heaps[i].append((self.rank(unit), unit.bytes, unit.uid))
                if unit.bytes < SMALL_LAYER_BYTES:
                    small[i] += 1
        for h in heaps:
            heapq.heapify(h)

        small_total = [sum(small)]
        # Bytes stored twice so far (signature groups store none).
        dup = [0]

        def stored(u: _Unit, v: _Unit, both: set[int]) -> int:
            return (u.bytes if len(u.images) > len(both) else 0) + (
                v.bytes if len(v.images) > len(both) else 0
            )

        def fold_fits(u: _Unit, v: _Unit, both: set[int]) -> bool:
            return dup[0] + stored(u, v, both) <= self.fold_dup_budget

        small_target = SMALL_LAYERS_MEAN * n

        # Phase 0 merges only to fit the cap (which folds many small layers
        # already); phase 1 then folds the small layers that are left.
        phase = [0]

        def excess(i: int) -> int:
            over = len(layers[i]) - budgets[i]
            if phase[0] == 0 or len(layers[i]) < 2 or small[i] < 2:
                return over
            if small_total[0] > small_target:
                return max(over, small[i] - 1)
            return max(over, small[i] - SMALL_LAYERS_MAX)

        def smallest(i: int, k: int) -> list[_Unit]:
            heap = heaps[i]
            got: list[tuple[int, int, int]] = []
            while heap and len(got) < k:
                item = heapq.heappop(heap)
                if item[2] in layers[i]:
                    got.append(item)
            for item in got:
                heapq.heappush(heap, item)
            return [self.units[uid] for _, _, uid in got]

        incidences = sum(len(u.images) for u in self.units.values())
        costed = incidences <= COSTED_MERGE_LIMIT
        if not costed:
            self.pair_exact_limit = FAST_PAIR_EXACT_LIMIT
        elif n <= PAIR_MATRIX_LIMIT:
            self.weigh_pairs()

        # Per image, a heap of the layers only it uses (lazily cleaned).
        own_heaps: list[list[tuple[int, int]]] = [[] for _ in range(n)]
        for unit in self.units.values():
            if len(unit.images) == 1:
                own_heaps[next(iter(unit.images))].append((unit.bytes, unit.uid))
        for h in own_heaps:
            heapq.heapify(h)

        def smallest_own(i: int, k: int) -> list[_Unit]:
            heap = own_heaps[i]
            got: list[tuple[int, int]] = []
            while heap and len(got) < k:
                item = heapq.heappop(heap)
                unit = self.units.get(item[1])
                if unit is not None and unit.images == {i}:
                    got.append(item)
            for item in got:
                heapq.heappush(heap, item)
            return [self.units[uid] for _, uid in got]

        def best_fast(i: int, over_cap: bool) -> tuple[float, int, int] | None:
            # Few candidates: the two smallest layers, the two smallest
            # layers only this image uses, and one of each.
            two = smallest(i, 2)
            if len(two) < 2 or (not over_cap and two[1].bytes >= SMALL_LAYER_BYTES):
                return None
            pairs = [(two[0], two[1])]
            if over_cap:
                own = smallest_own(i, 2)
                if len(own) == 2:
                    pairs.append((own[0], own[1]))
                if own and own[0] is not two[0]:
                    pairs.append((two[0], own[0]))
            found: tuple[float, int, int] | None = None
            for u, v in pairs:
                both = u.images & v.images
                if not over_cap and not fold_fits(u, v, both):
                    continue
                cost = self.merge_cost(u, v, both)
                key = (cost, min(u.uid, v.uid), max(u.uid, v.uid))
                if found is None or key < found:
                    found = key
            if found is None or (not over_cap and found[0] > FOLD_MAX_COST):
                return None
            return found

        # Merge cost of a pair of units, by uid pair, with the units' revs.
        cost_cache: dict[tuple[int, int], tuple[int, int, float]] = {}

        def best(i: int) -> tuple[float, int, int] | None:
            over_cap = len(layers[i]) > budgets[i]
            if not costed:
                return best_fast(i, over_cap)
            if over_cap:
                # Never touch the image's budget-1 biggest layers: big
                # packages keep their own layers as long as the cap allows.
                spare = len(layers[i]) - budgets[i] + 1
                cands = smallest(i, max(2, min(MERGE_CANDIDATES, spare)))
                # Layers only this image uses merge at no loss of sharing.
                own = smallest_own(i, OWN_CANDIDATES)
                cands = cands + [u for u in own if u not in cands]
                partners = cands
            else:
                # A small layer may also join a bigger one (often the cheapest
                # fold: the bigger layer's images all get the merged layer).
                partners = smallest(i, SMALL_CANDIDATES)
                cands = [c for c in partners if c.bytes < SMALL_LAYER_BYTES]
            found: tuple[float, int, int] | None = None
            seen: set[tuple[int, int]] = set()
            for u in cands:
                for v in partners:
                    pair = (min(u.uid, v.uid), max(u.uid, v.uid))
                    if u is v or pair in seen:
                        continue
                    seen.add(pair)
                    both = u.images & v.images
                    gain = sum(1 for x in both if excess(x) > 0)
                    if not gain:
                        continue
                    lo, hi = (u, v) if u.uid < v.uid else (v, u)
                    hit = cost_cache.get(pair)
                    if hit is None or hit[0] != lo.rev or hit[1] != hi.rev:
                        hit = (lo.rev, hi.rev, self.merge_cost(u, v, both))
                        cost_cache[pair] = hit
                    cost = hit[2] / gain
                    if not over_cap and (cost > FOLD_MAX_COST or not fold_fits(u, v, both)):
                        continue
                    key = (cost, *pair)
                    if found is None or key < found:
                        found = key
            return found

        version = [0] * n
        queue: list[tuple[float, int, int, int, int, int]] = []

        queued = [False] * n

        def push(i: int) -> None:
            if excess(i) <= 0:
                return
            found = best(i)
            if found is not None:
                queued[i] = True
                heapq.heappush(queue, (found[0], i, version[i], found[1], found[2], 0))

        for phase[0] in (0, 1):
            for i in range(n):
                push(i)
            while queue:
                _, i, ver, a, b, _ = heapq.heappop(queue)
                queued[i] = False
                if ver != version[i]:
                    push(i)
                    continue
                if excess(i) <= 0:
                    continue
                u, v = self.units.get(a), self.units.get(b)
                if u is None or v is None or i not in u.images or i not in v.images:
                    push(i)
                    continue
                over_cap = len(layers[i]) > budgets[i]
                both = u.images & v.images
                if not over_cap and not fold_fits(u, v, both):
                    push(i)
                    continue
                dup[0] += stored(u, v, both)
                merged = self.new_unit(
                    u.members + v.members,
                    set(both),
                    REASON_CAP if over_cap else REASON_SMALL,
                    u.bytes + v.bytes,
                )
                for old in (u, v):
                    old.images -= both
                    old.rev += 1
                    if not old.images:
                        del self.units[old.uid]
                    elif len(old.images) == 1:
                        x = next(iter(old.images))
                        heapq.heappush(own_heaps[x], (old.bytes, old.uid))
                if len(both) == 1:
                    heapq.heappush(own_heaps[i], (merged.bytes, merged.uid))
                for x in both:
                    layers[x].discard(u.uid)
                    layers[x].discard(v.uid)
                    layers[x].add(merged.uid)
                    heapq.heappush(heaps[x], (self.rank(merged), merged.bytes, merged.uid))
                    delta = (merged.bytes < SMALL_LAYER_BYTES) - (
                        (u.bytes < SMALL_LAYER_BYTES) + (v.bytes < SMALL_LAYER_BYTES)
                    )
                    small[x] += delta
                    small_total[0] += delta
                for x in both:
                    version[x] += 1
                # An image left alone with u or v may now have a cheap merge
                # it had not (a layer only it uses): look again.
                for old in (u, v):
                    if len(old.images) == 1:
                        x = next(iter(old.images))
                        if not queued[x]:
                            push(x)
                # Image i's entry was popped; the others' entries are now stale
                # and get recomputed when they come up.
                push(i)


def plan_fleet(
    packages: Iterable[Package],
    images: Iterable[Image],
    max_layers: int = DEFAULT_MAX_LAYERS,
    *,
    reserved_layers: int = FLEET_RESERVED_LAYERS,
    previous: PreviousPlan | None = None,
) -> Plan:
    """Plan the package layers of every image of a fleet under one cap.

    ``packages`` must hold every package the images use (extra ones are
    ignored). ``previous`` maps image names to the package layers of the last
    plan; a layer whose members are all still in that image is kept. Raises
    :class:`~pyimage.errors.PyimageError` on bad input or a cap too small.

    Fleets of up to :data:`CHECK_IMAGES_LIMIT` images are checked against the
    largest-first plan under the same cap: if the plan stores more bytes,
    pulls more between pairs of images or re-pushes more on bumps than that
    plan, it is made again weighing pulls more (:data:`PULL_WEIGHTS`), and the
    plan that is worse on the fewest of the three is kept (the first on a tie).
    """
    pkg_list = list(packages)
    img_list = sorted(images, key=lambda im: im.name)
    check_max_layers(max_layers)
    sizes = _validate(pkg_list, img_list, reserved_layers)
    budgets = [package_budget(im, max_layers, reserved_layers) for im in img_list]

    def attempt(pull_weight: float) -> Plan:
        return _plan(
            sizes,
            img_list,
            budgets=budgets,
            max_layers=max_layers,
            reserved_layers=reserved_layers,
            previous=previous,
            pull_weight=pull_weight,
        )

    first = attempt(PULL_WEIGHTS[0])
    if not 1 < len(img_list) <= CHECK_IMAGES_LIMIT:
        return first
    nix = largest_first(
        sizes,
        {im.name: im.packages for im in img_list},
        {im.name: im.base_layers for im in img_list},
        reserved_layers,
        max_layers,
    )
    reference = _Scores.of(sizes, img_list, nix)
    best = (_Scores.of(sizes, img_list, first).losses(reference), first)
    for pull_weight in PULL_WEIGHTS[1:]:
        if not best[0]:
            break
        plan = attempt(pull_weight)
        losses = _Scores.of(sizes, img_list, plan).losses(reference)
        if losses < best[0]:
            best = (losses, plan)
    return best[1]


def _plan(
    sizes: Mapping[str, int],
    img_list: Sequence[Image],
    *,
    budgets: Sequence[int],
    max_layers: int,
    reserved_layers: int,
    previous: PreviousPlan | None,
    pull_weight: float,
) -> Plan:
    """One planning run with the given weight of the pair cost."""

    used = sorted({p for im in img_list for p in im.packages})
    index = {p: k for k, p in enumerate(used)}
    planner = _Planner(used, [sizes[p] for p in used], [im.name for im in img_list])
    planner.pull_weight = pull_weight

    kept: list[list[tuple[int, ...]]] = []
    rest: list[list[int]] = []
    rest_budgets: list[int] = []
    for im, budget in zip(img_list, budgets, strict=True):
        mine = {index[p] for p in im.packages}
        keep = _kept_layers(mine, (previous or {}).get(im.name, ()), index)
        free = mine.difference(*keep) if keep else set(mine)
        # Drop the smallest kept layers while the rest would not fit.
        keep.sort(key=lambda lay: (sum(planner.sizes[m] for m in lay), lay))
        while keep and len(keep) + (1 if free else 0) > budget:
            free.update(keep.pop(0))
        kept.append(keep)
        rest.append(sorted(free))
        rest_budgets.append(budget - len(keep))

    planner.set_images([sorted(index[p] for p in im.packages) for im in img_list])
    planner.group(rest)
    planner.fold_dup_budget = largest_first_duplicates(planner.sizes, planner.image_pkgs, budgets)
    planner.merge_all(rest_budgets)

    per_image: list[list[Layer]] = [[] for _ in img_list]
    sharing: dict[tuple[str, ...], int] = {}
    for unit in sorted(planner.units.values(), key=lambda u: u.uid):
        ids = tuple(used[m] for m in unit.members)
        lay = Layer(ids, unit.bytes, unit.reason)
        for i in unit.images:
            per_image[i].append(lay)
    for i, keep in enumerate(kept):
        for members in keep:
            ids = tuple(used[m] for m in members)
            per_image[i].append(Layer(ids, sum(sizes[p] for p in ids), REASON_KEPT))
    for lays in per_image:
        for lay in lays:
            sharing[lay.packages] = sharing.get(lay.packages, 0) + 1
    plans = []
    for im, budget, lays in zip(img_list, budgets, per_image, strict=True):
        lays.sort(key=lambda lay: (-sharing[lay.packages], -lay.bytes, lay.packages))
        plans.append(ImagePlan(im.name, tuple(lays), budget, im.base_layers))
    return Plan(tuple(plans), max_layers, reserved_layers)


@dataclass(frozen=True)
class _Scores:
    """What :func:`plan_fleet` compares a plan on against the largest-first plan."""

    storage: float
    pair: float
    rewrite: float

    @classmethod
    def of(
        cls, sizes: Mapping[str, int], img_list: Sequence[Image], layers: PlanLayers | Plan
    ) -> _Scores:
        # metrics imports this module (for SMALL_LAYER_BYTES): import it late.
        from pyimage.planner import metrics  # noqa: PLC0415

        if isinstance(layers, Plan):
            layers = {im.name: [lay.packages for lay in im.layers] for im in layers.images}
        images = {im.name: im.packages for im in img_list}
        return cls(
            metrics.storage_ratio(sizes, images, layers),
            metrics.pair_ratio(sizes, images, layers),
            metrics.rewrite_ratio(sizes, layers),
        )

    def losses(self, other: _Scores) -> int:
        """On how many of the three this plan is worse than ``other``."""
        worse = 0
        for mine, theirs in (
            (self.storage, other.storage),
            (self.pair, other.pair),
            (self.rewrite, other.rewrite),
        ):
            worse += mine > theirs * (1 + 1e-12)
        return worse


def largest_first_duplicates(
    sizes: Sequence[int], image_pkgs: Sequence[Sequence[int]], budgets: Sequence[int]
) -> int:
    """Bytes the largest-first plan (Nix style) stores twice under these budgets.

    That plan gives each image's ``budget - 1`` largest packages a layer each
    and puts the rest in one last layer, which differs between images. Folding
    small layers is allowed to store at most as many bytes twice, so the plan
    never stores more than that simplest cap-respecting plan.
    """
    layers: set[tuple[int, ...]] = set()
    for pkgs, budget in zip(image_pkgs, budgets, strict=True):
        if len(pkgs) <= budget:
            layers.update((p,) for p in pkgs)
            continue
        ranked = sorted(pkgs, key=lambda p: (-sizes[p], p))
        cut = max(0, budget - 1)
        layers.update((p,) for p in ranked[:cut])
        layers.add(tuple(sorted(ranked[cut:])))
    copies: dict[int, int] = {}
    for lay in layers:
        for p in lay:
            copies[p] = copies.get(p, 0) + 1
    return sum(sizes[p] * (c - 1) for p, c in copies.items())


def _kept_layers(
    mine: set[int], previous_layers: Sequence[Sequence[str]], index: Mapping[str, int]
) -> list[tuple[int, ...]]:
    """Previous layers of one image whose members are all still in it."""
    keep: list[tuple[int, ...]] = []
    taken: set[int] = set()
    for layer in previous_layers:
        members = [index.get(p) for p in layer]
        if not members or any(m is None or m not in mine or m in taken for m in members):
            continue
        ids = tuple(sorted(m for m in members if m is not None))
        if len(set(ids)) != len(ids):
            continue
        taken.update(ids)
        keep.append(ids)
    return keep


def plan_image(
    image: Image,
    packages: Iterable[Package],
    max_layers: int = DEFAULT_MAX_LAYERS,
    *,
    reserved_layers: int = FLEET_RESERVED_LAYERS,
    previous: Sequence[Sequence[str]] | None = None,
) -> ImagePlan:
    """Plan one image alone (the Bazel rule's case without a fleet plan).

    ``previous`` is that image's previous package layers, each a list of ids.
    """
    prev = {image.name: previous} if previous is not None else None
    plan = plan_fleet(packages, [image], max_layers, reserved_layers=reserved_layers, previous=prev)
    return plan.images[0]
