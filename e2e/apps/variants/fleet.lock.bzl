"""The shared layers of the fleet lock fleet.lock.json, as Bazel reads them when it loads
the BUILD file: each layer of several packages (by a hash of its members'
ids and digests) and the images that hold it.

Written with the lock by `bazel run //apps/variants:fleet.update`; do not edit. Load it in
the fleet's BUILD file and pass it on:

    load(":fleet.lock.bzl", "SHARED_LAYERS")
    py_image_fleet(..., shared_layers = SHARED_LAYERS)
"""

SHARED_LAYERS = {
    "groups": {
        "35dbef3bef78efedb982ef92": [
            "jaraco-functools==4.1.0",
            "more-itertools==10.5.0",
        ],
    },
    "images": {
        "//apps/variants:patched_image": [
            "35dbef3bef78efedb982ef92",
        ],
        "//apps/variants:released_image": [
            "35dbef3bef78efedb982ef92",
        ],
    },
}
