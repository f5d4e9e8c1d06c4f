"""A DataFrame that prints a heading and notes: the ANOVA and likelihood-ratio tables.

``table.attrs["heading"]`` is printed above the table and ``table.attrs["note"]``
below it, as R prints the heading and messages of an ``anova`` object.  Any
operation on the table returns a plain DataFrame.
"""

from __future__ import annotations

import html

import pandas as pd


class InferenceTable(pd.DataFrame):
    """A results table whose text and HTML forms carry ``attrs["heading"]`` and ``attrs["note"]``.

    Examples
    --------
    >>> t = InferenceTable({"chisq": [1.5]}, index=["m1"])
    >>> t.attrs["heading"] = "Likelihood-ratio test"
    >>> print(t)
    Likelihood-ratio test
    <BLANKLINE>
        chisq
    m1    1.5
    """

    @property
    def _constructor(self):
        return pd.DataFrame

    def _framed(self, body: str) -> list[str]:
        heading, note = self.attrs.get("heading"), self.attrs.get("note")
        return [*([heading, ""] if heading else []), body, *([note] if note else [])]

    def __repr__(self) -> str:
        return "\n".join(self._framed(pd.DataFrame(self).__repr__()))

    __str__ = __repr__

    def _repr_html_(self) -> str:
        """The table as HTML, heading and note lines as paragraphs (one per line: a
        multi-line heading would collapse into one run of text)."""
        parts = self._framed(pd.DataFrame(self)._repr_html_() or "")
        return "".join(part if part.lstrip().startswith("<") else
                       "".join(f"<p>{html.escape(line)}</p>" for line in part.splitlines()
                               if line.strip())
                       for part in parts if part)
