"""The platform guard: what platform a file's native code and a wheel's tags are for.

Headers are built from the formats' specifications (ELF's ``e_ident`` and
``e_machine``, Mach-O's magic and ``cputype``, PE's ``e_lfanew`` and
``Machine``); the running interpreter's own ELF file is read for real.
"""

from __future__ import annotations

import json
import os
import platform
import struct
import sys
from pathlib import Path

import pytest
from enginekit import build_package, pyimage

from pyimage.engine import descriptor as desc_mod
from pyimage.engine import layer, native
from pyimage.errors import PyimageError
from pyimage.fleet import image

SITE = "opt/pyimage/site-packages"


def elf(machine: int, *, little: bool = True, wide: bool = True, osabi: int = 0) -> bytes:
    """The first 20 bytes of an ELF shared object, then some padding."""
    ident = b"\x7fELF" + bytes([2 if wide else 1, 1 if little else 2, 1, osabi]) + bytes(8)
    order = "<" if little else ">"
    return ident + struct.pack(order + "HH", 3, machine) + bytes(44)


def macho(cputype: int) -> bytes:
    """A thin 64-bit little-endian Mach-O header."""
    return b"\xcf\xfa\xed\xfe" + struct.pack("<I", cputype) + bytes(24)


def pe(machine: int) -> bytes:
    """A DOS stub whose ``e_lfanew`` points at a PE header of ``machine``."""
    dos = bytearray(0x80)
    dos[:2] = b"MZ"
    dos[0x3C:0x40] = struct.pack("<I", 0x80)
    return bytes(dos) + b"PE\0\0" + struct.pack("<H", machine) + bytes(16)


def classify(path: str, data: bytes) -> str | None:
    head = data[: native.HEAD_BYTES]
    return native.classify(path, head, native.pe_machine(path, head, lambda o, n: data[o : o + n]))


# e_machine values and OS ABIs from the ELF specification and its processor supplements.
@pytest.mark.parametrize(
    ("header", "want"),
    [
        (elf(62), "linux/amd64"),
        (elf(183), "linux/arm64"),
        (elf(3, wide=False), "linux/386"),
        (elf(40, wide=False), "linux/arm"),
        (elf(21), "linux/ppc64le"),
        (elf(21, little=False), "linux/ppc64"),
        (elf(22, little=False), "linux/s390x"),
        (elf(243), "linux/riscv64"),
        (elf(62, osabi=3), "linux/amd64"),
        (elf(62, osabi=9), "freebsd/amd64"),
        # GPU code (CUDA cubins, AMD code objects) and unknown machines: no CPU's native code.
        (elf(190), None),
        (elf(224), None),
        (elf(4242), None),
    ],
)
def test_an_elf_file_is_for_its_machine_and_os(header: bytes, want: str | None) -> None:
    assert classify(f"{SITE}/m/_x.so", header) == want


def test_the_running_interpreter_is_native_code_of_this_machine() -> None:
    arch = {"x86_64": "amd64", "aarch64": "arm64"}.get(platform.machine())
    if arch is None:
        pytest.skip(f"no OCI name in this test for {platform.machine()}")
    data = Path(os.path.realpath(sys.executable)).read_bytes()[:4096]
    assert classify("usr/bin/python3", data) == f"linux/{arch}"


@pytest.mark.parametrize(
    ("path", "data", "want"),
    [
        ("m/_x.cpython-311-darwin.so", macho(0x0100000C), "darwin/arm64"),
        ("m/libx.dylib", macho(0x01000007), "darwin/amd64"),
        ("m/libx.so", b"\xca\xfe\xba\xbe\0\0\0\x02" + bytes(40), "darwin/?"),
        ("m/_x.cpython-311-darwin.so", b"not a header", "darwin/?"),
        ("m/libx.dylib", b"", "darwin/?"),
        ("m/_x.cp311-win_amd64.pyd", pe(0x8664), "windows/amd64"),
        ("m/x.dll", pe(0xAA64), "windows/arm64"),
        ("m/x.DLL", pe(0x14C), "windows/386"),
        ("m/x.pyd", b"garbage", "windows/?"),
        # Java classes share the universal Mach-O magic; their next word is a version.
        ("m/Main.class", b"\xca\xfe\xba\xbe\0\0\0\x34" + bytes(40), None),
        # setuptools and pip ship Windows launchers as data; Linux never runs them.
        ("setuptools/cli-64.exe", pe(0x8664), None),
        ("m/__init__.py", b"import os\n", None),
        ("m/short.so", b"\x7fELF\x02", None),
    ],
)
def test_other_oses_native_files_by_bytes_and_by_name(path: str, data: bytes, want: str) -> None:
    assert classify(path, data) == want


def test_wheel_tags_are_read_from_the_wheel_metadata() -> None:
    text = (
        "Wheel-Version: 1.0\nGenerator: bdist_wheel (0.41.2)\nRoot-Is-Purelib: false\n"
        "Tag: cp311-cp311-manylinux_2_17_x86_64\ntag: cp311-cp311-manylinux2014_x86_64\n\n"
    )
    assert native.wheel_tags(text) == (
        "cp311-cp311-manylinux2014_x86_64",
        "cp311-cp311-manylinux_2_17_x86_64",
    )
    assert native.is_wheel_metadata(f"{SITE}/numpy-2.1.0.dist-info/WHEEL")
    assert not native.is_wheel_metadata(f"{SITE}/numpy/WHEEL")
    assert not native.is_wheel_metadata(f"{SITE}/numpy-2.1.0.dist-info/METADATA")


# Platform tags as PEP 425, 513, 599, 600 and 656 and the macOS and Windows wheels name them.
@pytest.mark.parametrize(
    ("tag", "want"),
    [
        ("py3-none-any", None),
        ("cp311-cp311-manylinux_2_17_x86_64", "linux/amd64"),
        ("cp311-cp311-manylinux2014_aarch64", "linux/arm64"),
        ("cp311-cp311-manylinux1_i686", "linux/386"),
        ("cp311-cp311-musllinux_1_2_aarch64", "linux/arm64"),
        ("cp311-cp311-linux_x86_64", "linux/amd64"),
        ("cp311-cp311-manylinux_2_28_ppc64le", "linux/ppc64le"),
        ("cp311-cp311-manylinux_2_17_s390x", "linux/s390x"),
        ("cp311-cp311-linux_armv7l", "linux/arm/v7"),
        ("cp311-cp311-linux_armv6l", "linux/arm/v6"),
        ("cp311-cp311-manylinux_2_36_loongarch64", "linux/loong64"),
        ("cp311-cp311-macosx_11_0_arm64", "darwin/arm64"),
        ("cp311-cp311-macosx_10_9_universal2", "darwin/?"),
        ("cp311-cp311-win_amd64", "windows/amd64"),
        ("cp311-cp311-win32", "windows/386"),
        ("cp311-cp311-win_arm64", "windows/arm64"),
        ("cp311-cp311-android_24_arm64_v8a", "android_24_arm64_v8a/?"),
    ],
)
def test_a_wheel_tags_platform(tag: str, want: str | None) -> None:
    assert native.tag_platform(tag) == want


def test_a_wheel_is_foreign_when_none_of_its_tags_fits() -> None:
    so = f"{SITE}/numpy/_core/_multiarray_umath.cpython-311-x86_64-linux-gnu.so"
    x86_tags = ["cp311-cp311-manylinux_2_17_x86_64", "cp311-cp311-manylinux2014_x86_64"]
    assert native.foreign({"linux/amd64": so}, x86_tags, "linux/amd64") is None
    why = native.foreign({"linux/amd64": so}, x86_tags, "linux/arm64/v8")
    assert why == f"its wheel is for linux/amd64 ({', '.join(x86_tags)}; e.g. {so})"
    assert native.foreign({}, ["cp311-cp311-macosx_11_0_arm64"], "linux/arm64") == (
        "its wheel is for darwin/arm64 (cp311-cp311-macosx_11_0_arm64)"
    )
    assert native.foreign({}, ["cp311-cp311-win_amd64", "py3-none-any"], "linux/arm64") is None
    # Variants: an armv7l wheel runs on arm/v7 (and on an image that names none), not on arm/v6.
    armv7 = ["cp311-cp311-linux_armv7l"]
    assert native.foreign({}, armv7, "linux/arm/v7") is None
    assert native.foreign({}, armv7, "linux/arm") is None
    assert native.foreign({}, armv7, "linux/arm/v6") is not None
    # An architecture no tag map knows is not refused for what it is not known to be.
    assert native.foreign({}, ["cp311-cp311-linux_sparc64"], "linux/sparc64") is None


def test_a_pure_wheels_helper_programs_do_not_make_it_foreign() -> None:
    # selenium and debugpy (py3-none-any) ship programs and libraries for
    # every OS and pick one at run time: their tags decide, not their files.
    native_files = {
        "darwin/?": f"{SITE}/selenium/webdriver/common/macos/selenium-manager",
        "linux/amd64": f"{SITE}/selenium/webdriver/common/linux/selenium-manager",
        "windows/amd64": f"{SITE}/debugpy/_vendored/attach_amd64.dll",
    }
    assert native.foreign(native_files, ["py3-none-any"], "linux/arm64") is None


def test_a_layer_without_tags_is_foreign_by_its_native_files() -> None:
    python = "opt/python/bin/python3.11"
    assert native.foreign({"linux/amd64": python}, [], "linux/amd64") is None
    assert native.foreign({"linux/amd64": python}, [], "linux/arm64") == (
        f"{python} is linux/amd64 native code"
    )
    assert native.foreign({}, [], "linux/s390x") is None


def native_package(tmp_path: Path, name: str, machine: int, tag: str) -> layer.Member:
    dist = name.replace("==", "-")
    return build_package(
        tmp_path / name,
        name,
        {
            f"{SITE}/{dist}.dist-info/WHEEL": f"Wheel-Version: 1.0\nTag: {tag}\n".encode(),
            f"{SITE}/m/_speedups.so": elf(machine),
            f"{SITE}/m/__init__.py": b"",
            f"{SITE}/m/cli-64.exe": pe(0x8664),
        },
    )


def test_the_package_action_records_native_files_and_wheel_tags(tmp_path: Path) -> None:
    member = native_package(tmp_path, "fast==1", 183, "cp311-cp311-manylinux_2_17_aarch64")
    assert member.descriptor.native == {"linux/arm64": f"{SITE}/m/_speedups.so"}
    assert member.descriptor.wheel_tags == ("cp311-cp311-manylinux_2_17_aarch64",)
    assert member.descriptor_path is not None
    again = desc_mod.load(member.descriptor_path)
    assert (again.native, again.wheel_tags) == (
        member.descriptor.native,
        ("cp311-cp311-manylinux_2_17_aarch64",),
    )
    pure = build_package(tmp_path / "pure", "pure==1", {f"{SITE}/p.py": b""})
    assert "native" not in desc_mod.dump(pure.descriptor)
    assert "wheel_tags" not in desc_mod.dump(pure.descriptor)
    merged = layer.merge([member, pure], tmp_path / "merged")
    assert merged.native == member.descriptor.native
    assert merged.wheel_tags == member.descriptor.wheel_tags


def test_the_wheels_own_tags_count_not_those_of_wheels_it_vendors(tmp_path: Path) -> None:
    member = build_package(
        tmp_path / "st",
        "setuptools==80",
        {
            f"{SITE}/setuptools-80.dist-info/WHEEL": b"Tag: cp311-cp311-manylinux_2_17_x86_64\n",
            f"{SITE}/setuptools/_vendor/wheel-0.45.dist-info/WHEEL": b"Tag: py3-none-any\n",
        },
    )
    assert member.descriptor.wheel_tags == ("cp311-cp311-manylinux_2_17_x86_64",)


def test_a_descriptor_with_malformed_platform_facts_is_refused(tmp_path: Path) -> None:
    member = native_package(tmp_path, "fast==1", 62, "cp311-cp311-manylinux_2_17_x86_64")
    obj = member.descriptor.to_json()
    for bad in ({"native": {"amd64": "x.so"}}, {"native": ["x.so"]}, {"wheel_tags": [""]}):
        with pytest.raises(PyimageError, match="'native' must map os/arch"):
            desc_mod.parse({**obj, **bad}, "descriptor d.json")


def test_an_image_refuses_a_package_of_another_platform_in_one_line(tmp_path: Path) -> None:
    x86 = native_package(tmp_path, "fast==1", 62, "cp311-cp311-manylinux_2_17_x86_64")
    pure = build_package(tmp_path / "pure", "pure==1", {f"{SITE}/p.py": b""})
    out = tmp_path / "out"
    spec = image.ImageSpec("//app:image", 10, [pure, x86], platform="linux/arm64")
    with pytest.raises(PyimageError) as err:
        image.build(spec, out, tmp_path / "plan.json")
    message = str(err.value)
    assert "\n" not in message
    for part in ("fast==1", f"{SITE}/m/_speedups.so", "linux/amd64", "linux/arm64", "//app:image"):
        assert part in message
    assert not out.exists() and not (tmp_path / "plan.json").exists()
    amd64 = image.ImageSpec("//app:image", 10, [pure, x86], platform="linux/amd64")
    image.build(amd64, out, tmp_path / "plan.json")
    assert (out / "index.json").is_file()


def test_an_image_refuses_an_interpreter_of_another_platform(tmp_path: Path) -> None:
    python = build_package(tmp_path / "py", "python==3.11", {"opt/python/bin/python3": elf(62)})
    spec = image.ImageSpec("//app:image", 10, [], interpreter=python, platform="linux/arm64")
    with pytest.raises(
        PyimageError,
        match=r"^interpreter python==3\.11: opt/python/bin/python3 is"
        r" linux/amd64 native code, but image //app:image is linux/arm64; use a",
    ):
        image.build(spec, tmp_path / "out", tmp_path / "plan.json")


def test_the_image_command_refuses_a_package_of_another_platform(tmp_path: Path) -> None:
    arm = native_package(tmp_path, "fast==1", 183, "cp311-cp311-manylinux_2_17_aarch64")
    assert arm.descriptor_path is not None
    out, plan = tmp_path / "layout", tmp_path / "plan.json"
    args = ["image", "--out", str(out), "--plan-out", str(plan), "--image-name", "//app:image"]
    member = ["--package", str(arm.descriptor_path), str(arm.blob)]
    r = pyimage(*args, *member)
    assert r.returncode != 0
    assert r.stderr.strip().count("\n") == 0, r.stderr
    assert "package fast==1: its wheel is for linux/arm64" in r.stderr
    assert f"e.g. {SITE}/m/_speedups.so" in r.stderr
    assert "image //app:image is linux/amd64" in r.stderr
    assert not out.exists()
    r = pyimage(*args, "--platform", "linux/arm64", *member)
    assert r.returncode == 0, r.stderr
    assert json.loads(plan.read_text())["layers"][0]["packages"] == ["fast==1"]
