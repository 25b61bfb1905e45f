"""The documentation in docs/ stays true.

* docs/builtins.md is exactly what docs/gen_builtins.py generates from
  `dprog.lib.builtins.BUILTIN_TABLE`, every builtin has a doc entry, and every name
  the interpreter predefines is documented.
* Every ```dp example in the hand-written pages runs: when an ```output block
  follows it, the program's standard output (and, if it fails, the error
  report) must be exactly that text. Info-string options: ```dp skip (not run,
  for fragments), ```dp name=FILE.dp (the file name used in error reports;
  default example.dp).
* Every ```console example (lines starting with `$ `) is run with bash in the
  repository root, `dp` on the PATH, and its combined output compared.
* Relative links between the pages point at files that exist.
"""

from __future__ import annotations

import importlib.util
import io
import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
DOCS = ROOT / "docs"

# Hand-written pages whose examples are executed.
PAGES = ["tour.md", "differentiation.md", "errors.md", "cli.md", "design.md", "README.md",
         "reference.md", "scaling.md"]
# Pages other people own: links to them may dangle while they are being written.
OWNED_ELSEWHERE = {"embedding.md", "repl.md"}


def _load_generator():
    spec = importlib.util.spec_from_file_location("gen_builtins", DOCS / "gen_builtins.py")
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod


# ----------------------------------------------------------------- builtins.md
def test_builtins_md_is_up_to_date():
    gen = _load_generator()
    want = gen.render()
    have = (DOCS / "builtins.md").read_text(encoding="utf-8")
    assert have == want, "docs/builtins.md is out of date: run `python docs/gen_builtins.py`"


def test_every_builtin_has_a_doc_entry():
    from dprog.lib.builtins import BUILTIN_TABLE

    missing = [name for name, d in BUILTIN_TABLE.items()
               if not isinstance(d.doc, str) or not d.doc.strip()]
    assert not missing, f"builtins without a doc string: {missing}"
    for name, d in BUILTIN_TABLE.items():
        assert d.name == name
        assert d.signature.startswith(name + "("), d.signature
        assert d.signature.endswith(")"), d.signature
        assert d.category.strip(), name
        assert d.diff in ("yes", "no d", "-", "transform"), (name, d.diff)


def test_every_predefined_name_is_documented():
    import dprog
    from dprog.lib.builtins import BUILTIN_TABLE, CONSTANT_DOCS, CONSTANTS

    names = set(dprog.Interpreter().builtins)
    undocumented = sorted(n for n in names if n not in BUILTIN_TABLE and n not in CONSTANT_DOCS)
    assert not undocumented, f"predefined names missing from the builtin table: {undocumented}"
    assert set(CONSTANTS) <= set(CONSTANT_DOCS), set(CONSTANTS) - set(CONSTANT_DOCS)
    assert all(isinstance(v, str) and v.strip() for v in CONSTANT_DOCS.values())
    # and nothing is documented that does not exist
    assert set(BUILTIN_TABLE) | set(CONSTANT_DOCS) <= names


def test_every_builtin_appears_in_builtins_md():
    from dprog.lib.builtins import BUILTIN_TABLE, CONSTANT_DOCS

    text = (DOCS / "builtins.md").read_text(encoding="utf-8")
    for name, d in BUILTIN_TABLE.items():
        assert f"`{d.signature.replace('|', chr(92) + '|')}`" in text, name
    for name in CONSTANT_DOCS:
        assert f"| `{name}` |" in text, name


def test_generator_check_mode(tmp_path, monkeypatch):
    gen = _load_generator()
    monkeypatch.setattr(gen, "OUT", tmp_path / "builtins.md")
    assert gen.main(["--check"]) == 1          # missing file: out of date
    assert gen.main([]) == 0                   # writes it
    assert gen.main(["--check"]) == 0
    assert (tmp_path / "builtins.md").read_text(encoding="utf-8") == gen.render()


def test_generator_escapes_table_cells():
    gen = _load_generator()
    from dprog.lib.builtins import BuiltinDoc

    table = {"f": BuiltinDoc("f", "f(x)", "a | b", "weird category", "yes")}
    text = gen.render(table, {}, {})
    assert "| `f(x)` | yes | a \\| b |" in text
    assert "## weird category" in text


# ------------------------------------------------------------ runnable examples
_FENCE = re.compile(r"^```(.*)$")


def extract_blocks(text: str) -> list[tuple[str, str, int, bool]]:
    """(info string, body, first line, follows the previous block with only blank lines
    between) of every fenced block, in order."""
    blocks = []
    lines = text.split("\n")
    i = 0
    prev_end = None
    while i < len(lines):
        m = _FENCE.match(lines[i])
        if m:
            info = m.group(1).strip()
            start = i + 1
            j = start
            while j < len(lines) and not lines[j].startswith("```"):
                j += 1
            adjacent = prev_end is not None and all(not ln.strip()
                                                    for ln in lines[prev_end + 1:i])
            blocks.append((info, "\n".join(lines[start:j]), start, adjacent))
            prev_end = j
            i = j + 1
        else:
            i += 1
    return blocks


def extract_examples(text: str) -> list[dict]:
    """Runnable examples: {kind, src, expected (or None), name, line}."""
    blocks = extract_blocks(text)
    out = []
    for k, (info, body, line, _adjacent) in enumerate(blocks):
        words = info.split()
        if not words:
            continue
        if words[0] == "dp":
            opts = dict(w.split("=", 1) for w in words[1:] if "=" in w)
            if "skip" in words[1:]:
                continue
            expected = None
            if (k + 1 < len(blocks) and blocks[k + 1][0].split()[:1] == ["output"]
                    and blocks[k + 1][3]):
                expected = blocks[k + 1][1]
            out.append({"kind": "dp", "src": body, "expected": expected,
                        "name": opts.get("name", "example.dp"), "line": line})
        elif words[0] == "console" and "skip" not in words[1:]:
            out.append({"kind": "console", "src": body, "expected": None, "name": None,
                        "line": line})
    return out


# Examples run in the repository root, and its absolute path is shown as this one, so
# that reports naming files (imports) read the same on every machine.
SHOWN_ROOT = "/home/ada/dprog"


def _anonymise(text: str) -> str:
    from dprog.host.interpreter import stdlib_dir

    text = text.replace(str(stdlib_dir().resolve()), SHOWN_ROOT + "/stdlib")
    return text.replace(str(ROOT), SHOWN_ROOT)


def run_example(src: str, name: str = "example.dp") -> tuple[str, bool]:
    """What a doc example shows: its output, then its error report if it fails."""
    import dprog

    buf = io.StringIO()
    interp = dprog.Interpreter(stdout=buf)
    interp.main.path = str(ROOT / name)  # as if the host ran ROOT/example.dp with run_file
    old = os.getcwd()
    os.chdir(ROOT)
    try:
        interp.exec(src, name=name)
        failed = False
    except dprog.DpError as err:
        buf.write(err.report() + "\n")
        failed = True
    finally:
        os.chdir(old)
    return _anonymise(buf.getvalue()), failed


def _norm(text: str) -> str:
    # Stack entries are padded to a common width, which depends on how long the
    # machine's absolute paths are: compare them with the padding collapsed.
    lines = (re.sub(r"(:\d+:\d+) +in <", r"\1 in <", line.rstrip())
             for line in text.strip("\n").split("\n"))
    return "\n".join(lines)


def _console_script(body: str) -> tuple[str, str]:
    """The commands of a console block as one bash script, and the expected output."""
    cmds, expected = [], []
    for line in body.split("\n"):
        if line.startswith("$ "):
            cmds.append(line[2:])
        else:
            expected.append(line)
    return "\n".join(cmds) + "\n", "\n".join(expected)


def run_console(body: str) -> str:
    script, _ = _console_script(body)
    env = dict(os.environ, NO_COLOR="1", TERM="dumb", PYTHONIOENCODING="utf-8")
    env["PATH"] = str(Path(sys.executable).parent) + os.pathsep + env.get("PATH", "")
    proc = subprocess.run(["bash", "-c", "exec 2>&1\n" + script], cwd=ROOT, env=env,
                          capture_output=True, text=True, timeout=120, check=False)
    return _anonymise(proc.stdout)


def _example_cases():
    cases = []
    for page in PAGES:
        path = DOCS / page
        if not path.exists():
            continue
        for ex in extract_examples(path.read_text(encoding="utf-8")):
            cases.append(pytest.param(ex, id=f"{page}:{ex['line']}"))
    return cases


_CASES = _example_cases()


@pytest.mark.parametrize("example", _CASES)
def test_doc_example(example):
    if example["kind"] == "console":
        if shutil.which("bash") is None or not (Path(sys.executable).parent / "dp").exists():
            pytest.skip("needs bash and the dp command beside this Python")
        _, expected = _console_script(example["src"])
        got = run_console(example["src"])
        assert "Traceback" not in got
        assert _norm(got) == _norm(expected), got
        return
    got, failed = run_example(example["src"], example["name"])
    if example["expected"] is None:
        assert not failed, got
        return
    assert _norm(got) == _norm(example["expected"]), got


def test_pages_have_examples():
    for page in ("tour.md", "differentiation.md", "errors.md"):
        examples = extract_examples((DOCS / page).read_text(encoding="utf-8"))
        checked = [e for e in examples if e["expected"] is not None]
        assert len(checked) >= 5, f"{page} should show checked examples"


# ------------------------------------------------------------------------ links
_LINK = re.compile(r"\]\(([^)#\s]+)(#[^)\s]*)?\)")


MY_PAGES = ["README.md", "tour.md", "builtins.md", "differentiation.md", "cli.md", "design.md",
            "errors.md", "reference.md", "scaling.md"]


def test_relative_links_resolve():
    for page in (DOCS / p for p in MY_PAGES):
        for target, _anchor in _LINK.findall(page.read_text(encoding="utf-8")):
            if "://" in target or target.startswith("mailto:"):
                continue
            dest = (page.parent / target).resolve()
            if dest.name in OWNED_ELSEWHERE and not dest.exists():
                continue
            assert dest.exists(), f"{page.name}: broken link {target}"


def test_docs_index_lists_every_page():
    index = (DOCS / "README.md").read_text(encoding="utf-8")
    for page in MY_PAGES[1:] + sorted(OWNED_ELSEWHERE):
        assert f"({page})" in index, f"docs/README.md does not link {page}"


def test_primitive_builtins_come_from_their_declaration():
    """A primitive's builtin (signature, doc, category, differentiability) is declared
    once, in its `defprim`; the table, `:help` and builtins.md are derived from it."""
    from dprog.lib.builtins import BUILTIN_TABLE
    from dprog.prims.core import REGISTRY

    declared = [p for p in REGISTRY.values() if p.sig is not None]
    assert len(declared) >= 40
    for p in declared:
        entry = BUILTIN_TABLE[p.sig[: p.sig.index("(")]]
        assert (entry.signature, entry.doc, entry.category) == (p.sig, p.doc, p.category)
        assert entry.diff == ("yes" if p.differentiable else "no d")
