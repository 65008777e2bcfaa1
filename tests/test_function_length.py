"""No function of coursekit/ or autograder/ is longer than ~80 lines of code without saying why.

A function's *code lines* are the lines of its body that are neither blank, nor comments, nor
docstrings: the signature (which ``ruff format`` lays out one parameter per line) and the
documentation do not count, the work does. A function with more than :data:`LIMIT` of them
carries a note in its docstring or a comment, ``Long on purpose: <why>`` (or ``Longer than
~80 lines on purpose: <why>``); ARCHITECTURE.md states the convention.

Run as a script to list every function over the limit with its count and whether it has the
note: ``python tests/test_function_length.py``.
"""

from __future__ import annotations

import ast
import io
import re
import tokenize
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
PACKAGES = ("coursekit", "autograder")
LIMIT = 80
NOTE = re.compile(r"\bLong(?:er than ~80 lines)? on purpose\b")


def code_lines(source: str) -> list[tuple[str, int, int, bool]]:
    """``(name, line, code lines, has the note)`` for every function in ``source``.

    Nested functions count in their enclosing function too (they are part of its body).
    """
    tree = ast.parse(source)
    lines = source.splitlines()
    comments = set()
    for tok in tokenize.generate_tokens(io.StringIO(source).readline):
        if tok.type == tokenize.COMMENT and lines[tok.start[0] - 1].lstrip().startswith("#"):
            comments.add(tok.start[0])
    docstrings = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Module | ast.ClassDef | ast.FunctionDef | ast.AsyncFunctionDef):
            first = node.body[0] if node.body else None
            if (
                isinstance(first, ast.Expr)
                and isinstance(first.value, ast.Constant)
                and isinstance(first.value.value, str)
            ):
                docstrings.update(range(first.lineno, first.end_lineno + 1))
    found = []
    for node in ast.walk(tree):
        if not isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef):
            continue
        body = range(node.body[0].lineno, node.end_lineno + 1)
        n = sum(
            1 for i in body if lines[i - 1].strip() and i not in comments and i not in docstrings
        )
        text = "\n".join(lines[node.lineno - 1 : node.end_lineno])
        found.append((node.name, node.lineno, n, bool(NOTE.search(text))))
    return found


def long_functions(root: Path = ROOT) -> list[tuple[str, str, int, bool]]:
    """``(file:line, name, code lines, noted)`` of every function over :data:`LIMIT`."""
    out = []
    for package in PACKAGES:
        for path in sorted((root / package).rglob("*.py")):
            for name, line, n, noted in code_lines(path.read_text(encoding="utf-8")):
                if n > LIMIT:
                    out.append((f"{path.relative_to(root)}:{line}", name, n, noted))
    return out


def test_every_long_function_says_why_it_is_long():
    missing = [
        f"{where} {name} ({n} code lines)"
        for where, name, n, noted in long_functions()
        if not noted
    ]
    assert not missing, (
        "split these along their meaning, or say why they stay long with a note "
        "'Long on purpose: <why>' in the docstring or a comment:\n" + "\n".join(missing)
    )


def test_code_lines_leave_out_signature_docstrings_comments_and_blanks():
    source = '''
def short(
    a,
    b,
):
    """Docstring,
    two lines."""
    # a comment
    x = a + b  # counts

    def inner():
        """Inner docstring."""
        return x

    return inner


def noted():
    # Long on purpose: testing the note.
    return 1
'''
    found = {name: (n, noted) for name, _, n, noted in code_lines(source)}
    # short: x = ..., def inner, return x, return inner (the inner function is in its body).
    assert found == {"short": (4, False), "inner": (1, False), "noted": (1, True)}


def test_a_long_function_without_its_note_is_found(tmp_path):
    body = "\n".join(f"    x{i} = {i}" for i in range(LIMIT + 1))
    (tmp_path / "coursekit").mkdir()
    (tmp_path / "autograder").mkdir()
    (tmp_path / "coursekit" / "m.py").write_text(f"def f():\n{body}\n", encoding="utf-8")
    noted = f"def g():\n    # Longer than ~80 lines on purpose: a test.\n{body}\n"
    (tmp_path / "autograder" / "m.py").write_text(noted, encoding="utf-8")
    assert long_functions(tmp_path) == [
        ("coursekit/m.py:1", "f", LIMIT + 1, False),
        ("autograder/m.py:1", "g", LIMIT + 1, True),
    ]


if __name__ == "__main__":
    for where, name, n, noted in long_functions():
        print(f"{n:4d}  {'noted' if noted else 'NO NOTE':7s}  {where}  {name}")
