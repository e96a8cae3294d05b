"""A recipe's players: each ``[net]`` / ``[net.<player>]`` table
(``kzoo.recipe_spec.Player``) built for a data set, or taken from a preset or a run
directory (``Recipe.players``)."""

from kzoo import roles
from kzoo.recipe_keywords import call, check_keywords
from kzoo.recipe_spec import RecipeError


def is_pair(game_cls):
    """Whether ``game_cls``'s players are a GAN's pair, which ``[net]``'s keys build both of."""
    return set(game_cls.players) == {"generator", "critic"}


def net_builder(game_cls, spec):
    """``(builder, the parameters kzoo sets itself)`` of the fresh ``[net]`` table ``spec``
    (``kzoo.recipe_spec.Player``): ``kzoo.nets.gan_pair`` for a GAN's ``[net]`` keys, else
    its arch's builder; a key of the table must be one of the others."""
    import kzoo.nets

    if not spec.player and is_pair(game_cls):
        return kzoo.nets.gan_pair, ("arch", "sample_shape", "num_classes")
    return kzoo.nets.ARCHS[spec.arch][1], ("input_shape", "image_shape", "data_dim",
                                           "num_classes")


def check_arguments(origin, spec, game_cls):
    """A RecipeError for a key that no function the recipe ``spec`` configures takes:
    ``[game]``'s (the game's constructor), each fresh ``[net]`` table's (its builder) and
    each bias step's (its transform); before any data is loaded or net built."""
    import kzoo.data

    check_keywords(origin, game_cls, "[game]", spec.game.arguments, taken=game_cls.players)
    for table in spec.net:
        if table.preset is None:
            builder, taken = net_builder(game_cls, table)
            check_keywords(origin, builder, table.where, table.arguments, taken=taken)
    for step in spec.data.bias:
        check_keywords(origin, kzoo.data.TRANSFORMS[step.transform], f"bias {step.transform}",
                       step.arguments, taken=("ds",))


def build_players(recipe, ds):
    """``{player: keras.Model}`` from ``[net]`` for the data set ``ds``: built fresh or
    taken from a preset or run (each table's keys checked when the recipe was read,
    ``check_arguments``)."""
    import kzoo.nets

    game, origin = recipe.game_class, recipe.origin
    players = {}
    for spec in recipe.spec.net:
        player = spec.player or game.players[0]
        if spec.preset is not None:
            players[player] = trained_player(origin, spec, player, ds)
            continue
        kwargs = dict(spec.arguments)
        if not spec.player and is_pair(game):
            kwargs.setdefault("latent_dim", kzoo.nets.default_latent_dim(ds.input_shape))
            players["generator"], players["critic"] = call(
                origin, kzoo.nets.gan_pair, spec.where, spec.arch, ds.input_shape,
                num_classes=ds.num_classes if spec.conditional else None, **kwargs)
            continue
        try:
            players[player] = kzoo.nets.build_for_data(
                spec.arch, ds.input_shape, ds.num_classes, conditional=spec.conditional,
                **kwargs)
        except (TypeError, ValueError) as err:
            raise RecipeError(f"{origin}: {spec.where}: {err}") from err
    return players


def trained_player(origin, spec, player, ds):
    """The trained ``player`` of the preset or run ``spec.preset``: the player of that name
    (or ``spec.take``), else the net a role of the game serves (its classifier)."""
    from kzoo import zoo

    try:
        source = zoo.load(spec.preset)
    except ValueError as err:
        raise RecipeError(f"{origin}: {err}") from err
    parts = {p: getattr(source, p) for p in source.players}
    served = {role.name: role.net(source) for role in roles.of(source.serves)}
    served = {name: net for name, net in served.items() if net is not None}
    parts = {**served, **parts}
    name = spec.take or (player if player in parts else next(iter(served), None))
    if name not in parts:
        unserved = "" if served else ", which serves no classifier,"
        raise RecipeError(f"{origin}: {spec.where}: preset {spec.preset!r} is a "
                          f"{type(source).__name__}{unserved} with players "
                          f"{', '.join(source.players)}; name one with player = \"<name>\".")
    net = parts[name]
    if net in served.values():
        role = next(r for r in roles.of(source.serves) if served.get(r.name) is net)
        problem = role.check_net(net, ds)
        if problem:
            raise RecipeError(f"{origin}: {spec.where}: preset {spec.preset!r} {problem}")
    return net
