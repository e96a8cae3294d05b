"""Checks the wheels ``make release`` built before they are uploaded: kzoo's holds its code
and recipes and no preset, kzoo-presets' holds presets, and each is under its size limit.

Examples:
    $ python packaging/check_wheels.py dist/*.whl  # each wheel's size and limit; 1 if amiss
"""

import sys
import zipfile
from pathlib import Path

MB = 1_000_000
# The most each wheel may weigh: kzoo's holds code and recipes; the presets' must stay under
# PyPI's limit for one file (100 MB).
LIMITS = {"kzoo": 1 * MB, "kzoo_presets": 100 * MB}


def problems(wheel):
    """What is wrong with ``wheel`` (a path to a kzoo or kzoo-presets wheel); [] if nothing."""
    wheel = Path(wheel)
    project = wheel.name.split("-")[0]
    if project not in LIMITS:
        return [f"{wheel.name}: not a wheel of {' or '.join(LIMITS)}"]
    found, size = [], wheel.stat().st_size
    if size > LIMITS[project]:
        found.append(f"{wheel.name}: {size / MB:.2f} MB, over its limit of "
                     f"{LIMITS[project] / MB:g} MB")
    names = zipfile.ZipFile(wheel).namelist()
    models = [n for n in names if n.endswith("/model.keras")]
    if project == "kzoo":
        stray = [n for n in names if "/saved_models/" in n or n.endswith(".keras")]
        if stray:
            found.append(f"{wheel.name} holds presets ({stray[0]}, ...): they belong in "
                         f"kzoo-presets (packaging/presets/)")
        if not any(n.startswith("kzoo/recipe_files/") and n.endswith(".toml") for n in names):
            found.append(f"{wheel.name} holds no recipe (kzoo/recipe_files/)")
    elif not models:
        found.append(f"{wheel.name} holds no preset (kzoo_presets/saved_models/*/model.keras)")
    return found


def main(paths):
    """Prints each wheel's size and what is wrong; 1 if anything is, or a wheel is missing."""
    wheels = [Path(p) for p in paths]
    missing = sorted(set(LIMITS) - {w.name.split("-")[0] for w in wheels})
    found = [f"no wheel of {name} among {', '.join(map(str, paths)) or 'no files'}"
             for name in missing]
    for wheel in wheels:
        limit = LIMITS.get(wheel.name.split("-")[0])
        print(f"{wheel.name}: {wheel.stat().st_size / MB:.2f} MB"
              + (f" (limit {limit / MB:g} MB)" if limit else ""))
        found += problems(wheel)
    for problem in found:
        print(f"check_wheels: {problem}", file=sys.stderr)
    return 1 if found else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
