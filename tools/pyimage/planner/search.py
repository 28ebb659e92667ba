"""The planner's search: signature groups, then the cheapest merges until every image fits.

Steps 2 to 4 of the algorithm (see :mod:`pyimage.planner.plan` and
docs/layer-planning.md), over integer ids: packages and images are numbered in
sorted order, so ties broken on ids are ties broken on names.

:class:`Search` holds the units (layers under construction) and the cost
model of a merge; :class:`_Merges` is the merge loop: per image, its layers,
its smallest layers and its smallest layers only it uses, and one queue of
each image's best merge, fleet-wide.
"""

from __future__ import annotations

import heapq
from collections.abc import Callable, Sequence

from pyimage.planner.model import REASON_CAP, REASON_LARGE, REASON_SMALL, SMALL_LAYER_BYTES

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


class Unit:
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


class Search:
    """One planning run over integer ids (packages and images sorted by name)."""

    def __init__(
        self, pkg_ids: list[str], sizes: list[int], image_names: list[str], pull_weight: float
    ) -> None:
        self.pkg_ids = pkg_ids
        self.sizes = sizes
        self.image_names = image_names
        self.units: dict[int, Unit] = {}
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
        #: Weight of the pair cost in a merge's cost (one of the guard's PULL_WEIGHTS).
        self.pull_weight = pull_weight

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
    ) -> Unit:
        members.sort()
        if size is None:
            size = sum(map(self.sizes.__getitem__, members))
        unit = Unit(self.next_uid, members, size, images, reason)
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
            large: list[Unit] = []
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

    def pulled_cost(self, unit: Unit, others: set[int], both: set[int]) -> float:
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

    def merge_cost(self, u: Unit, v: Unit, both: set[int]) -> float:
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

    def merge_all(self, budgets: list[int], fold_dup_budget: int) -> None:
        """Merge until every image fits its budget and has few small layers.

        ``fold_dup_budget``: the bytes the folds of small layers may store
        twice in all (the largest-first plan's, see the guard); merges to fit
        the cap are not limited by it.
        """
        _Merges(self, budgets, fold_dup_budget).run()


#: The merge loop's two phases: merges to fit the cap only (which fold many
#: small layers already), then folds of the small layers that are left.
_CAP, _FOLD = 0, 1

#: The best merge found for an image: (cost, uid of one layer, uid of the other).
_Found = tuple[float, int, int]


class _Merges:
    """One run of the merge loop over the units of a :class:`Search`."""

    def __init__(self, search: Search, budgets: list[int], fold_dup_budget: int) -> None:
        self.search = search
        self.units = search.units
        self.budgets = budgets
        self.fold_dup_budget = fold_dup_budget
        n = len(budgets)
        self.n_images = n
        #: Per image: the uids of its layers.
        self.layers: list[set[int]] = [set() for _ in range(n)]
        #: Per image: a heap of (bytes, uid) of its layers, cleaned lazily.
        self.by_size: list[list[tuple[int, int]]] = [[] for _ in range(n)]
        #: Per image: a heap of (bytes, uid) of the layers only it uses, cleaned lazily.
        self.own_by_size: list[list[tuple[int, int]]] = [[] for _ in range(n)]
        #: Per image, and in all: how many of its layers are under SMALL_LAYER_BYTES.
        self.small = [0] * n
        for unit in self.units.values():
            for i in unit.images:
                self.layers[i].add(unit.uid)
                self.by_size[i].append((unit.bytes, unit.uid))
                self.small[i] += unit.bytes < SMALL_LAYER_BYTES
            if len(unit.images) == 1:
                self.own_by_size[next(iter(unit.images))].append((unit.bytes, unit.uid))
        for heap in (*self.by_size, *self.own_by_size):
            heapq.heapify(heap)
        self.small_total = sum(self.small)
        self.small_target = SMALL_LAYERS_MEAN * n
        #: Bytes stored twice by the merges so far (signature groups store none).
        self.stored_twice = 0
        self.phase = _CAP

        incidences = sum(len(u.images) for u in self.units.values())
        self.costed = incidences <= COSTED_MERGE_LIMIT
        if not self.costed:
            search.pair_exact_limit = FAST_PAIR_EXACT_LIMIT
        elif n <= PAIR_MATRIX_LIMIT:
            search.weigh_pairs()
        #: Merge cost of a pair of units, by uid pair, with the units' revs then.
        self.cost_cache: dict[tuple[int, int], tuple[int, int, float]] = {}

        #: The queue of each image's best merge: (cost, image, its version
        #: then, uid, uid, 0); an entry whose version is not the image's now
        #: is looked at again.
        self.queue: list[tuple[float, int, int, int, int, int]] = []
        self.version = [0] * n
        self.queued = [False] * n

    # -- what an image needs ------------------------------------------------
    def over_cap(self, i: int) -> bool:
        return len(self.layers[i]) > self.budgets[i]

    def excess(self, i: int) -> int:
        """How many merges image ``i`` still wants in this phase."""
        count = len(self.layers[i])
        over = count - self.budgets[i]
        if self.phase == _CAP or count < 2 or self.small[i] < 2:
            return over
        if self.small_total > self.small_target:
            return max(over, self.small[i] - 1)
        return max(over, self.small[i] - SMALL_LAYERS_MAX)

    def added_storage(self, u: Unit, v: Unit, both: set[int]) -> int:
        """Bytes a merge of ``u`` and ``v`` for the images ``both`` stores twice."""
        return (u.bytes if len(u.images) > len(both) else 0) + (
            v.bytes if len(v.images) > len(both) else 0
        )

    def fold_fits(self, u: Unit, v: Unit, both: set[int]) -> bool:
        """Whether a fold keeps all folds within the bytes they may store twice."""
        return self.stored_twice + self.added_storage(u, v, both) <= self.fold_dup_budget

    # -- candidates -----------------------------------------------------------
    def _smallest_of(
        self, heap: list[tuple[int, int]], k: int, alive: Callable[[int], bool]
    ) -> list[Unit]:
        """The ``k`` smallest live entries of ``heap`` (dropping dead ones on the way)."""
        got: list[tuple[int, int]] = []
        while heap and len(got) < k:
            item = heapq.heappop(heap)
            if alive(item[1]):
                got.append(item)
        for item in got:
            heapq.heappush(heap, item)
        return [self.units[uid] for _, uid in got]

    def smallest(self, i: int, k: int) -> list[Unit]:
        """Image ``i``'s ``k`` smallest layers."""
        return self._smallest_of(self.by_size[i], k, self.layers[i].__contains__)

    def smallest_own(self, i: int, k: int) -> list[Unit]:
        """Image ``i``'s ``k`` smallest layers that only it uses."""

        def only_mine(uid: int) -> bool:
            unit = self.units.get(uid)
            return unit is not None and unit.images == {i}

        return self._smallest_of(self.own_by_size[i], k, only_mine)

    # -- the best merge of an image -----------------------------------------
    def best(self, i: int) -> _Found | None:
        over_cap = self.over_cap(i)
        return self.best_costed(i, over_cap) if self.costed else self.best_fast(i, over_cap)

    def best_fast(self, i: int, over_cap: bool) -> _Found | None:
        """Among few candidates: the two smallest layers, the two smallest
        layers only this image uses, and one of each."""
        two = self.smallest(i, 2)
        if len(two) < 2 or (not over_cap and two[1].bytes >= SMALL_LAYER_BYTES):
            return None
        pairs = [(two[0], two[1])]
        if over_cap:
            own = self.smallest_own(i, 2)
            if len(own) == 2:
                pairs.append((own[0], own[1]))
            if own and own[0] is not two[0]:
                pairs.append((two[0], own[0]))
        found: _Found | None = None
        for u, v in pairs:
            both = u.images & v.images
            if not over_cap and not self.fold_fits(u, v, both):
                continue
            cost = self.search.merge_cost(u, v, both)
            key = (cost, min(u.uid, v.uid), max(u.uid, v.uid))
            if found is None or key < found:
                found = key
        if found is None or (not over_cap and found[0] > FOLD_MAX_COST):
            return None
        return found

    def best_costed(self, i: int, over_cap: bool) -> _Found | None:
        """The cheapest merge per image relieved, over every pair of candidates."""
        if over_cap:
            # Never touch the image's budget-1 biggest layers: big packages
            # keep their own layers as long as the cap allows.
            spare = len(self.layers[i]) - self.budgets[i] + 1
            cands = self.smallest(i, max(2, min(MERGE_CANDIDATES, spare)))
            # Layers only this image uses merge at no loss of sharing.
            own = self.smallest_own(i, OWN_CANDIDATES)
            cands = cands + [u for u in own if u not in cands]
            partners = cands
        else:
            # A small layer may also join a bigger one (often the cheapest
            # fold: the bigger layer's images all get the merged layer).
            partners = self.smallest(i, SMALL_CANDIDATES)
            cands = [c for c in partners if c.bytes < SMALL_LAYER_BYTES]
        found: _Found | None = None
        seen: set[tuple[int, int]] = set()
        for u in cands:
            for v in partners:
                pair = (min(u.uid, v.uid), max(u.uid, v.uid))
                if u is v or pair in seen:
                    continue
                seen.add(pair)
                both = u.images & v.images
                gain = sum(1 for x in both if self.excess(x) > 0)
                if not gain:
                    continue
                cost = self.cached_cost(u, v, both, pair) / gain
                if not over_cap and (cost > FOLD_MAX_COST or not self.fold_fits(u, v, both)):
                    continue
                key = (cost, *pair)
                if found is None or key < found:
                    found = key
        return found

    def cached_cost(self, u: Unit, v: Unit, both: set[int], pair: tuple[int, int]) -> float:
        """The merge cost of ``u`` and ``v``, recomputed once either lost images."""
        lo, hi = (u, v) if u.uid < v.uid else (v, u)
        hit = self.cost_cache.get(pair)
        if hit is None or hit[0] != lo.rev or hit[1] != hi.rev:
            hit = (lo.rev, hi.rev, self.search.merge_cost(u, v, both))
            self.cost_cache[pair] = hit
        return hit[2]

    # -- the loop -------------------------------------------------------------
    def push(self, i: int) -> None:
        """Queue image ``i``'s best merge, if it wants one and has one."""
        if self.excess(i) <= 0:
            return
        found = self.best(i)
        if found is not None:
            self.queued[i] = True
            heapq.heappush(self.queue, (found[0], i, self.version[i], found[1], found[2], 0))

    def run(self) -> None:
        for self.phase in (_CAP, _FOLD):
            for i in range(self.n_images):
                self.push(i)
            while self.queue:
                self.step()

    def step(self) -> None:
        """Take the cheapest queued merge; apply it if it still holds, else look again."""
        _, i, version, a, b, _ = heapq.heappop(self.queue)
        self.queued[i] = False
        if version != self.version[i]:
            self.push(i)
            return
        if self.excess(i) <= 0:
            return
        u, v = self.units.get(a), self.units.get(b)
        if u is None or v is None or i not in u.images or i not in v.images:
            self.push(i)
            return
        over_cap = self.over_cap(i)
        both = u.images & v.images
        if not over_cap and not self.fold_fits(u, v, both):
            self.push(i)
            return
        self.merge(i, u, v, both, over_cap)

    def merge(self, i: int, u: Unit, v: Unit, both: set[int], over_cap: bool) -> None:
        """Give the images ``both`` one layer of ``u`` and ``v``; the others keep theirs."""
        self.stored_twice += self.added_storage(u, v, both)
        merged = self.search.new_unit(
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
                heapq.heappush(self.own_by_size[x], (old.bytes, old.uid))
        if len(both) == 1:
            heapq.heappush(self.own_by_size[i], (merged.bytes, merged.uid))
        small_delta = (merged.bytes < SMALL_LAYER_BYTES) - (
            (u.bytes < SMALL_LAYER_BYTES) + (v.bytes < SMALL_LAYER_BYTES)
        )
        for x in both:
            self.layers[x].discard(u.uid)
            self.layers[x].discard(v.uid)
            self.layers[x].add(merged.uid)
            heapq.heappush(self.by_size[x], (merged.bytes, merged.uid))
            self.small[x] += small_delta
            self.small_total += small_delta
        for x in both:
            self.version[x] += 1
        # An image left alone with u or v may now have a cheap merge it had
        # not (a layer only it uses): look again.
        for old in (u, v):
            if len(old.images) == 1:
                x = next(iter(old.images))
                if not self.queued[x]:
                    self.push(x)
        # Image i's entry was popped; the others' entries are now stale and
        # get recomputed when they come up.
        self.push(i)
