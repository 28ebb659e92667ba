"""Which platform a file's native code is for, and which platforms a wheel's tags name.

The package action asks this of every file it writes (from the file's first
bytes and its name) and of the wheel's ``*.dist-info/WHEEL``; the descriptor
records the answers (:mod:`pyimage.engine.descriptor`) and the image action
refuses a package built for another platform than the image's
(:func:`foreign`). A cross-built image that carries the build machine's
wheels (rules_python #260) then fails at build time, not when the container
runs.

Native code, by its bytes: an ELF file (any type: programs, shared
libraries, objects) is for its ``e_machine`` (and its OS ABI: Linux unless it
says FreeBSD and the like); a Mach-O file (thin or universal) is for
``darwin``. By its name: a ``.dylib`` or ``*-darwin.so`` file is for
``darwin``; a ``.pyd`` or ``.dll`` file (a Windows extension module or
library) is for ``windows``, its architecture read from the PE header when
it has one. Windows programs (``.exe``) are not counted: pure-Python wheels
ship them as data (setuptools' and pip's launchers) and Linux never runs
them.

Platforms are spelled as OCI's ``os/architecture[/variant]``
(``linux/amd64``, ``linux/arm64``, ``linux/arm/v7``, ``darwin/arm64``); ``?``
where the bytes or the tag do not say. ELF files of machines that are not
CPUs this module knows (GPU code: CUDA cubins, AMD code objects) are not
native code of any platform here.

What decides (:func:`foreign`): a wheel's tags when it has any (a
``py3-none-any`` wheel may ship helper programs for every OS, as selenium
and debugpy do, and picks one at run time); the native files only for a
layer without tags (the interpreter's, a package without ``WHEEL``).
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field

#: How many leading bytes :func:`classify` needs (the ELF header's fields it reads).
HEAD_BYTES = 20

#: ELF ``e_machine`` -> OCI architecture (64-bit class where it matters).
_ELF_MACHINES = {
    3: "386",
    20: "ppc",
    21: "ppc64",
    22: "s390x",
    40: "arm",
    62: "amd64",
    183: "arm64",
    243: "riscv64",
    258: "loong64",
}

#: ELF ``EI_OSABI`` values that are not Linux (0, System V, and 3, GNU, are).
_ELF_OSES = {1: "hpux", 2: "netbsd", 6: "solaris", 9: "freebsd", 12: "openbsd"}

#: Mach-O magics, both byte orders, 32 and 64 bit.
_MACHO_MAGICS = (
    b"\xfe\xed\xfa\xce",
    b"\xce\xfa\xed\xfe",
    b"\xfe\xed\xfa\xcf",
    b"\xcf\xfa\xed\xfe",
)

#: Mach-O ``cputype`` -> OCI architecture.
_MACHO_CPUS = {7: "386", 0x01000007: "amd64", 12: "arm", 0x0100000C: "arm64"}

#: PE ``Machine`` -> OCI architecture.
_PE_MACHINES = {0x14C: "386", 0x8664: "amd64", 0xAA64: "arm64", 0x1C4: "arm"}

_DARWIN_NAME = re.compile(r".*(\.dylib|-darwin\.so)$")
_WINDOWS_NAME = re.compile(r".*\.(pyd|dll)$", re.IGNORECASE)


def _elf(head: bytes) -> str | None:
    little = head[5] == 1
    machine = int.from_bytes(head[18:20], "little" if little else "big")
    arch = _ELF_MACHINES.get(machine)
    if arch is None:
        return None  # not a CPU this knows: GPU code (CUDA cubins, AMD code objects), BPF
    if arch == "ppc64" and little:
        arch = "ppc64le"
    return f"{_ELF_OSES.get(head[7], 'linux')}/{arch}"


def _macho(head: bytes) -> str:
    if head[:4] == b"\xca\xfe\xba\xbe":
        return "darwin/?"  # universal: several architectures, none of them Linux
    order = "big" if head[:2] == b"\xfe\xed" else "little"
    cpu = int.from_bytes(head[4:8], order)
    return f"darwin/{_MACHO_CPUS.get(cpu, '?')}"


def is_universal_macho(head: bytes) -> bool:
    """A fat Mach-O header: ``cafebabe`` then an architecture count (Java classes: a version)."""
    return head[:4] == b"\xca\xfe\xba\xbe" and 0 < int.from_bytes(head[4:8], "big") < 30


def classify(path: str, head: bytes, machine: int | None = None) -> str | None:
    """The platform whose native code the file at ``path`` is, or None for other files.

    ``head`` is its first :data:`HEAD_BYTES` bytes (or all of it when shorter);
    ``machine`` the PE header's machine field of a Windows library, when the
    caller read it (:func:`pe_machine`).
    """
    if head[:4] == b"\x7fELF" and len(head) >= HEAD_BYTES:
        return _elf(head)
    if (head[:4] in _MACHO_MAGICS and len(head) >= 8) or is_universal_macho(head):
        return _macho(head)
    name = path.rsplit("/", 1)[-1]
    if _DARWIN_NAME.fullmatch(name):
        return "darwin/?"
    if _WINDOWS_NAME.fullmatch(name):
        return "windows/" + _PE_MACHINES.get(machine or 0, "?")
    return None


def pe_machine(path: str, head: bytes, read_at: Callable[[int, int], bytes]) -> int | None:
    """The PE ``Machine`` of a Windows library at ``path``; None for other files.

    ``read_at(offset, size)`` reads the file (a PE header lies where the DOS
    header's ``e_lfanew`` says, past :data:`HEAD_BYTES`).
    """
    if head[:2] != b"MZ" or _WINDOWS_NAME.fullmatch(path.rsplit("/", 1)[-1]) is None:
        return None
    offset = int.from_bytes(read_at(0x3C, 4).ljust(4, b"\0"), "little")
    pe = read_at(offset, 6)
    return int.from_bytes(pe[4:6], "little") if pe[:4] == b"PE\0\0" and len(pe) == 6 else None


def is_wheel_metadata(path: str) -> bool:
    """Whether ``path`` is a wheel's ``*.dist-info/WHEEL`` file."""
    parts = path.rsplit("/", 2)
    return len(parts) >= 2 and parts[-1] == "WHEEL" and parts[-2].endswith(".dist-info")


def wheel_tags(text: str) -> tuple[str, ...]:
    """The ``Tag:`` values of a WHEEL file (``cp311-cp311-manylinux_2_17_x86_64``), sorted."""
    tags = set()
    for line in text.splitlines():
        key, sep, value = line.partition(":")
        if sep and key.strip().lower() == "tag" and value.strip():
            tags.add(value.strip())
    return tuple(sorted(tags))


#: A wheel platform tag's architecture suffix -> OCI architecture.
_TAG_ARCHES = {
    "x86_64": "amd64",
    "amd64": "amd64",
    "i686": "386",
    "i386": "386",
    "aarch64": "arm64",
    "arm64": "arm64",
    "armv7l": "arm/v7",
    "armv6l": "arm/v6",
    "loongarch64": "loong64",
    "ppc64le": "ppc64le",
    "ppc64": "ppc64",
    "s390x": "s390x",
    "riscv64": "riscv64",
}


#: A WHEEL file bigger than this is not read for its tags (they are some hundred bytes).
WHEEL_MAX_BYTES = 1 << 16


@dataclass
class Scan:
    """What a package's files say about their platform, gathered as they are written."""

    #: Each platform of its native files -> the first such file (in the layer's order).
    native: dict[str, str] = field(default_factory=dict)
    #: The depth of its top ``*.dist-info/WHEEL`` files and their tags.
    wheel: tuple[int, set[str]] = (1 << 30, set())

    def add(self, path: str, head: bytes, size: int, read_at: Callable[[int, int], bytes]) -> None:
        """Look at the file ``path`` of ``size`` bytes, whose first bytes are ``head``."""
        plat = classify(path, head, pe_machine(path, head, read_at))
        if plat is not None:
            self.native.setdefault(plat, path)
        depth = path.count("/")
        if is_wheel_metadata(path) and size <= WHEEL_MAX_BYTES and depth <= self.wheel[0]:
            tags = set(wheel_tags(read_at(0, size).decode("utf-8", "replace")))
            self.wheel = (depth, tags | self.wheel[1]) if depth == self.wheel[0] else (depth, tags)

    @property
    def tags(self) -> tuple[str, ...]:
        """The wheel's tags: those of its top ``WHEEL`` files, not of wheels it vendors."""
        return tuple(sorted(self.wheel[1]))


def tag_platform(tag: str) -> str | None:
    """The ``os/arch`` a wheel tag's platform part is for; None for ``any``.

    ``manylinux*``, ``musllinux*`` and ``linux_*`` are Linux; ``macosx_*``
    darwin (``universal2`` and the like: ``darwin/?``); ``win32`` and
    ``win_*`` windows; anything else ``<platform tag>/?``.
    """
    plat = tag.rsplit("-", 1)[-1]
    if plat == "any":
        return None
    if plat == "win32":
        return "windows/386"
    if plat.startswith("win_"):
        return "windows/" + _TAG_ARCHES.get(plat[4:], "?")
    for prefix, os_name in (("macosx_", "darwin"), ("manylinux", "linux"), ("musllinux_", "linux")):
        if plat.startswith(prefix) or (prefix == "manylinux" and plat.startswith("linux_")):
            arch = next((a for s, a in _TAG_ARCHES.items() if plat.endswith("_" + s)), "?")
            return f"{os_name}/{arch}"
    return f"{plat}/?"


#: The glibc each legacy manylinux tag stands for (PEP 513, 571, 599).
_LEGACY_MANYLINUX = {"manylinux1": (2, 5), "manylinux2010": (2, 12), "manylinux2014": (2, 17)}
_POLICY = re.compile(r"(manylinux|musllinux)_(\d+)_(\d+)_.+")


def libc_need(tag: str) -> tuple[str, tuple[int, int]] | None:
    """The C library a wheel tag needs: ``("glibc", (2, 17))``, ``("musl", (1, 2))``, or None.

    ``manylinux_2_X`` needs glibc 2.X or newer (PEP 600), ``musllinux_1_X``
    musl 1.X (PEP 656); ``any``, ``linux_*`` and other platforms name none.
    """
    plat = tag.rsplit("-", 1)[-1]
    legacy = _LEGACY_MANYLINUX.get(plat.split("_", 1)[0])
    if legacy is not None:
        return "glibc", legacy
    policy = _POLICY.fullmatch(plat)
    if policy is None:
        return None
    family = "glibc" if policy.group(1) == "manylinux" else "musl"
    return family, (int(policy.group(2)), int(policy.group(3)))


def same_platform(have: str, want: str) -> bool:
    """Whether code for ``have`` runs on ``want`` (both ``os/arch[/variant]``).

    An architecture ``?`` (unknown) fits any of its OS's; a variant is
    compared only when both name one.
    """
    have_os, have_arch, have_variant = [*have.split("/"), "", ""][:3]
    want_os, want_arch, want_variant = [*want.split("/"), "", ""][:3]
    if have_os != want_os or have_arch not in (want_arch, "?"):
        return False
    return not (have_variant and want_variant) or have_variant == want_variant


def foreign(native: dict[str, str], tags: Iterable[str], platform: str) -> str | None:
    """Why a layer with these facts cannot go into a ``platform`` image; None when it can.

    ``tags`` are its wheel's: a wheel fits when one of them is ``any`` or of
    ``platform``. A layer without tags fits when each of its native files
    (``native``: each platform -> one file) is of ``platform``.
    """
    tags = list(tags)
    if tags:
        plats = [tag_platform(t) for t in tags]
        if any(p is None or same_platform(p, platform) for p in plats):
            return None
        named = ", ".join(sorted({str(p).removesuffix("/?") for p in plats}))
        files = [path for have, path in sorted(native.items()) if not same_platform(have, platform)]
        example = f"; e.g. {files[0]}" if files else ""
        return f"its wheel is for {named} ({', '.join(tags)}{example})"
    for have, path in sorted(native.items()):
        if not same_platform(have, platform):
            return f"{path} is {have.removesuffix('/?')} native code"
    return None
