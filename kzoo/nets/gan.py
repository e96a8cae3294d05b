"""Generator and critic pairs: DCGAN and the WGAN-GP ResNet form for images whose sides are
even and at least 4 (``geometry``), and MLPs for 2-D data.

Generators map a latent vector ``z`` (and, when conditional, a label) to samples
in [-1, 1] (images) or R^d (2-D data); critics map samples (and a label) to one
unbounded score per sample. Critics have no batch norm (it breaks the gradient
penalty); ``spectral_norm=True`` wraps their layers in ``SpectralNorm``.
Conditional generators concatenate a label embedding to ``z``; conditional
critics add a projection term ``embed(y) . h`` (Miyato and Koyama).
"""

import keras
from keras import layers

from kzoo import validate
from kzoo.nets.spectral import SpectralNorm

MAX_UPSAMPLINGS = 3


def dcgan_generator(image_shape=(8, 8, 1), latent_dim=64, *, width=64, num_classes=None,
                    batch_norm=True, name="dcgan_generator"):
    """A DCGAN generator: dense to a small map (``geometry``: 2x2 for 8x8 images, 7x7 for
    28x28, 4x4 for 32x32), then 4x4 transposed convs of stride 2 (batch norm, ReLU),
    halving the channels, and a tanh output.

    Args:
        image_shape: tuple (h, w, c), h and w even and >= 4 (``geometry``). Default
            (8, 8, 1).
        latent_dim: int. Default 64.
        width: int. Channels of the last hidden map. Default 64.
        num_classes: int or None. Conditional on a label input when given. Default None.
        batch_norm: bool. Batch norm before every ReLU. Default True (DCGAN's).
        name: str.

    Examples:
        >>> dcgan_generator((8, 8, 1), 64).output_shape
        (None, 8, 8, 1)
    """
    rows, cols, ups = geometry(image_shape, "DCGAN")
    width = validate.integer("width", width, low=1)
    z, inputs = _latent_inputs(latent_dim, num_classes)
    channels = width * 2 ** (ups - 1)
    x = layers.Dense(rows * cols * channels, use_bias=False)(z)
    x = layers.ReLU()(layers.BatchNormalization()(x) if batch_norm else x)
    x = layers.Reshape((rows, cols, channels))(x)
    for i in range(ups - 1):
        x = layers.Conv2DTranspose(channels // 2 ** (i + 1), 4, strides=2, padding="same",
                                   use_bias=False)(x)
        x = layers.ReLU()(layers.BatchNormalization()(x) if batch_norm else x)
    x = layers.Conv2DTranspose(image_shape[-1], 4, strides=2, padding="same")(x)
    # float32 samples under a mixed-precision policy: attacks and gradient penalties on
    # them normalise gradients, which float16 would flush to zero.
    return keras.Model(inputs, layers.Activation("tanh", name="sample", dtype="float32")(x),
                       name=name)


def dcgan_critic(image_shape=(8, 8, 1), *, width=64, num_classes=None, spectral_norm=False,
                 name="dcgan_critic"):
    """A DCGAN critic: 4x4 convs of stride 2 (LeakyReLU 0.2), as many as its generator's
    upsamplings, doubling the channels, no batch norm, then a dense score.

    Args:
        image_shape: tuple (h, w, c), h and w even and >= 4 (``geometry``). Default
            (8, 8, 1).
        width: int. Channels of the first conv. Default 64.
        num_classes: int or None. Projection-conditional on a label input. Default None.
        spectral_norm: bool. Wrap every conv and dense layer. Default False.
        name: str.

    Examples:
        >>> dcgan_critic((8, 8, 1)).output_shape
        (None,)
    """
    image = keras.Input(tuple(image_shape), name="sample")
    wrap = _wrapper(spectral_norm)
    return _score(image, dcgan_features(image, width, wrap), num_classes, wrap, name)


def dcgan_features(image, width, wrap, batch_norm=False):
    """The DCGAN critic's body on the input tensor ``image``: its ``"features"`` tensor.
    ``batch_norm``: batch norm after every conv but the first (DCGAN's discriminator)."""
    _, _, ups = geometry(image.shape[1:], "DCGAN")
    width = validate.integer("width", width, low=1)
    x = image
    for i in range(ups):
        x = wrap(layers.Conv2D(width * 2**i, 4, strides=2, padding="same"))(x)
        if batch_norm and i > 0:
            x = layers.BatchNormalization()(x)
        x = layers.LeakyReLU(0.2)(x)
    return layers.Flatten(name="features")(x)


def mlp_generator(data_dim=2, latent_dim=2, *, hidden=(128, 128), num_classes=None,
                  name="mlp_generator"):
    """An MLP generator for flat data (2-D mixtures): ReLU layers, linear output.

    Examples:
        >>> mlp_generator(2, 2).output_shape
        (None, 2)
    """
    data_dim = validate.integer("data_dim", data_dim, low=1)
    hidden = validate.int_tuple("hidden", hidden)
    z, inputs = _latent_inputs(latent_dim, num_classes)
    x = z
    for units in hidden:
        x = layers.Dense(units, activation="relu")(x)
    return keras.Model(inputs, layers.Dense(data_dim, name="sample", dtype="float32")(x),
                       name=name)


def mlp_critic(data_dim=2, *, hidden=(128, 128), num_classes=None, spectral_norm=False,
               name="mlp_critic"):
    """An MLP critic for flat data: LeakyReLU layers, one score per sample.

    Examples:
        >>> mlp_critic(2).output_shape
        (None,)
    """
    data_dim = validate.integer("data_dim", data_dim, low=1)
    hidden = validate.int_tuple("hidden", hidden)
    wrap = _wrapper(spectral_norm)
    sample = keras.Input((data_dim,), name="sample")
    x = sample
    for units in hidden:
        x = layers.LeakyReLU(0.2)(wrap(layers.Dense(units))(x))
    return _score(sample, x, num_classes, wrap, name)


def _score(sample, h, num_classes, wrap, name):
    num_classes = _classes(num_classes)
    # The score in float32 under a mixed-precision policy, as the losses read it.
    score = layers.Reshape((), dtype="float32")(
        wrap(layers.Dense(1, name="score", dtype="float32"))(h))
    if num_classes is None:
        return keras.Model(sample, score, name=name)
    label = keras.Input((), dtype="int32", name="label")
    embed = layers.Embedding(num_classes, h.shape[-1], name="projection")(label)
    projection = layers.Dot(axes=-1)([embed, h])
    score = layers.Add(dtype="float32")([score, layers.Reshape(())(projection)])
    return keras.Model([sample, label], score, name=name)


def conditional_affine(x, label, num_classes):
    """``x * gamma[label] + beta[label]`` per channel: the class-wise scale (from 1) and
    offset (from 0) of conditional batch norm, two label ``Embedding``s."""
    channels = x.shape[-1]
    shape = (1,) * (len(x.shape) - 2) + (channels,)
    gamma = layers.Embedding(num_classes, channels, embeddings_initializer="ones")(label)
    beta = layers.Embedding(num_classes, channels, embeddings_initializer="zeros")(label)
    return layers.Add()([layers.Multiply()([x, layers.Reshape(shape)(gamma)]),
                         layers.Reshape(shape)(beta)])


def _latent_inputs(latent_dim, num_classes):
    latent_dim = validate.integer("latent_dim", latent_dim, low=1)
    num_classes = _classes(num_classes)
    z = keras.Input((latent_dim,), name="z")
    if num_classes is None:
        return z, z
    label = keras.Input((), dtype="int32", name="label")
    embed = layers.Embedding(num_classes, latent_dim, name="label_embedding")(label)
    return layers.Concatenate()([z, embed]), [z, label]


def geometry(image_shape, family):
    """``(height, width, upsamplings)``: the first map of an image generator for images of
    ``image_shape`` (h, w, c) and the 2x upsamplings from it to the image, the most (up to
    ``MAX_UPSAMPLINGS``) whose halvings divide both sides and leave at least 2 on each; its
    critic downsamples as many times (the ResNet critic one fewer). A ``ValueError`` naming
    ``family`` for sides that are odd or under 4.

    Examples:
        >>> [geometry(s, "DCGAN") for s in ((8, 8, 1), (28, 28, 1), (32, 32, 3))]
        [(2, 2, 2), (7, 7, 2), (4, 4, 3)]
        >>> [geometry(s, "DCGAN") for s in ((20, 20, 3), (16, 24, 3))]
        [(5, 5, 2), (2, 3, 3)]
    """
    image_shape = validate.int_tuple("image_shape", image_shape)
    sides = image_shape[:2] if len(image_shape) == 3 else (0, 0)
    for ups in range(MAX_UPSAMPLINGS, 0, -1):
        if all(s % 2**ups == 0 and s >= 2 ** (ups + 1) for s in sides):
            return sides[0] // 2**ups, sides[1] // 2**ups, ups
    raise ValueError(
        f"{family} nets take images (height, width, channels) with even sides of at least 4: "
        f"the generator doubles a map of at least 2x2 at each of its 2x upsamplings, so each "
        f"side is even (e.g. 8, 16, 20, 28, 32); got image_shape {image_shape}. Pad or resize "
        f"the images to even sides; for flat samples (d,) use the mlp pair.")


def _classes(num_classes):
    """None (unconditional) or the number of classes, an int >= 2."""
    return None if num_classes is None else validate.integer("num_classes", num_classes, low=2)


def _wrapper(spectral_norm):
    """``SpectralNorm`` when ``spectral_norm``, else the identity on layers."""
    return SpectralNorm if validate.boolean("spectral_norm", spectral_norm) else (
        lambda layer: layer)


def resnet_generator(image_shape=(32, 32, 3), latent_dim=128, *, width=128, num_classes=None,
                     conditional_bn=False, name="resnet_generator"):
    """The WGAN-GP "resnet" generator: dense to a small map (``geometry``: 4x4 for 32x32
    images, 2x2 for 8x8), residual blocks that upsample 2x (batch norm, ReLU, 3x3 convs;
    1x1 conv shortcut), then batch norm, ReLU, a 3x3 conv and tanh.

    Args:
        image_shape: tuple (h, w, c), h and w even and >= 4 (``geometry``). Default
            (32, 32, 3).
        latent_dim: int. Default 128.
        width: int. Channels of every block. Default 128.
        num_classes: int or None. Conditional on a label input when given.
        conditional_bn: bool. With ``num_classes``: the label enters through conditional
            batch norm (every batch norm's scale and offset looked up per class, as in
            SN-GAN and Rob-GAN) instead of an embedding concatenated to ``z``. Default False.
        name: str.

    Examples:
        >>> resnet_generator((8, 8, 1), 32, width=16).output_shape
        (None, 8, 8, 1)
        >>> g = resnet_generator((8, 8, 1), 32, width=16, num_classes=10, conditional_bn=True)
    """
    rows, cols, blocks = geometry(image_shape, "ResNet GAN")
    width = validate.integer("width", width, low=1)
    if validate.boolean("conditional_bn", conditional_bn):
        if num_classes is None:
            raise ValueError("conditional_bn=True needs num_classes (the labels it is "
                             "conditional on).")
        z, _ = _latent_inputs(latent_dim, None)
        label = keras.Input((), dtype="int32", name="label")
        inputs, classes = [z, label], validate.integer("num_classes", num_classes, low=2)
    else:
        z, inputs = _latent_inputs(latent_dim, num_classes)

    def norm(t):
        t = layers.BatchNormalization(center=not conditional_bn, scale=not conditional_bn)(t)
        return conditional_affine(t, label, classes) if conditional_bn else t

    x = layers.Reshape((rows, cols, width))(layers.Dense(rows * cols * width)(z))
    for _ in range(blocks):
        shortcut = layers.Conv2D(width, 1)(layers.UpSampling2D()(x))
        h = layers.ReLU()(norm(x))
        h = layers.Conv2D(width, 3, padding="same")(layers.UpSampling2D()(h))
        h = layers.ReLU()(norm(h))
        x = layers.Add()([shortcut, layers.Conv2D(width, 3, padding="same")(h)])
    x = layers.ReLU()(norm(x))
    x = layers.Conv2D(image_shape[-1], 3, padding="same")(x)
    # float32 samples under a mixed-precision policy: attacks and gradient penalties on
    # them normalise gradients, which float16 would flush to zero.
    return keras.Model(inputs, layers.Activation("tanh", name="sample", dtype="float32")(x),
                       name=name)


def resnet_critic(image_shape=(32, 32, 3), *, width=128, num_classes=None, spectral_norm=False,
                  name="resnet_critic"):
    """The WGAN-GP "resnet" critic: residual blocks (ReLU, 3x3 convs, no normalisation)
    that halve the size (one fewer than its generator's upsamplings, ``geometry``: two for
    32x32, one for 8x8), two more at that size, ReLU, global mean pool, a dense score.

    Examples:
        >>> resnet_critic((8, 8, 1), width=16).output_shape
        (None,)
    """
    image = keras.Input(tuple(image_shape), name="sample")
    wrap = _wrapper(spectral_norm)
    return _score(image, resnet_features(image, width, wrap), num_classes, wrap, name)


def resnet_features(image, width, wrap, batch_norm=False):
    """The ResNet critic's body on the input tensor ``image``: its ``"features"`` tensor.
    ``batch_norm``: batch norm before every ReLU inside the blocks."""
    downs = geometry(image.shape[1:], "ResNet GAN")[2] - 1
    width = validate.integer("width", width, low=1)

    def act(t):
        return layers.ReLU()(layers.BatchNormalization()(t) if batch_norm else t)

    x = image
    for i in range(downs + 2):
        down = i < downs
        h = x if i == 0 else act(x)
        h = wrap(layers.Conv2D(width, 3, padding="same"))(h)
        h = wrap(layers.Conv2D(width, 3, padding="same"))(act(h))
        shortcut = x if (i > 0 and not down) else wrap(layers.Conv2D(width, 1))(x)
        if down:
            h, shortcut = layers.AveragePooling2D(2)(h), layers.AveragePooling2D(2)(shortcut)
        x = layers.Add()([shortcut, h])
    return layers.GlobalAveragePooling2D(name="features")(layers.ReLU()(x))


PAIRS = {"dcgan": (dcgan_generator, dcgan_critic), "resnet": (resnet_generator, resnet_critic),
         "mlp": (mlp_generator, mlp_critic)}


def gan_pair(arch, sample_shape, latent_dim, *, num_classes=None, spectral_norm=False,
             width=None, hidden=None):
    """A ``(generator, critic)`` pair of the family ``arch`` for samples of ``sample_shape``.

    Args:
        arch: str. "dcgan", "resnet" (images) or "mlp" (flat data, e.g. 2-D).
        sample_shape: tuple of int >= 1. (h, w, c) for images, (d,) for "mlp".
        latent_dim: int >= 1.
        num_classes: int >= 2 or None. Conditional pair when given. Default None.
        spectral_norm: bool. Spectral normalisation in the critic. Default False.
        width: int >= 1 or None. Channels ("dcgan", "resnet"); None: the builder's default.
        hidden: tuple of int >= 1, or None. Hidden widths ("mlp"); None: the builder's default.

    Examples:
        >>> g, d = gan_pair("mlp", (2,), 2, hidden=(64, 64))
    """
    validate.choice("arch", arch, tuple(PAIRS))
    sample_shape, kwargs = validate.int_tuple("sample_shape", sample_shape), {}
    if arch == "mlp":
        if len(sample_shape) != 1:
            raise ValueError(f"the mlp pair takes flat samples (d,); got {sample_shape}.")
        if width is not None:
            raise ValueError("the mlp pair takes hidden=(...), not width.")
        sample_shape = sample_shape[0]
        if hidden is not None:
            kwargs["hidden"] = hidden
    else:
        if hidden is not None:
            raise ValueError(f"the {arch} pair takes width=..., not hidden.")
        if width is not None:
            kwargs["width"] = width
    make_g, make_d = PAIRS[arch]
    return (make_g(sample_shape, latent_dim, num_classes=num_classes, **kwargs),
            make_d(sample_shape, num_classes=num_classes, spectral_norm=spectral_norm,
                   **kwargs))
