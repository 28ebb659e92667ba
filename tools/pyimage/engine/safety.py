"""Checks of hostile or malformed input: paths inside the image and symlink targets.

Every check raises :class:`~pyimage.errors.PyimageError` with a one-line message
that names the package and the offending item and says what to do.
"""

from __future__ import annotations

import posixpath

from pyimage.errors import PyimageError

WHITEOUT_PREFIX = ".wh."
# Linux's limits, which every runtime unpacking a layer meets: NAME_MAX bytes
# per file name, PATH_MAX (with its NUL) per path and symlink target.
NAME_MAX = 255
PATH_MAX = 4096


def _show(text: str) -> str:
    """Quote ``text`` for a one-line message (escapes newlines and odd characters)."""
    return repr(text)


def check_image_path(package: str, path: str) -> str:
    """Validate a relative path inside the image and return it unchanged.

    Refused: empty paths, a leading ``/``, empty, ``.`` or ``..`` components,
    a trailing ``/``, NUL or newline characters, names that are not valid
    UTF-8 text, OCI whiteout names (any component starting with ``.wh.``),
    which a runtime would read as deletions of lower layers' files, and names
    longer than Linux can create (a component over 255 bytes, a path of 4096
    bytes or more from the image root).
    """
    where = f"package {package}: path {_show(path)}"
    if not isinstance(path, str) or not path:
        raise PyimageError(f"package {package}: empty path in manifest; give every entry a path")
    if "\x00" in path or "\n" in path:
        raise PyimageError(f"{where} contains NUL or newline; rename the file")
    try:
        path.encode("utf-8")
    except UnicodeEncodeError as err:
        raise PyimageError(f"{where} is not valid UTF-8; rename the file") from err
    if path.startswith("/"):
        raise PyimageError(f"{where} is absolute; paths must be relative to the image root")
    size = len(path.encode("utf-8"))
    if size + 1 >= PATH_MAX:
        raise PyimageError(
            f"package {package}: path {_show(path[:60] + '...')} is {size} bytes;"
            f" runtimes cannot unpack one over {PATH_MAX - 2} bytes (Linux's PATH_MAX), shorten it"
        )
    for part in path.split("/"):
        size = len(part.encode("utf-8"))
        if size > NAME_MAX:
            raise PyimageError(
                f"{where} has a name of {size} bytes; runtimes cannot unpack a"
                f" name over {NAME_MAX} bytes, rename the file"
            )
        if part in ("", ".", ".."):
            raise PyimageError(
                f"{where} has an empty, '.' or '..' component; give a normalised relative path"
            )
        if part.startswith(WHITEOUT_PREFIX):
            raise PyimageError(
                f"{where} has a whiteout name ({part!r}); runtimes would read it as a deletion,"
                " rename the file"
            )
    return path


def check_symlink_target(package: str, path: str, target: str, root: str = "") -> str:
    """Validate the target of the symlink at ``path`` and return it unchanged.

    The target must be relative and, resolved lexically against the link's
    directory, stay inside ``root`` (the package's root inside the image; the
    image root when empty). Absolute targets are refused: they point outside
    the package whatever the image.
    """
    where = f"package {package}: symlink {_show(path)} -> {_show(target)}"
    if not isinstance(target, str) or not target:
        raise PyimageError(f"{where} has an empty target; give the link a relative target")
    if "\x00" in target or "\n" in target:
        raise PyimageError(f"{where} target contains NUL or newline; fix the link")
    try:
        raw = target.encode("utf-8")
    except UnicodeEncodeError as err:
        raise PyimageError(f"{where} target is not valid UTF-8 text; fix the link") from err
    if len(raw) >= PATH_MAX:
        raise PyimageError(f"{where} target is {PATH_MAX} bytes or more; shorten the link")
    if target.startswith("/"):
        raise PyimageError(
            f"{where} is absolute and leaves the package; use a relative target inside it"
        )
    resolved = posixpath.normpath(posixpath.join(posixpath.dirname(path), target))
    inside = resolved != ".." and not resolved.startswith("../")
    if inside and root:
        inside = resolved == root or resolved.startswith(root.rstrip("/") + "/")
    if not inside:
        top = f"package root {root!r}" if root else "image root"
        raise PyimageError(
            f"{where} leaves the package (climbs out of the {top});"
            " point it at a file inside the package"
        )
    return target


MAX_LINK_HOPS = 40


def check_symlink_chains(package: str, links: dict[str, str], root: str = "") -> None:
    """Resolve every symlink through the package's other symlinks; refuse escapes and loops.

    :func:`check_symlink_target` checks one link lexically; a chain such as
    ``a/up -> ..`` then ``b/l -> ../a/up/../x`` passes that check per link yet
    climbs out at run time. This walks each target component by component,
    following links of the same package as a kernel would (up to
    ``MAX_LINK_HOPS``), and requires the result to stay inside ``root``.
    """
    top = [p for p in root.split("/") if p]
    for path, target in sorted(links.items()):
        where = f"package {package}: symlink {_show(path)} -> {_show(target)}"
        done = path.split("/")[:-1]
        todo = target.split("/")
        hops = 0
        while todo:
            part = todo.pop(0)
            if part in ("", "."):
                continue
            if part == "..":
                if len(done) <= len(top):
                    raise PyimageError(
                        f"{where} leaves the package through other symlinks;"
                        " point it at a file inside the package"
                    )
                done.pop()
                continue
            done.append(part)
            hop = links.get("/".join(done))
            if hop is not None:
                hops += 1
                if hops > MAX_LINK_HOPS:
                    raise PyimageError(f"{where} is part of a symlink loop; break the loop")
                done.pop()
                todo = hop.split("/") + todo
