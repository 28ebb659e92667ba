"""Checks py_image_layers over each rules_python version's pip targets from real wheels."""

import json
import posixpath
import tarfile
import unittest

from layers_outputs import SITE, blob, manifest, members, outputs

SHAPES = ("rp022", "rp1x", "rp2x", "venv", "venv2x")
PACKAGES = "dev.rules-pyimage.packages"
VENV = "app/venv_app.runfiles/_main/py/tests/shapes/_venv_app.venv"
VENV2X = "app/venv2x_app.runfiles/_main/py/tests/shapes/_venv2x_app.venv"


def package_layers(shape: str) -> dict[str, str]:
    """Packages held (annotation) -> layer digest, of one shape's image."""
    layout = outputs(shape.upper() + "_LAYERS")[".layout"]
    return {
        lay["annotations"][PACKAGES]: lay["digest"]
        for lay in manifest(layout)["layers"]
        if PACKAGES in lay.get("annotations", {})
    }


def image_tree(shape: str) -> dict[str, tarfile.TarInfo]:
    """Every path of one shape's image (package layers and app layer) -> its entry."""
    out = outputs(shape.upper() + "_LAYERS")
    tree: dict[str, tarfile.TarInfo] = {}
    for digest in package_layers(shape).values():
        tree.update(members(blob(out[".layout"], digest)))
    tree.update(members(out[".app.tar.gz"]))
    return tree


def folders(tree: dict[str, tarfile.TarInfo]) -> set[str]:
    """The folders of an image: its directory entries and every parent of a path."""
    found = {name for name, info in tree.items() if info.isdir()}
    for name in tree:
        parts = name.split("/")
        found |= {"/".join(parts[:i]) for i in range(1, len(parts))}
    return found


def resolve(tree: dict[str, tarfile.TarInfo], path: str) -> str | None:
    """Where ``path`` leads in the image, following its links; None when it dangles."""
    done: list[str] = []
    todo = path.split("/")
    dirs = folders(tree)
    for _ in range(1000):
        if not todo:
            here = "/".join(done)
            return here if here in tree or here in dirs else None
        part = todo.pop(0)
        if part == "..":
            done = done[:-1]
            continue
        if part in ("", "."):
            continue
        info = tree.get("/".join([*done, part]))
        if info is not None and info.issym():
            todo = posixpath.join(*done, info.linkname).split("/") + todo
            done = []
            continue
        done.append(part)
    return None


def package_files(shape: str) -> set[str]:
    """Every path in one shape's package layers."""
    layout = outputs(shape.upper() + "_LAYERS")[".layout"]
    names: set[str] = set()
    for digest in package_layers(shape).values():
        names |= set(members(blob(layout, digest)))
    return names


class RulesPythonShapesTest(unittest.TestCase):
    def test_every_shape_gives_the_same_ids_and_layer_bytes(self) -> None:
        ids = {}
        for shape in SHAPES:
            plan = json.loads(outputs(shape.upper() + "_LAYERS")[".plan.json"].read_text())
            ids[shape] = sorted(p for lay in plan["layers"] for p in lay["packages"])
        # PEP 503 names, whatever the tag said (`jaraco.functools`, `Pygments`).
        self.assertIn("jaraco-functools==4.1.0", ids["rp022"])
        self.assertIn("pygments==2.18.0", ids["rp022"])
        self.assertEqual(len(ids["rp022"]), 7)
        reference = package_layers("rp022")
        self.assertTrue(reference)
        for shape in SHAPES[1:]:
            self.assertEqual(ids[shape], ids["rp022"], shape)
            self.assertEqual(package_layers(shape), reference, shape)

    def test_package_layers_hold_site_packages_only_and_no_shim(self) -> None:
        for shape in SHAPES:
            names = package_files(shape)
            self.assertIn(f"{SITE}/jaraco/functools/__init__.py", names, shape)
            self.assertIn(
                f"{SITE}/greenlet/_greenlet.cpython-311-x86_64-linux-gnu.so", names, shape
            )
            self.assertIn(f"{SITE}/typing_extensions.py", names, shape)
            self.assertIn(f"{SITE}/pygments-2.18.0.dist-info/entry_points.txt", names, shape)
            # The namespace shims (0.22 at repository time, 1.x and 2.x at
            # build time), 2.x's RECORD and each version's INSTALLER are
            # left out.
            self.assertFalse(f"{SITE}/jaraco/__init__.py" in names, shape)
            self.assertFalse(f"{SITE}/__init__.py" in names, shape)
            installed = [
                n for n in names if n.endswith((".dist-info/RECORD", ".dist-info/INSTALLER"))
            ]
            self.assertEqual(installed, [], shape)
            # 2.x's bin/ (pygmentize), include/ (greenlet.h), data/ (share/jupyter).
            outside = [n for n in names if not n.startswith(SITE + "/") and not SITE.startswith(n)]
            self.assertEqual(outside, [], shape)

    def test_app_layers_hold_nothing_under_a_package(self) -> None:
        for shape in SHAPES:
            app = members(outputs(shape.upper() + "_LAYERS")[".app.tar.gz"])
            self.assertTrue([n for n in app if n.endswith("/testdata/app/main.py")], shape)
            # Bazel's empty __init__.py in 1.x's site-packages (which has no
            # shim) is not in it either.
            under = [n for n in app if "/spokes/" in n and "/site-packages" in n]
            self.assertEqual(under, [], shape)

    def test_venv_keeps_its_own_files_and_drops_its_links_into_packages(self) -> None:
        app = members(outputs("VENV_LAYERS")[".app.tar.gz"])
        # bin/python3 -> /usr/bin/python3.11 names a path of the build
        # machine: left out (the image runs its own interpreter).
        self.assertNotIn(f"{VENV}/bin/python3", app)
        self.assertIn(f"{VENV}/pyvenv.cfg", app)
        site = f"{VENV}/lib/python3.11/site-packages/"
        held = sorted(n[len(site) :] for n in app if n.startswith(site))
        # Links to jaraco/functools, greenlet's files (root symlinks), ...:
        # gone. The venv's own files stay, with the empty __init__.py Bazel
        # adds beside _bazel_site_init.py.
        self.assertEqual(held, ["__init__.py", "_bazel_site_init.py", "bazel.pth"])

    def test_no_link_of_an_app_layer_dangles(self) -> None:
        # A venv's links into a wheel's data/ or include/ (2.x), or into its
        # site-packages, lead nowhere in the image: they are left out.
        for shape in SHAPES:
            tree = image_tree(shape)
            app = members(outputs(shape.upper() + "_LAYERS")[".app.tar.gz"])
            links = [name for name, info in app.items() if info.issym()]
            dangling = [f"{n} -> {app[n].linkname}" for n in links if resolve(tree, n) is None]
            self.assertEqual(dangling, [], shape)

    def test_pythonpath_names_only_folders_the_image_has(self) -> None:
        # 2.x's venv libraries give their imports bare (`site-packages`):
        # no `/app/<binary>.runfiles/site-packages` the image lacks.
        for shape in SHAPES:
            env_file = outputs(shape.upper() + "_LAYERS")[".env.txt"]
            env = dict(line.split("=", 1) for line in env_file.read_text().splitlines())
            paths = env["PYTHONPATH"].split(":")
            dirs = folders(image_tree(shape))
            self.assertEqual([p for p in paths if p.lstrip("/") not in dirs], [], shape)
            self.assertEqual(paths[0], "/" + SITE, shape)

    def test_a_2x_venv_keeps_its_own_files_and_drops_its_wheel_folder_links(self) -> None:
        app = members(outputs("VENV2X_LAYERS")[".app.tar.gz"])
        venv = sorted(n[len(VENV2X) + 1 :] for n in app if n.startswith(VENV2X + "/"))
        # share -> jupyterlab_pygments' data/share, include/python3.11/<header>
        # -> greenlet's include/: gone with the links into site-packages.
        self.assertNotIn("share", venv)
        self.assertEqual([n for n in venv if n.startswith("include")], [])
        self.assertIn("pyvenv.cfg", venv)
        self.assertIn("lib/python3.11/site-packages/bazel.pth", venv)


if __name__ == "__main__":
    unittest.main()
