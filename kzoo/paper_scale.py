"""The paper-scale recipes (those on tensorflow-datasets data): finding them, trying them
before the runs they start from exist, and counting the steps of a full run.

Examples:
    >>> for path in kzoo.paper_scale.recipe_paths("recipes"):
    ...     recipe = kzoo.paper_scale.with_fresh_nets(Recipe.from_file(path), "recipes")
    ...     print(path.name, kzoo.paper_scale.full_run_steps(recipe))
"""

import copy
from pathlib import Path

from kzoo.recipe_parse import net_tables
from kzoo.recipes import Recipe

# tensorflow-datasets mock examples enough for every paper-scale recipe: a meta set of 100
# per class (Meta-IADA's noisy-label recipes), head classes above AEGL's tail thresholds
# (CIFAR-10-LT: 348 training images; Fashion-MNIST-LT: 418).
MOCK_EXAMPLES = 6000


def recipe_paths(folder):
    """The recipes under ``folder`` whose data set has a published split (the papers' data,
    ``kzoo.data.registry``: not the embedded sets), sorted."""
    from kzoo.data import registry

    return sorted(p for p in Path(folder).rglob("*.toml")
                  if registry.get(Recipe.from_file(p).spec.data.name).splits is not None)


def with_fresh_nets(recipe, folder):
    """``recipe`` with each ``preset = "runs/<name>"`` (or ``"<name>"``) that names the run
    (or the preset) of another recipe under ``folder`` replaced by that recipe's own net for
    the same player (untrained): to smoke-test or time a recipe before the run it starts
    from exists. The copy has no sha256 (it is not the recipe as written)."""
    by_name = {}
    for path in sorted(Path(folder).rglob("*.toml")):
        other = Recipe.from_file(path)
        for name in other.result_names:
            by_name.setdefault(name, other)
    spec = copy.deepcopy(recipe.source)
    for table in recipe.spec.net:
        player, start = table.player, by_name.get(table.preset)
        if start is None:
            continue
        tables = net_tables(start.source["net"])
        fresh = copy.deepcopy(tables.get(player) or tables.get("") or
                              next(iter(tables.values())))
        if player:
            spec["net"][player] = fresh
        else:
            spec["net"] = {**{k: v for k, v in spec["net"].items() if isinstance(v, dict)},
                           **fresh}
    return Recipe(spec, recipe.path)


def full_run_steps(recipe):
    """``(steps per epoch, training examples)`` of ``recipe`` on its real data set: the train
    split less kzoo's validation carve and the recipe's bias (computed on balanced labels;
    the images play no part)."""
    import numpy as np

    from kzoo.data import registry
    from kzoo.data.splits import carve_validation

    name = recipe.spec.data.name
    (n_train, n_test), k = registry.get(name).splits, registry.get(name).classes
    labels = np.arange(n_train) % k
    pixels = np.zeros((n_train, 1, 1, 1), "float32")
    ds = carve_validation(name, pixels, labels, pixels[:n_test], labels[:n_test],
                          [str(i) for i in range(k)], recipe.seed)
    ds = recipe.dataset(ds)
    return recipe.steps_per_epoch(ds), len(ds.y_train)
