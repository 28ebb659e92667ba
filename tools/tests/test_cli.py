"""The CLI front: usage errors, the one-line error contract, outputs never inputs."""

import json
import os
from pathlib import Path

import pytest
from enginekit import build_package
from enginekit import pyimage as run

from pyimage.cli import build_parser
from pyimage.engine.layer import load_member
from pyimage.engine.oci_layout import LayerInput, write_layout


def test_no_command_is_a_usage_error() -> None:
    r = run()
    assert r.returncode == 2
    assert "COMMAND" in r.stderr


def test_unknown_command_is_a_usage_error() -> None:
    r = run("no-such-command")
    assert r.returncode == 2
    assert "invalid choice" in r.stderr


def test_params_file_holds_the_arguments_bazel_wrote_one_per_line(tmp_path: Path) -> None:
    # As Bazel's `Args.set_param_file_format("multiline")` writes them: each
    # argument on its own line, as is (quotes and spaces are part of it).
    fleet = tmp_path / "fleet with 'quote' and space.json"
    fleet.write_text('{"images": {"a": {"packages": []}}, "packages": {}}')
    params = tmp_path / "args.params"
    params.write_text(f"plan\n--fleet\n{fleet}\n--out\n{tmp_path}/a.json\n")
    via_file = run(f"@{params}")
    direct = run("plan", "--fleet", str(fleet), "--out", str(tmp_path / "b.json"))
    assert direct.returncode == 0, direct.stderr
    assert via_file.returncode == 0, via_file.stderr
    assert (tmp_path / "a.json").read_bytes() == (tmp_path / "b.json").read_bytes()


def test_an_argument_starting_with_two_ats_is_not_a_params_file() -> None:
    # Bazel's rule (a label such as @@repo//pkg is an argument, not a file).
    r = run("@@no-such-command")
    assert r.returncode == 2
    assert "invalid choice: '@@no-such-command'" in r.stderr


def test_params_file_that_cannot_be_read_is_one_line(tmp_path: Path) -> None:
    r = run(f"@{tmp_path / 'absent.params'}")
    assert r.returncode == 2
    assert r.stderr.startswith("pyimage: error: params file ") and r.stderr.count("\n") == 1


# --- every command: its outputs are never its inputs ----------------------------

#: The flags that name what a command writes.
OUTPUT_FLAGS = {"--out", "--plan-out", "--blob", "--descriptor", "--json"}


def snapshot(root: Path) -> dict[str, bytes]:
    """Every file and link under ``root``: its bytes or its target."""
    out = {}
    for p in sorted(root.rglob("*")):
        rel = str(p.relative_to(root))
        if p.is_symlink():
            out[rel] = b"-> " + os.fsencode(p.readlink())
        elif p.is_file():
            out[rel] = p.read_bytes()
        else:
            out[rel] = b"<dir>"
    return out


@pytest.fixture(scope="module")
def work(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Two packages, a base layout and the documents that name them."""
    w = tmp_path_factory.mktemp("work")
    for name in ("a==1", "b==1"):
        build_package(w, name, {f"sp/{name[0]}.py": name.encode() * 100})
    write_layout(w / "base", [LayerInput((load_member(w / "a__1.json", w / "a__1.tar.gz"),))])
    image = {"max_layers": 20, "reserved_layers": 1, "base": None}
    image["packages"] = [
        {"descriptor": str(w / f"{s}.json"), "blob": str(w / f"{s}.tar.gz")}
        for s in ("a__1", "b__1")
    ]
    (w / "inputs.json").write_text(json.dumps({"images": {"//x:image": image}}))
    fleet = {"packages": {"a==1": {"installed_bytes": 10}}, "images": {"x": {"packages": ["a==1"]}}}
    (w / "fleet.json").write_text(json.dumps(fleet))
    r = run("fleet-plan", "--inputs", str(w / "inputs.json"), "--out", str(w / "plan.json"))
    assert r.returncode == 0, r.stderr
    return w


def _cases(w: Path) -> dict[str, list[str]]:
    a = [str(w / "a__1.json"), str(w / "a__1.tar.gz")]
    b = [str(w / "b__1.json"), str(w / "b__1.tar.gz")]
    base, inputs, plan = str(w / "base"), str(w / "inputs.json"), str(w / "plan.json")
    return {
        "plan --out = --fleet": [
            "plan", "--fleet", str(w / "fleet.json"), "--out", str(w / "fleet.json"),
        ],
        "package-tar --blob = a source": [
            "package-tar", "--manifest", str(w / "a__1.manifest.json"),
            "--blob", str(w / "src/a__1/f0"), "--descriptor", str(w / "x.json"),
        ],
        "merge --descriptor = an input blob": [
            "merge", "--member", *a, "--member", *b,
            "--blob", str(w / "m.tar.gz"), "--descriptor", b[1],
        ],
        "layout --base B --out B": ["layout", "--base", base, "--out", base, "--layer", *b],
        "image --plan-out = an input descriptor": [
            "image", "--out", str(w / "img"), "--plan-out", a[0], "--package", *a, "--package", *b,
        ],
        "image --plan-out = OUT/index.json": [
            "image", "--out", base, "--plan-out", f"{base}/index.json", "--package", *b,
        ],
        "image --base B --out B --link B": [
            "image", "--base", base, "--out", base, "--link", base,
            "--plan-out", str(w / "p.json"), "--package", *b,
        ],
        "fleet-plan --out = --inputs": ["fleet-plan", "--inputs", inputs, "--out", inputs],
        "fleet-plan --out = a listed blob": ["fleet-plan", "--inputs", inputs, "--out", b[1]],
        "fleet-merge-group --descriptor = an input blob": [
            "fleet-merge-group", "--group", "0" * 24, "--package", *a, "--package", *b,
            "--blob", str(w / "g.tar.gz"), "--descriptor", a[1],
        ],
        "fleet-report --out = --plan": [
            "fleet-report", "--inputs", inputs, "--plan", plan, "--out", plan,
        ],
        "fleet-report --json = a listed descriptor": [
            "fleet-report", "--inputs", inputs, "--plan", plan, "--json", a[0],
        ],
        "fleet-state --out = --inputs": [
            "fleet-state", "--fleet-label=//:fleet", "--inputs", inputs, "--out", inputs,
        ],
        "fleet-rollout --markdown = --since": [
            "fleet-rollout", "--state", inputs, "--since", plan, "--markdown", plan,
        ],
    }  # fmt: skip


CASES = [
    "plan --out = --fleet",
    "package-tar --blob = a source",
    "merge --descriptor = an input blob",
    "layout --base B --out B",
    "image --plan-out = an input descriptor",
    "image --plan-out = OUT/index.json",
    "image --base B --out B --link B",
    "fleet-plan --out = --inputs",
    "fleet-plan --out = a listed blob",
    "fleet-merge-group --descriptor = an input blob",
    "fleet-report --out = --plan",
    "fleet-report --json = a listed descriptor",
    "fleet-state --out = --inputs",
    "fleet-rollout --markdown = --since",
]


@pytest.mark.parametrize("case", CASES)
def test_an_output_that_is_an_input_is_refused_and_every_input_kept(work: Path, case: str) -> None:
    before = snapshot(work)
    r = run(*_cases(work)[case])
    lines = r.stderr.strip().splitlines()
    assert r.returncode == 2 and len(lines) == 1, r.stderr
    assert lines[0].startswith("pyimage: error: ")
    assert "name the same file" in lines[0] or "one inside the other" in lines[0], lines
    assert snapshot(work) == before


def test_every_command_that_writes_is_covered_above() -> None:
    writers = set()
    parser = build_parser()
    for action in parser._subparsers._group_actions:  # type: ignore[union-attr]
        for name, sub in action.choices.items():
            flags = {o for a in sub._actions if a.nargs != 0 for o in a.option_strings}
            if flags & OUTPUT_FLAGS:
                writers.add(name)
    assert writers == {case.split(" ")[0] for case in CASES}


# --- odd input: one line, never a traceback -------------------------------------


def _odd_cases(w: Path, tmp: Path) -> dict[str, list[str]]:
    a = [str(w / "a__1.json"), str(w / "a__1.tar.gz")]
    manifest = str(w / "a__1.manifest.json")
    surrogate = tmp / "surrogate.json"
    surrogate.write_text('{"package": "p==1", "entries": [{"path": "x", "symlink": "\\ud800"}]}')
    link = tmp / "link"
    link.symlink_to(os.fsdecode(b"\xff\xfe"))
    declared = tmp / "declared.json"
    declared.write_text(json.dumps({"package": "p==1", "entries": [
        {"path": "opt/l", "src_or_link": "link"}]}))  # fmt: skip
    bad_base = tmp / "bad-base.json"
    image = {"max_layers": 9, "reserved_layers": 1, "base": 5, "packages": []}
    bad_base.write_text(json.dumps({"images": {"//x:image": image}}))
    report = tmp / "report.json"
    report.write_text('{"layers": 5, "total_layers": 1}')
    stranger = tmp / "stranger.json"
    stranger.write_text('{"images": {"x": {"layers": [{"packages": ["a==1"]}]},'
                        ' "y": {"layers": []}}, "max_layers": 9}')  # fmt: skip
    return {
        "layout --out .": ["layout", "--out", ".", "--layer", *a],
        "package-tar --blob .": ["package-tar", "--manifest", manifest, "--blob", ".",
                                 "--descriptor", str(tmp / "d.json")],
        "package-tar --descriptor /": ["package-tar", "--manifest", manifest,
                                       "--blob", str(tmp / "b.tgz"), "--descriptor", "/"],
        "merge --blob ''": ["merge", "--member", *a, "--blob", "", "--descriptor", str(tmp / "m")],
        "a lone surrogate in a link target": ["package-tar", "--manifest", str(surrogate),
                                              "--blob", str(tmp / "b.tgz"),
                                              "--descriptor", str(tmp / "d.json")],
        "a declared link whose target is not UTF-8": [
            "package-tar", "--manifest", str(declared), "--src-root", str(tmp),
            "--blob", str(tmp / "b.tgz"), "--descriptor", str(tmp / "d.json")],
        "a base that is not a string": ["fleet-plan", "--inputs", str(bad_base),
                                        "--out", str(tmp / "p.json")],
        "show-plan of a malformed report": ["show-plan", str(report)],
        "report of a plan with an image not in the fleet": [
            "report", "--fleet", str(w / "fleet.json"), "--plan", str(stranger)],
        "report --bumps -1": ["report", "--fleet", str(w / "fleet.json"),
                              "--plan", str(stranger), "--bumps", "-1"],
    }  # fmt: skip


@pytest.mark.parametrize(
    ("case", "needle"),
    [
        ("layout --out .", "--out '.' is not a file name"),
        ("package-tar --blob .", "--blob '.' is not a file name"),
        ("package-tar --descriptor /", "--descriptor '/' is not a file name"),
        ("merge --blob ''", "--blob '' is not a file name"),
        ("a lone surrogate in a link target", "lone surrogate"),
        ("a declared link whose target is not UTF-8", "is not valid UTF-8 text"),
        ("a base that is not a string", "'base' must be the path of an OCI layout"),
        ("show-plan of a malformed report", "'max_layers' is not a number"),
        ("report of a plan with an image not in the fleet", "image 'y' is not in the fleet"),
        ("report --bumps -1", "argument --bumps: '-1' is not a non-negative integer"),
    ],
)
def test_odd_input_is_one_line_and_writes_nothing(
    work: Path, tmp_path: Path, case: str, needle: str
) -> None:
    args = _odd_cases(work, tmp_path)[case]
    before, made = snapshot(work), snapshot(tmp_path)
    r = run(*args)
    lines = r.stderr.strip().splitlines()
    assert r.returncode == 2 and len(lines) == 1, r.stderr
    assert lines[0].startswith("pyimage: error: ") and needle in lines[0], lines
    assert snapshot(work) == before and snapshot(tmp_path) == made


@pytest.mark.parametrize("command", ["layout", "image"])
def test_help_says_a_reused_blob_is_checked_by_size_only(command: str) -> None:
    # Documented, and staying: assembly reads metadata, not gigabytes.
    r = run(command, "--help")
    assert r.returncode == 0, r.stderr
    text = " ".join(r.stdout.split())
    assert "its bytes are not read" in text and "checks digests" in text, text
