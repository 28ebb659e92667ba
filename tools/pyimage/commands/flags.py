"""Command-line flags that several commands share: how their blobs are compressed."""

from __future__ import annotations

import argparse

from pyimage.engine.compression import DEFAULT_ZSTD_LEVEL, Compression


def add_compression_flags(p: argparse.ArgumentParser, choose: bool) -> None:
    """Add ``--zstd`` and ``--zstd-level``; with ``choose``, ``--compression`` too."""
    if choose:
        p.add_argument(
            "--compression", default="gzip", help="gzip (default) or zstd: the layers' compression"
        )
    p.add_argument(
        "--zstd-level",
        type=int,
        default=DEFAULT_ZSTD_LEVEL,
        metavar="N",
        help=f"zstd's level, 1 to 19 (default {DEFAULT_ZSTD_LEVEL})",
    )
    p.add_argument(
        "--zstd", metavar="PATH", help="the zstd program, for zstd layers (default: zstd on PATH)"
    )


def compression(args: argparse.Namespace) -> Compression:
    """The compression the flags ask for (``gzip`` when the command has no ``--compression``)."""
    name = getattr(args, "compression", "gzip")
    return Compression.of(name, args.zstd_level, args.zstd)
