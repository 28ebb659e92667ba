"""The CLI front: usage errors and the one-line error contract."""

from pathlib import Path

from enginekit import pyimage as run


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
