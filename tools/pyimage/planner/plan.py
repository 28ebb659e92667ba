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

0. The layers users declare (:mod:`pyimage.planner.declared`) come first:
   each image's members of a declared group are one layer, each package
   declared alone another; they take their part of the budget and the steps
   below plan the other packages ("declared layer group NAME", "declared
   alone").
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

from collections.abc import Iterable, Mapping, Sequence

from pyimage.errors import PyimageError
from pyimage.planner.declared import (
    NOTHING,
    REASON_ALONE,
    Declared,
    check,
    layers_of,
    package_name,
)
from pyimage.planner.guard import (
    CHECK_IMAGES_LIMIT,
    PULL_WEIGHTS,
    Scores,
    largest_first,
    largest_first_duplicates,
)
from pyimage.planner.model import (
    DEFAULT_MAX_LAYERS,
    FLEET_RESERVED_LAYERS,
    MAX_LAYERS_LIMIT,
    REASON_KEPT,
    Image,
    ImagePlan,
    Layer,
    Package,
    Plan,
    PreviousPlan,
    check_max_layers,
    package_budget,
    validate,
)
from pyimage.planner.search import Search


def plan_fleet(
    packages: Iterable[Package],
    images: Iterable[Image],
    max_layers: int = DEFAULT_MAX_LAYERS,
    *,
    reserved_layers: int = FLEET_RESERVED_LAYERS,
    previous: PreviousPlan | None = None,
    declared: Declared = NOTHING,
    where: str = "the declared layers",
) -> Plan:
    """Plan the package layers of every image of a fleet under one cap.

    ``packages`` must hold every package the images use (extra ones are
    ignored). ``previous`` maps image names to the package layers of the last
    plan; a layer whose members are all still in that image is kept. The
    layers ``declared`` (:mod:`pyimage.planner.declared`) come first: each
    image's members of a group are one layer, a package declared alone
    another, whatever ``previous`` holds; ``where`` names the declaration in
    errors. Raises :class:`~pyimage.errors.PyimageError` on bad input or a
    cap too small.

    Fleets of up to :data:`CHECK_IMAGES_LIMIT` images are checked against the
    largest-first plan under the same cap: if the plan stores more bytes,
    pulls more between pairs of images or re-pushes more on bumps than that
    plan, it is made again weighing pulls more (:data:`PULL_WEIGHTS`), and the
    plan that is worse on the fewest of the three is kept (the first on a tie).
    """
    pkg_list = list(packages)
    img_list = sorted(images, key=lambda im: im.name)
    check_max_layers(max_layers)
    sizes = validate(pkg_list, img_list, reserved_layers)
    budgets = [package_budget(im, max_layers, reserved_layers) for im in img_list]
    if declared:
        check(declared, [p for im in img_list for p in im.packages], where)

    def attempt(pull_weight: float) -> Plan:
        return _plan(
            sizes,
            img_list,
            budgets=budgets,
            max_layers=max_layers,
            reserved_layers=reserved_layers,
            previous=previous,
            pull_weight=pull_weight,
            declared=declared,
        )

    first = attempt(PULL_WEIGHTS[0])
    # (A plan with declared layers is not held to the largest-first plan of
    # all its packages: the declaration is the user's trade, not the search's.)
    if declared or not 1 < len(img_list) <= CHECK_IMAGES_LIMIT:
        return first
    nix = largest_first(
        sizes,
        {im.name: im.packages for im in img_list},
        {im.name: budget for im, budget in zip(img_list, budgets, strict=True)},
    )
    reference = Scores.of(sizes, img_list, nix)
    best = (Scores.of(sizes, img_list, first).losses(reference), first)
    for pull_weight in PULL_WEIGHTS[1:]:
        if not best[0]:
            break
        plan = attempt(pull_weight)
        losses = Scores.of(sizes, img_list, plan).losses(reference)
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
    declared: Declared,
) -> Plan:
    """One planning run with the given weight of the pair cost."""

    used = sorted({p for im in img_list for p in im.packages})
    index = {p: k for k, p in enumerate(used)}
    planner = Search(used, [sizes[p] for p in used], [im.name for im in img_list], pull_weight)

    kept: list[list[tuple[int, ...]]] = []
    pinned: list[list[Layer]] = []
    rest: list[list[int]] = []
    rest_budgets: list[int] = []
    for im, whole in zip(img_list, budgets, strict=True):
        mine = {index[p] for p in im.packages}
        pinned.append(_declared_layers(im, whole, declared, sizes))
        budget = whole - len(pinned[-1])
        mine.difference_update(index[p] for lay in pinned[-1] for p in lay.packages)
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
    fold_dup_budget = largest_first_duplicates(planner.sizes, planner.image_pkgs, budgets)
    planner.merge_all(rest_budgets, fold_dup_budget)

    per_image: list[list[Layer]] = [[] for _ in img_list]
    sharing: dict[tuple[str, ...], int] = {}
    for unit in sorted(planner.units.values(), key=lambda u: u.uid):
        ids = tuple(used[m] for m in unit.members)
        lay = Layer(ids, unit.bytes, unit.reason)
        for i in unit.images:
            per_image[i].append(lay)
    for i, own in enumerate(pinned):
        per_image[i].extend(own)
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


def _declared_layers(
    image: Image, budget: int, declared: Declared, sizes: Mapping[str, int]
) -> list[Layer]:
    """The declared layers of ``image``; an error naming them when they leave no room.

    The error counts them (groups, packages alone), the layers the cap keeps
    for the rest (base, interpreter, library and app layers), and names the
    two smallest to merge.
    """
    out = [
        Layer(members, sum(sizes[p] for p in members), reason)
        for reason, members in layers_of(declared, image.packages)
    ]
    others = len(image.packages) > sum(len(lay.packages) for lay in out)
    need = len(out) + (1 if others else 0)
    if need > budget:
        small = sorted(out, key=lambda lay: (lay.bytes, lay.packages))[:2]
        shown = " and ".join(
            "[" + ", ".join(package_name(p) for p in lay.packages) + "]" for lay in small
        )
        merge = f"merge declared layers (e.g. {shown} into one group) or " if len(out) > 1 else ""
        alone = sum(lay.reason == REASON_ALONE for lay in out)
        kinds = ((len(out) - alone, "declared groups"), (alone, "packages declared alone"))
        counted = [f"{n} {what}" for n, what in kinds if n]
        raise PyimageError(
            f"image '{image.name}': its {' and '.join(counted)}"
            f"{' and a layer of its other packages' if others else ''} need {need} package"
            f" layers, but its cap leaves {budget} beside its base, interpreter, library and app"
            f" layers; {merge}raise max_layers by {need - budget} (at most {MAX_LAYERS_LIMIT}"
            " in all)"
        )
    return out


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
    alongside: Sequence[Image] = (),
    declared: Declared = NOTHING,
    where: str = "the declared layers",
) -> ImagePlan:
    """Plan one image alone (the Bazel rule's case without a fleet plan).

    ``previous`` is that image's previous package layers, each a list of ids.
    ``alongside`` are images it should share layers with, as far as they hold
    the same packages, though nobody plans them here: the same image for
    the other platforms of an image index. The packages they share then get
    layers of their own, never merged with one only the image holds unless
    the cap leaves no other way. Empty: the image alone, as a fleet of one.
    ``declared`` applies to it and to them.
    """
    prev = {image.name: previous} if previous is not None else None
    plan = plan_fleet(
        packages,
        [image, *alongside],
        max_layers,
        reserved_layers=reserved_layers,
        previous=prev,
        declared=declared,
        where=where,
    )
    (mine,) = [p for p in plan.images if p.name == image.name]
    return mine
