"""Generate lang/dprog/syntax/_tables.py from grammar.lark with Lark (developers only).

`import lark` plus building its parser costs tens of milliseconds at every start-up,
so the lexer and LALR tables Lark computes are written out once as plain Python data
and driven by dprog.syntax.lalr at run time. Lark stays the source of truth: parser.py falls
back to it whenever grammar.lark no longer matches the stored copy.

    python -m dprog.syntax.gen_tables           # rewrite _tables.py
    python -m dprog.syntax.gen_tables --check   # exit 1 if _tables.py is stale
"""

from __future__ import annotations

import hashlib
import sys
from pathlib import Path
from pprint import pformat

HERE = Path(__file__).parent
GRAMMAR = HERE / "grammar.lark"
OUTPUT = HERE / "_tables.py"

# Must match the Lark options in parser.py's _LarkParser.
LARK_OPTIONS = {"parser": "lalr", "lexer": "basic", "propagate_positions": True,
                "maybe_placeholders": True}


def build_lark(grammar_text: str):
    """The Lark parser parser.py would build (without the post-lexer, which is ours)."""
    from lark import Lark

    return Lark(grammar_text, **LARK_OPTIONS)


def _lexer_data(lark) -> dict:
    """Scanner regexp, keyword retyping and line-counting info of Lark's basic lexer."""
    from lark.lexer import BasicLexer, PatternStr

    lexer = lark.parser.lexer
    assert type(lexer) is BasicLexer, type(lexer)
    scanner = lexer.scanner  # builds it: terminals sorted and string terminals folded
    assert len(scanner._mres) == 1, "grammar needs more than one scanner regexp"
    pattern = scanner._mres[0].pattern
    keywords = {}
    for name, callback in lexer.callback.items():
        # UnlessCallback: a full match of a string terminal retypes the token.
        words = {}
        for term in callback.scanner.terminals:
            assert isinstance(term.pattern, PatternStr) and not term.pattern.flags, term
            words.setdefault(term.pattern.value, term.name)
        keywords[name] = words
    return {
        "LEXER_PATTERN": pattern,
        "LEXER_FLAGS": lexer.g_regex_flags,
        "IGNORE": sorted(lexer.ignore_types),
        "NEWLINE_TYPES": sorted(lexer.newline_types),
        "KEYWORDS": keywords,
        "TERMINALS": {t.name: (t.pattern.type, t.pattern.value) for t in lark.terminals},
    }


def _rule_data(rule, maybe_placeholders: bool) -> tuple:
    """(tree name, origin, size, expand1, include, append_none) mirroring ParseTreeBuilder.

    include is None when Lark applies no child filter, else a tuple of
    (child index, inline its children, Nones to insert before it).
    """
    from lark.parse_tree_builder import maybe_create_child_filter

    opts = rule.options
    expand1 = bool(opts.expand1 and not rule.alias)
    empty = opts.empty_indices if maybe_placeholders else None
    filt = maybe_create_child_filter(rule.expansion, opts.keep_all_tokens, False, empty)
    include = None
    append_none = 0
    if filt is not None:
        to_include = filt.args[0]
        if len(filt.args) > 1:  # ChildFilterLALR(to_include, nones_to_add)
            append_none = filt.args[1]
            include = tuple((i, bool(x), n) for i, x, n in to_include)
        else:  # ChildFilterLALR_NoPlaceholders(to_include)
            include = tuple((i, bool(x), 0) for i, x in to_include)
    name = str(rule.alias or opts.template_source or rule.origin.name)
    return (name, str(rule.origin.name), len(rule.expansion), expand1, include, append_none)


def _parser_data(lark) -> dict:
    """The LALR table, with states renumbered breadth-first so the output is stable."""
    from lark.parsers.lalr_analysis import Shift

    table = lark.parser.parser.parser.parse_table
    start = table.start_states["start"]
    end = table.end_states["start"]
    rules = list(lark.rules)
    rule_index = {id(r): i for i, r in enumerate(rules)}

    order = [start]
    number = {start: 0}
    for old in order:  # grows while iterating: breadth-first
        for key in sorted(table.states[old]):
            action, arg = table.states[old][key]
            if action is Shift and arg not in number:
                number[arg] = len(order)
                order.append(arg)
    assert len(order) == len(table.states)

    actions, gotos = [], []
    for old in order:
        act, go = {}, {}
        for key in sorted(table.states[old]):
            action, arg = table.states[old][key]
            if key.isupper():  # terminal (Lark's own test in UnexpectedToken)
                act[key] = number[arg] if action is Shift else ~rule_index[id(arg)]
            else:
                assert action is Shift
                go[key] = number[arg]
        actions.append(act)
        gotos.append(go)
    return {
        "START_STATE": number[start],
        "END_STATE": number[end],
        "ACTIONS": tuple(actions),
        "GOTOS": tuple(gotos),
        "RULES": tuple(_rule_data(r, LARK_OPTIONS["maybe_placeholders"]) for r in rules),
    }


def generate(grammar_text: str) -> str:
    """Source text of the tables module for grammar_text."""
    import lark as lark_pkg

    lark = build_lark(grammar_text)
    data = {
        "GRAMMAR_SHA256": hashlib.sha256(grammar_text.encode()).hexdigest(),
        "LARK_VERSION": lark_pkg.__version__,
        "GRAMMAR": grammar_text,
    }
    data.update(_lexer_data(lark))
    data.update(_parser_data(lark))
    out = ['"""LALR tables for grammar.lark, generated by `python -m dprog.syntax.gen_tables`.',
           "",
           "Do not edit. parser.py uses them (via dprog.syntax.lalr) only while GRAMMAR equals",
           "grammar.lark.",
           '"""',
           "",
           "# ruff: noqa",
           ""]
    for key, value in data.items():
        out.append(f"{key} = {pformat(value, width=100, sort_dicts=False)}")
        out.append("")
    return "\n".join(out)


def main(argv: list[str] | None = None) -> int:
    args = sys.argv[1:] if argv is None else argv
    text = generate(GRAMMAR.read_text())
    if "--check" in args:
        current = OUTPUT.read_text() if OUTPUT.exists() else ""
        if current != text:
            print(f"{OUTPUT} is out of date: run python -m dprog.syntax.gen_tables",
                  file=sys.stderr)
            return 1
        return 0
    OUTPUT.write_text(text)
    print(f"wrote {OUTPUT}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
