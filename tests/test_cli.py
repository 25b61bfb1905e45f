"""The dp command: exit statuses, argv, -c, -, --version, --help (SPEC §8)."""

from __future__ import annotations

from conftest import ROOT


def test_version(dp):
    r = dp("--version")
    assert r.returncode == 0 and r.stdout.startswith("dprog ")


def test_help(dp):
    r = dp("--help")
    assert r.returncode == 0 and "usage" in r.stdout


def test_bad_option_is_usage_error(dp):
    r = dp("--frobnicate")
    assert r.returncode == 2 and "unknown option" in r.stderr


def test_missing_file_is_usage_error(dp):
    r = dp("no_such_file.dp")
    assert r.returncode == 2


def test_dash_c_and_argv(dp):
    r = dp("-c", "print(argv, len(argv))", "a", "b")
    assert r.returncode == 0
    assert r.stdout.strip() == '("a", "b") 2'


def test_stdin_program(dp):
    r = dp("-", input="let x = 2\nprint(x * 21)\n")
    assert r.returncode == 0 and r.stdout.strip() == "42"


def test_runtime_error_exit_1_without_traceback(dp):
    r = dp("-c", "print(1)\nlet y = [1, 2] + [1, 2, 3]")
    assert r.returncode == 1
    assert r.stdout == "1\n"
    assert "error: shape mismatch" in r.stderr
    assert "Traceback" not in r.stderr


def test_syntax_error_exit_1(dp):
    r = dp("-c", "let = 5")
    assert r.returncode == 1 and "<string>:1:5" in r.stderr


def test_example_hello_runs(dp):
    r = dp(str(ROOT / "examples" / "hello.dp"))
    assert r.returncode == 0
    assert r.stdout.strip() == "w = 3.0 b = 0.5 loss = true"


def test_python_m_dprog_equivalent(dp):
    r = dp("-c", "print(true, none)")
    assert r.stdout.strip() == "true none"
