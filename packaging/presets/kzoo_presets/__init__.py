"""kzoo's presets, as data: ``saved_models/<name>/`` holds each preset's ``model.keras``, its
``card.json`` and its figures. ``kzoo.load("<name>")`` finds them here when this package is
installed (``pip install 'kzoo[presets]'``); nothing in it is imported.
"""
