"""Formulas of a feedback page as MathML, which the browser typesets with no script.

nbgrader's feedback pages would otherwise need MathJax, which its template loads from a CDN
(the course's template folder removes that script: ``autograder/templates``). The markdown
renderer calls :func:`tex_to_mathml` for each formula (:func:`autograder.patches.
feedback_maths_as_mathml`), and keeps the TeX source when it returns None.

The TeX may be a student's (a markdown cell they edited), so the converter's output is not
trusted: ``latex2mathml`` copies ``\\text{...}`` into the page unescaped and turns
``\\href`` into a link. The output is parsed as XML and rebuilt from scratch with only the
MathML elements and presentation attributes below, every text escaped by the serializer.
Other attributes are dropped; anything else (a parse error, a DOCTYPE, an element outside
the list) leaves the whole formula as TeX.
"""

from __future__ import annotations

import xml.etree.ElementTree as ET

MATHML_NS = "http://www.w3.org/1998/Math/MathML"

#: MathML Core's presentation elements (no links, no annotations, no foreign content).
ELEMENTS = frozenset(
    """math mrow mi mn mo ms mtext mspace msub msup msubsup mfrac msqrt mroot mstyle
    mtable mtr mtd munder mover munderover mpadded mphantom menclose merror""".split()
)
#: Presentation attributes; none of them can fetch anything or run script.
ATTRIBUTES = frozenset(
    """display mathvariant stretchy fence separator displaystyle scriptlevel lspace rspace
    width height depth voffset columnalign rowalign columnspacing rowspacing columnlines
    rowlines frame linethickness accent accentunder movablelimits largeop symmetric
    minsize maxsize notation form""".split()
)
#: Formulas longer than this stay TeX (the converter's time grows with the input).
MAX_TEX_CHARS = 2000


def tex_to_mathml(tex: str, display: bool = False) -> str | None:
    """The MathML of the TeX formula ``tex`` (without its ``$`` delimiters), or None.

    Parameters
    ----------
    tex : str
        E.g. ``r"f(x) = \\tfrac12 x^\\top A x"``.
    display : bool
        A displayed formula (``$$...$$``) rather than one in the text.

    Returns
    -------
    str or None
        ``<math display="inline|block">...</math>`` holding only :data:`ELEMENTS` and
        :data:`ATTRIBUTES`, its texts escaped; None when the formula cannot be converted
        (the caller then shows the TeX).
    """
    if not tex.strip() or len(tex) > MAX_TEX_CHARS:
        return None
    try:
        from latex2mathml.converter import convert

        raw = convert(tex, display="block" if display else "inline")
    except Exception:  # any TeX it does not know
        return None
    if "<!" in raw or "<?" in raw:  # no DOCTYPE, entity or processing instruction to parse
        return None
    try:
        tree = ET.fromstring(raw)
    except ET.ParseError:  # e.g. markup a \text{...} let through
        return None
    clean = _rebuild(tree)
    if clean is None or clean.tag != "math":
        return None
    clean.set("display", "block" if display else "inline")
    return ET.tostring(clean, encoding="unicode", short_empty_elements=False)


def _rebuild(element: ET.Element) -> ET.Element | None:
    """A copy of ``element`` with only the allowed attributes, or None if it or any element
    inside it is not allowed."""
    namespace, _, name = element.tag.rpartition("}")
    if namespace not in ("", "{" + MATHML_NS) or name not in ELEMENTS:
        return None
    copy = ET.Element(name, {k: v for k, v in element.attrib.items() if k in ATTRIBUTES})
    copy.text = element.text
    for child in element:
        kept = _rebuild(child)
        if kept is None:
            return None
        kept.tail = child.tail
        copy.append(kept)
    return copy
