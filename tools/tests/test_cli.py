"""The CLI front: usage errors and the one-line error contract."""

from cliutil import run_pyimage as run


def test_no_command_is_a_usage_error() -> None:
    r = run()
    assert r.returncode == 2
    assert "COMMAND" in r.stderr


def test_unknown_command_is_a_usage_error() -> None:
    r = run("no-such-command")
    assert r.returncode == 2
    assert "invalid choice" in r.stderr
