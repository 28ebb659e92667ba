"""fsutil: placed blobs are never symlinks, whatever the source is."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from pyimage.errors import PyimageError
from pyimage.fsutil import place_blob


@pytest.mark.parametrize("relative", [False, True])
def test_a_symlinked_source_is_placed_as_the_file_it_points_to(
    tmp_path: Path, relative: bool
) -> None:
    # As in Bazel's sandbox: the input is a symlink (here through a second
    # link) to the real output in the execroot.
    execroot = tmp_path / "execroot"
    execroot.mkdir()
    real = execroot / "six.blob"
    real.write_bytes(b"blob bytes " * 100)
    sandbox = tmp_path / "sandbox"
    sandbox.mkdir()
    hop = sandbox / "hop"
    hop.symlink_to(os.path.relpath(real, sandbox) if relative else real)
    src = sandbox / "six.blob"
    src.symlink_to("hop")

    dst = tmp_path / "layout" / "blob"
    dst.parent.mkdir()
    how = place_blob(src, dst)

    assert how in ("reflink", "hardlink", "copy")
    assert not dst.is_symlink()
    assert dst.is_file()
    # The sandbox and the execroot's file go; the placed blob stays whole.
    src.unlink()
    hop.unlink()
    real.unlink()
    assert dst.read_bytes() == b"blob bytes " * 100


def test_a_dangling_source_is_one_line_naming_it(tmp_path: Path) -> None:
    src = tmp_path / "gone"
    src.symlink_to(tmp_path / "nowhere")
    with pytest.raises(PyimageError, match=r"cannot copy blob .*gone"):
        place_blob(src, tmp_path / "dst")
    assert not (tmp_path / "dst").exists()
