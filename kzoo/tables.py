"""Plain-text tables for the command line."""


def format_table(rows, headers):
    """Left-aligned columns; floats with 4 decimals."""
    cells = [[_cell(v) for v in row] for row in rows]
    widths = [max(len(h), *(len(r[i]) for r in cells)) if cells else len(h)
              for i, h in enumerate(headers)]
    line = "  ".join("-" * w for w in widths)
    out = ["  ".join(h.ljust(w) for h, w in zip(headers, widths)), line]
    out += ["  ".join(c.ljust(w) for c, w in zip(r, widths)) for r in cells]
    return "\n".join(row.rstrip() for row in out)


def _cell(value):
    if isinstance(value, float):
        return f"{value:.4f}"
    return str(value)
