"""A tiny table that prints as text and renders as HTML in a notebook.

Every report in the library (data report, trainable summary, evaluation report,
comparisons) is built from this one class, so they all look alike and all
convert to plain Python data with `to_dict()` / `rows`.
"""

import html
import math


def _format(value):
    if isinstance(value, float):
        if math.isnan(value):
            return "-"
        if abs(value) >= 1000:
            return f"{value:,.0f}"
        text = f"{value:.4f}" if abs(value) < 10 else f"{value:.1f}"
        return text.rstrip("0").rstrip(".")  # 0.5 not 0.5000, 4.8 not 4.8000
    if isinstance(value, int) and not isinstance(value, bool):
        return f"{value:,}"
    if isinstance(value, (list, tuple)):
        return ", ".join(str(v) for v in value)
    return "" if value is None else str(value)


class Table:
    """Rows of dicts with a fixed column order, plus an optional title and notes.

    Args:
        columns: column names, in display order.
        rows: list of dicts keyed by column name.
        title: a heading shown above the table. Defaults to `None`.
        notes: lines shown under the table (warnings, explanations). Defaults to `()`.
    """

    def __init__(self, columns, rows, title=None, notes=()):
        self.columns = list(columns)
        self.rows = [dict(row) for row in rows]
        self.title = title
        self.notes = list(notes)

    def __len__(self):
        return len(self.rows)

    def __iter__(self):
        return iter(self.rows)

    def __getitem__(self, index):
        return self.rows[index]

    def column(self, name):
        """Returns the values of one column as a list."""
        return [row.get(name) for row in self.rows]

    def to_dict(self):
        """Returns plain Python data: title, columns, rows and notes."""
        return {
            "title": self.title,
            "columns": list(self.columns),
            "rows": [dict(row) for row in self.rows],
            "notes": list(self.notes),
        }

    def to_markdown(self):
        """Returns the table as GitHub-flavoured Markdown."""
        lines = [f"**{self.title}**", ""] if self.title else []
        lines.append("| " + " | ".join(self.columns) + " |")
        lines.append("|" + "|".join("---" for _ in self.columns) + "|")
        for row in self.rows:
            lines.append(
                "| " + " | ".join(_format(row.get(c)) for c in self.columns) + " |"
            )
        lines += [""] + [f"- {note}" for note in self.notes] if self.notes else []
        return "\n".join(lines)

    def __str__(self):
        cells = [[_format(row.get(c)) for c in self.columns] for row in self.rows]
        widths = [
            max([len(c)] + [len(r[i]) for r in cells])
            for i, c in enumerate(self.columns)
        ]
        lines = [self.title] if self.title else []
        lines.append("  ".join(c.ljust(w) for c, w in zip(self.columns, widths)))
        lines.append("  ".join("-" * w for w in widths))
        for r in cells:
            lines.append("  ".join(v.ljust(w) for v, w in zip(r, widths)))
        lines += self.notes
        return "\n".join(lines)

    __repr__ = __str__

    def _repr_html_(self):
        parts = []
        if self.title:
            parts.append(f"<b>{html.escape(self.title)}</b>")
        head = "".join(f"<th>{html.escape(c)}</th>" for c in self.columns)
        body = "".join(
            "<tr>"
            + "".join(
                f"<td>{html.escape(_format(row.get(c)))}</td>" for c in self.columns
            )
            + "</tr>"
            for row in self.rows
        )
        parts.append(f"<table><thead><tr>{head}</tr></thead><tbody>{body}</tbody></table>")
        parts += [f"<p>{html.escape(note)}</p>" for note in self.notes]
        return "\n".join(parts)
