"""kzoo's start-up hook in every Python process of an environment where kzoo is installed:
``kzoo-startup.pth`` runs ``import kzoo_startup`` as the process starts. The hook
(``kzoo/startup.py``) is loaded as a module of its own and installed, before anything is
imported, without importing the ``kzoo`` package (so a checkout's kzoo, imported later from
its folder, is still the one used)."""

import importlib.util
import sys
from pathlib import Path


def _prepare():
    if "keras" in sys.modules:
        return
    found = importlib.util.find_spec("kzoo")  # found, not imported
    if found is None or not found.submodule_search_locations:
        return
    path = Path(next(iter(found.submodule_search_locations))) / "startup.py"
    spec = importlib.util.spec_from_file_location("kzoo_startup.startup", path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    module.prepare()


try:
    _prepare()
except Exception:  # noqa: BLE001  (a broken install must not keep Python from starting)
    pass
