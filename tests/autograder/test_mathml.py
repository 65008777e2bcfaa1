"""Feedback pages' formulas as MathML (autograder.mathml): what a browser can typeset, and
nothing a student's TeX can turn into markup or a link."""

from __future__ import annotations

import xml.etree.ElementTree as ET

from hypothesis import given, settings
from hypothesis import strategies as st

from autograder import mathml, patches

HOSTILE = [
    r"\text{<img src=x onerror=alert(1)>}",
    r"\text{<b>bold</b>}",
    r"\text{<script>alert(1)</script>}",
    r"\text{<!DOCTYPE x [<!ENTITY a 'b'>]>&a;}",
    r"\text{<?xml-stylesheet href='http://h/x'?>}",
    r"\text{<math xmlns='http://www.w3.org/1999/xhtml'><a href='x'>y</a></math>}",
    r"a < b & c > d",
]


def parts(markup: str):
    """Element names and attribute names of a MathML string."""
    root = ET.fromstring(markup)
    return {e.tag for e in root.iter()}, {a for e in root.iter() for a in e.attrib}


def test_a_course_formula_becomes_mathml():
    out = mathml.tex_to_mathml(r"f(x) = \tfrac12 x^\top A x - b^\top x")
    names, _ = parts(out)
    assert out.startswith('<math display="inline">') and {"mfrac", "msup", "mi"} <= names
    block = mathml.tex_to_mathml(r"\frac{1}{2}\|x\|^2", display=True)
    assert block.startswith('<math display="block">')


def test_the_converters_markup_never_reaches_the_page():
    # latex2mathml copies \text{...} into its output as it is: markup, or an XML error.
    for tex in HOSTILE:
        out = mathml.tex_to_mathml(tex)
        if out is not None:
            names, attrs = parts(out)
            assert names <= mathml.ELEMENTS and attrs <= mathml.ATTRIBUTES, (tex, out)
    assert mathml.tex_to_mathml(HOSTILE[0]) is None  # shown as TeX instead
    # A link keeps its text and loses the link.
    linked = mathml.tex_to_mathml(r"\href{javascript:alert(1)}{x}")
    assert "href" not in linked and "javascript" not in linked and "<mi>x</mi>" in linked


def test_what_it_cannot_convert_stays_tex():
    for tex in ["", "   ", r"\frac{1}{", "x" * (mathml.MAX_TEX_CHARS + 1)]:
        assert mathml.tex_to_mathml(tex) is None


@settings(max_examples=300, deadline=None)
@given(
    st.lists(
        st.sampled_from(list("ax1{}<>&'\"/=!?;\\^_$ ") + ["\\text{", "\\href{", "\\frac"])
    ).map("".join)
)
def test_any_tex_gives_tex_or_allowed_mathml(tex):
    out = mathml.tex_to_mathml(tex)
    if out is not None:
        names, attrs = parts(out)
        assert names <= mathml.ELEMENTS and attrs <= mathml.ATTRIBUTES
        assert out.count("<math") == 1 and "<!" not in out and "<?" not in out


def test_the_markdown_renderer_uses_it_and_falls_back_to_tex():
    patches.install()
    from nbconvert.filters.markdown_mistune import markdown2html_mistune

    html = markdown2html_mistune(
        "Step $x_{k+1} = x_k - \\eta g_k$, and $$\\frac{1}{2}$$ then $\\text{<b>b</b>}$"
    )
    assert html.count('<math display="inline">') == 1
    assert html.count('<math display="block">') == 1
    assert "$\\text{&lt;b&gt;b&lt;/b&gt;}$" in html  # escaped TeX, as nbconvert writes it
    assert "<b>" not in html
    assert patches.feedback_maths_as_mathml() is patches.feedback_maths_as_mathml()
