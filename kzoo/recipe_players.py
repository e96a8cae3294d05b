"""A recipe's players: each ``[net]`` / ``[net.<player>]`` table built for a data set, or
taken from a preset or a run directory (``Recipe.players``)."""

from kzoo.recipe_keywords import call, check_keywords


def build_players(recipe, ds):
    """``{player: keras.Model}`` from ``[net]`` for the data set ``ds``: built fresh or
    taken from a preset or run."""
    import kzoo.nets

    game = recipe.game_class
    players = {}
    for player, spec in recipe.player_specs.items():
        where = f"[net.{player}]" if player else "[net]"
        if "preset" in spec:
            players[player or game.players[0]] = trained_player(
                recipe, where, spec, player or game.players[0], ds)
            continue
        kwargs = {k: v for k, v in spec.items() if k != "arch"}
        if not player and set(game.players) == {"generator", "critic"}:
            conditional = kwargs.pop("conditional", False)
            kwargs.setdefault("latent_dim", 64 if len(ds.input_shape) == 3 else 2)
            players["generator"], players["critic"] = call(
                recipe, kzoo.nets.gan_pair, where, spec["arch"], ds.input_shape,
                num_classes=ds.num_classes if conditional else None, **kwargs)
            continue
        check_keywords(recipe, kzoo.nets.ARCHS[spec["arch"]][1], where,
                        {k: v for k, v in kwargs.items() if k != "conditional"},
                        taken=("input_shape", "image_shape", "data_dim", "num_classes"))
        try:
            players[player or game.players[0]] = kzoo.nets.build_for_data(
                spec["arch"], ds.input_shape, ds.num_classes, **kwargs)
        except (TypeError, ValueError) as err:
            recipe._fail(f"{where}: {err}")
    return players

def trained_player(recipe, where, spec, player, ds):
    """The trained ``player`` of the preset or run ``spec["preset"]``: the player of
    that name (or ``spec["player"]``), else the served classifier."""
    from kzoo import zoo

    source = recipe._check(lambda _, name: zoo.load(name), where, spec["preset"])
    parts = {p: getattr(source, p) for p in source.players}
    if "classifier" in source.serves:
        parts.setdefault("classifier", source.classifier)
    name = spec.get("player") or (player if player in parts else "classifier")
    if name not in parts:
        served = "" if "classifier" in parts else ", which serves no classifier,"
        recipe._fail(f"{where}: preset {spec['preset']!r} is a {type(source).__name__}"
                   f"{served} with players {', '.join(parts)}; name one with player = "
                   f"\"<name>\".")
    net = parts[name]
    if name == "classifier" or parts.get("classifier") is net:
        shape, classes = tuple(net.input_shape[1:]), net.output_shape[-1]
        if shape != tuple(ds.input_shape) or classes != ds.num_classes:
            recipe._fail(f"{where}: preset {spec['preset']!r} takes {shape} -> {classes} "
                       f"classes; the data is {ds.input_shape} -> {ds.num_classes}.")
    return net
