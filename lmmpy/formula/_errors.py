"""The exception raised for formulas that do not parse.

`FormulaError` carries the reason, the formula text and the 0-based column
of the offending character; its string form quotes the formula and draws a
caret under that column, so a user sees at once where parsing stopped.
"""

from __future__ import annotations


class FormulaError(ValueError):
    """A formula that does not parse.

    ``str(err)`` quotes the formula and marks the position with a caret line.

    Parameters
    ----------
    reason : str
        What is wrong, in one line.
    formula : str, optional
        The formula text being parsed.
    position : int, optional
        0-based column in `formula` the caret points at; it may equal
        ``len(formula)`` to point just past the end.

    Examples
    --------
    >>> print(FormulaError("unbalanced parenthesis in formula", "y ~ (x", 4))
    unbalanced parenthesis in formula
      y ~ (x
          ^
    """

    def __init__(self, reason: str, formula: str | None = None, position: int | None = None) -> None:
        self.reason = reason
        self.formula = formula
        self.position = position
        super().__init__(_render(reason, formula, position))


def _render(reason: str, formula: str | None, position: int | None) -> str:
    """Build the message: reason, the formula on one line, the caret line."""
    if formula is None:
        return reason
    shown = "".join(" " if ch.isspace() else ch for ch in formula)
    lines = [reason, "  " + shown]
    if position is not None:
        lines.append("  " + " " * max(0, min(position, len(shown))) + "^")
    return "\n".join(lines)
