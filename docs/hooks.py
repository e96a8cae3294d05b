"""MkDocs hook: the recipe reference (recipes.md) is made from ``kzoo.recipe_spec``'s fields
at build time, so it cannot drift from the code."""

MARKER = "<!-- recipe keys -->"


def on_page_markdown(markdown, page, **kwargs):
    if MARKER not in markdown:
        return markdown
    from kzoo.recipe_schema import reference_markdown

    return markdown.replace(MARKER, reference_markdown())
