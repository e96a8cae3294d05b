"""Every public function and constructor refuses bad input up front, with a ValueError
naming the argument, the value given and what is allowed."""

from types import SimpleNamespace

import keras
import numpy as np
import pytest

from kzoo import attacks, data, games, losses, metrics, nets
from kzoo.data.embedded import GaussianMixture2D
from kzoo.losses import gan as gan_losses

NAN, INF = float("nan"), float("inf")
SEED = r"seed must be an int in \[0, 4294967295\]; got "


@pytest.fixture(scope="module")
def kit():
    """Tiny players, shared by every case (a refused constructor leaves them untouched)."""
    ds = data.load("digits")
    inputs = keras.Input((6,))
    linear = keras.Model(inputs, keras.layers.Dense(3)(inputs))
    generator, critic = nets.gan_pair("mlp", (2,), 2, hidden=(8,))
    return SimpleNamespace(
        ds=ds, cnn=nets.small_cnn((8, 8, 1), 10, width=4), linear=linear,
        x=np.full((4, 6), 0.5, "float32"), y=np.array([0, 1, 2, 0]),
        gan=games.GAN(generator, critic), generator=generator, critic=critic)


def _refuses(call, match, k):
    with pytest.raises(ValueError, match=match):
        call(k)


DATA = [
    (lambda k: data.load("digits", seed=-1), SEED + r"-1\.$"),
    (lambda k: data.load("digits", seed=1.5), SEED + "1.5"),
    (lambda k: data.load("digits", seed="a"), SEED + "'a'"),
    (lambda k: data.load("digits", seed=True), SEED + "True"),
    (lambda k: data.load("digits", seed=None), SEED + "None"),
    (lambda k: data.load(["digits"]), r"name must be one of 'digits', .*; got \['digits'\]"),
    (lambda k: data.embedded.ring8(seed=-1), SEED + "-1"),
    (lambda k: data.long_tail(k.ds, True), "imbalance must be a finite number >= 1; got True"),
    (lambda k: data.long_tail(k.ds, 10, seed=-1), SEED + "-1"),
    (lambda k: data.long_tail(k.ds, 10, seed=None), SEED + "None"),
    (lambda k: data.long_tail(None, 10), "ds must be a kzoo.data.Dataset; got None"),
    (lambda k: data.label_noise(k.ds, False), r"rate must be a finite number in \[0, 1\); got F"),
    (lambda k: data.label_noise(k.ds, 0.1, seed="a"), SEED + "'a'"),
    (lambda k: data.reduce(k.ds, NAN), r"fraction must be a finite number in \(0, 1\]; got nan"),
    (lambda k: data.corrupt_test(k.ds, severity=INF), "severity must be a finite number >= 0"),
    (lambda k: data.corrupt_test(k.ds, "salt_pepper", severity=2.0),
     r"severity must be a finite number in \[0, 1\]; got 2.0"),
    (lambda k: data.corrupt_test(k.ds, share=True), r"share must be .* got True"),
    (lambda k: data.spurious_colour(k.ds, correlation=1.5), "correlation must be .* got 1.5"),
    (lambda k: data.meta_split(k.ds, per_class=INF), "per_class must be an int >= 1; got inf"),
    (lambda k: data.meta_split(k.ds, per_class="abc"), "per_class must be an int >= 1; got 'ab"),
    (lambda k: data.meta_split(k.ds, per_class=[1]), r"per_class must be an int >= 1; got \[1\]"),
    (lambda k: data.meta_split(k.ds, per_class=True), "per_class must be an int >= 1; got True"),
    (lambda k: data.signed(None), "ds must be a kzoo.data.Dataset; got None"),
    (lambda k: GaussianMixture2D([[0.0, 0.0]], 0.0), "std must be a finite number > 0; got 0.0"),
]

NETS = [
    (lambda k: nets.small_cnn(width=True), "width must be an int >= 1; got True"),
    (lambda k: nets.small_cnn(width="32"), "width must be an int >= 1; got '32'"),
    (lambda k: nets.small_cnn(width=1.5), "width must be an int >= 1; got 1.5"),
    (lambda k: nets.small_cnn(width=0), "width must be an int >= 1; got 0"),
    (lambda k: nets.small_cnn(batch_norm="no"), "batch_norm must be true or false; got 'no'"),
    (lambda k: nets.small_cnn(normed_head="no"), "normed_head must be true or false; got 'no'"),
    (lambda k: nets.small_cnn(bn_momentum=5), r"bn_momentum must be a finite number in \(0, 1\)"),
    (lambda k: nets.small_cnn(bn_momentum=NAN), "bn_momentum must be .* got nan"),
    (lambda k: nets.small_cnn((8, 8, 0)), r"input_shape\[2\] must be an int >= 1; got 0"),
    (lambda k: nets.resnet32((0, 0, 3)), r"input_shape\[0\] must be an int >= 1; got 0"),
    (lambda k: nets.mlp(hidden=64), "hidden must be a non-empty tuple of ints >= 1; got 64"),
    (lambda k: nets.mlp(hidden=[1.5]), r"hidden\[0\] must be an int >= 1; got 1.5"),
    (lambda k: nets.mlp(hidden=["64"]), r"hidden\[0\] must be an int >= 1; got '64'"),
    (lambda k: nets.mlp(num_classes=1.0), "num_classes must be an int >= 2; got 1.0"),
    (lambda k: nets.dcgan_generator(latent_dim=1.5), "latent_dim must be an int >= 1; got 1.5"),
    (lambda k: nets.dcgan_generator(latent_dim="8"), "latent_dim must be an int >= 1; got '8'"),
    (lambda k: nets.dcgan_generator(latent_dim=True), "latent_dim must be an int >= 1; got True"),
    (lambda k: nets.dcgan_generator(latent_dim=NAN), "latent_dim must be an int >= 1; got nan"),
    (lambda k: nets.dcgan_generator(width=2.7), "width must be an int >= 1; got 2.7"),
    (lambda k: nets.resnet_critic((8, 8, 1), width=-3), "width must be an int >= 1; got -3"),
    (lambda k: nets.mlp_generator(hidden=[1.9]), r"hidden\[0\] must be an int >= 1; got 1.9"),
    (lambda k: nets.mlp_critic(hidden=0), "hidden must be a non-empty tuple of ints >= 1; got 0"),
    (lambda k: nets.dcgan_critic(spectral_norm="no"), "spectral_norm must be true or false"),
    (lambda k: nets.gan_pair("mlp", (2,), 2, num_classes=0), "num_classes must be an int >= 2"),
    (lambda k: nets.gan_pair("mlp", (2,), 2, num_classes=1.5), "num_classes .* got 1.5"),
    (lambda k: nets.gan_pair("dcgan", (8, 8, 1), 8, width=2.7), "width must be .* got 2.7"),
    (lambda k: nets.perturbation_net(15, hidden=1.5), "hidden must be an int >= 1; got 1.5"),
    (lambda k: nets.SpectralNorm(keras.layers.Dense(2), power_iterations=1.5),
     "power_iterations must be an int >= 1; got 1.5"),
    (lambda k: nets.ClassCovariance(10, 2.5), "dim must be an int >= 1; got 2.5"),
    (lambda k: nets.ClassCovariance(10, 4, diagonal="no"), "diagonal must be true or false"),
    (lambda k: nets.NormedDense(0), "units must be an int >= 1; got 0"),
]


def _classifier(k, **kwargs):
    return games.Classifier(k.cnn, **kwargs)


def _madry(k, **kwargs):
    return games.PGDAdversarialTraining(k.cnn, **kwargs)


def _aegl(k, **kwargs):
    return games.AEGL(k.cnn, **{"class_counts": k.ds.class_counts(), "tail_threshold": 112,
                                **kwargs})


def _meta_iada(k, **kwargs):
    return games.MetaIADA(k.cnn, **{"class_counts": k.ds.class_counts(), "num_samples": 10,
                                    **kwargs})


def _robust_gan(k, **kwargs):
    return games.RobustGAN(k.generator, k.critic, **kwargs)


CLASSIFIERS = [
    (lambda k: games.Classifier(None), "net must be a keras.Model .*; got None"),
    (lambda k: _classifier(k, loss="focal", loss_args={"gamma": -1.0}),
     "gamma must be a finite number >= 0"),
    (lambda k: _classifier(k, loss="focal", loss_args={"gamma": NAN}), "gamma must be .* got nan"),
    (lambda k: _classifier(k, loss="focal", loss_args={"gamma": "x"}), "gamma must be .* got 'x'"),
    (lambda k: _classifier(k, loss="focal", loss_args={"focal_gamma": 2.0}),
     r"loss 'focal' takes no argument 'focal_gamma' \(got focal_gamma=2.0\); allowed: gamma"),
    (lambda k: _classifier(k, loss="ldam", loss_args={"max_margin": 0}, class_counts=[5] * 10),
     "max_margin must be .* > 0; got 0"),
    (lambda k: _classifier(k, loss="ldam", loss_args={"scale": INF}, class_counts=[5] * 10),
     "scale must be .* > 0; got inf"),
    (lambda k: _classifier(k, loss="logit_adjusted", loss_args={"tau": True},
                           class_counts=[5] * 10), "tau must be a finite number >= 0; got True"),
    (lambda k: _classifier(k, loss="class_balanced", loss_args={"beta": 1.5},
                           class_counts=[5] * 10), r"beta must be a finite number in \[0, 1\)"),
    (lambda k: _classifier(k, loss_args=["gamma"]), r"loss_args must be a dict .* \['gamma'\]"),
    (lambda k: _classifier(k, class_counts=[5] * 10, reweight_beta=NAN),
     "reweight_beta must be .* got nan"),
    (lambda k: _classifier(k, class_counts=[1.7] * 10), r"class_counts\[0\] must be an int >= 1"),
    (lambda k: _classifier(k, class_counts=[True] * 10), r"class_counts\[0\] .* got True"),
    (lambda k: _classifier(k, class_counts=["a"] * 10), r"class_counts\[0\] .* got 'a'"),
    (lambda k: _classifier(k, class_counts=[NAN] * 10), r"class_counts\[0\] .* got nan"),
    (lambda k: _classifier(k, class_counts=5), "class_counts must hold 10 positive counts"),
    (lambda k: _classifier(k, class_counts=[5] * 10, reweight_epoch=True),
     "reweight_epoch must be an int >= 0; got True"),
    (lambda k: _classifier(k, class_counts=[5] * 10, reweight_epoch="abc"),
     "reweight_epoch must be an int >= 0; got 'abc'"),
    (lambda k: _classifier(k, class_counts=[5] * 10, reweight_epoch=INF),
     "reweight_epoch must be an int >= 0; got inf"),
    (lambda k: _classifier(k, reweight_epoch=3), "reweight_epoch needs class_counts"),
    (lambda k: _madry(k, epsilon=INF), "epsilon must be a finite number >= 0; got inf"),
    (lambda k: _madry(k, epsilon="0.1"), "epsilon must be .* got '0.1'"),
    (lambda k: _madry(k, steps="7"), "steps must be an int >= 1; got '7'"),
    (lambda k: _madry(k, clean_weight=True), r"clean_weight must be .* \[0, 1\]; got True"),
    (lambda k: _madry(k, random_start="no"), "random_start must be true or false; got 'no'"),
    (lambda k: _madry(k, seed=-1), SEED + "-1"),
    (lambda k: _madry(k, seed=1.5), SEED + "1.5"),
    (lambda k: _aegl(k, cross_weight=NAN), "cross_weight must be a finite number >= 0; got nan"),
    (lambda k: _aegl(k, cross_weight="1"), "cross_weight must be .* got '1'"),
    (lambda k: _aegl(k, tail_threshold=50.9), "tail_threshold must be an int >= 1; got 50.9"),
    (lambda k: _aegl(k, tail_threshold=None), "tail_threshold must be an int >= 1; got None"),
    (lambda k: _aegl(k, class_counts=None), "class_counts must be .* got None"),
    (lambda k: _aegl(k, epsilon="x"), "epsilon must be a finite number >= 0; got 'x'"),
    (lambda k: _aegl(k, seed="a"), SEED + "'a'"),
    (lambda k: _meta_iada(k, alpha=True), "alpha must be a finite number >= 0; got True"),
    (lambda k: _meta_iada(k, meta_lr=0), "meta_lr must be a finite number > 0; got 0"),
    (lambda k: _meta_iada(k, warmup_steps="abc"), "warmup_steps must be an int >= 0; got 'abc'"),
    (lambda k: _meta_iada(k, warmup_steps=NAN), "warmup_steps must be an int >= 0; got nan"),
    (lambda k: _meta_iada(k, meta_batch_size=0), "meta_batch_size must be an int >= 1; got 0"),
    (lambda k: _meta_iada(k, meta_batch_size="a"), "meta_batch_size must be .* got 'a'"),
    (lambda k: _meta_iada(k, num_samples=-3, history=False), "num_samples .* >= 1; got -3"),
    (lambda k: _meta_iada(k, history="no"), "history must be true or false; got 'no'"),
    (lambda k: _meta_iada(k, perturb="no"), "perturb must be true or false; got 'no'"),
    (lambda k: _meta_iada(k, diagonal="no"), "diagonal must be true or false; got 'no'"),
    (lambda k: _meta_iada(k, meta_counts=[1.5] * 10), r"meta_counts\[0\] must be an int >= 1"),
    (lambda k: _meta_iada(k, seed=-1), SEED + "-1"),
]

GANS = [
    (lambda k: games.GAN(k.generator, k.critic, n_critic=True), "n_critic .* >= 1; got True"),
    (lambda k: games.GAN(k.generator, k.critic, n_critic="abc"), "n_critic .* got 'abc'"),
    (lambda k: games.GAN(k.generator, k.critic, n_critic=INF), "n_critic .* got inf"),
    (lambda k: games.GAN(k.generator, k.critic, penalty={"weight": -10}),
     "weight must be a finite number >= 0; got -10"),
    (lambda k: games.GAN(k.generator, k.critic, penalty={"weight": []}), r"weight .* got \[\]"),
    (lambda k: games.GAN(k.generator, k.critic, penalty="x"), "penalty must be a dict .* 'x'"),
    (lambda k: games.GAN(k.generator, k.critic, loss="bwgan", penalty={"p": 1.0}),
     "p must be a finite number > 1; got 1.0"),
    (lambda k: games.GAN(k.generator, k.critic, loss="bwgan", penalty={"gamma": 0}),
     "gamma must be a finite number > 0; got 0"),
    (lambda k: games.GAN(k.generator, k.critic, loss="bwgan", penalty={"s": 1.0}),
     r"penalty s != 0 .* needs image samples"),
    (lambda k: games.GAN(k.generator, k.critic, seed=-1), SEED + "-1"),
    (lambda k: games.GAN(None, k.critic), "generator must be a keras.Model; got None"),
    (lambda k: _robust_gan(k, eps1=NAN), "eps1 must be a finite number >= 0; got nan"),
    (lambda k: _robust_gan(k, eps1=INF), "eps1 must be a finite number >= 0; got inf"),
    (lambda k: _robust_gan(k, eps2=True), "eps2 must be a finite number >= 0; got True"),
    (lambda k: _robust_gan(k, lam=True), r"lam must be a finite number in \[0, 1\]; got True"),
    (lambda k: _robust_gan(k, robust_g="no"), "robust_g must be true or false; got 'no'"),
    (lambda k: _robust_gan(k, robust_d="no"), "robust_d must be true or false; got 'no'"),
    (lambda k: k.gan.sample(0), "n must be an int >= 1; got 0"),
    (lambda k: k.gan.sample(-1), "n must be an int >= 1; got -1"),
    (lambda k: k.gan.sample(1.7), "n must be an int >= 1; got 1.7"),
    (lambda k: k.gan.sample(2, seed=-1), SEED + "-1"),
    (lambda k: k.gan.worst_latent(np.zeros((2, 2), "float32"), -1.0),
     "eps must be a finite number >= 0; got -1.0"),
    (lambda k: gan_losses.get("bwgan", weight=True), "weight must be .* got True"),
    (lambda k: losses.class_balanced_weights([5, 5], beta=NAN), "beta must be .* got nan"),
    (lambda k: losses.ldam_margins([5, 5], max_margin=-1.0), "max_margin must be .* got -1.0"),
    (lambda k: losses.ldam_margins([5, NAN]), r"class_counts\[1\] must be a finite number > 0"),
    (lambda k: losses.get("ce", gamma=1.0), "loss 'ce' takes no argument 'gamma'"),
    (lambda k: losses.get("lda"), "loss must be one of 'ce', .*; got 'lda'"),
]


def _pgd(k, **kwargs):
    args = {"model": k.linear, "x": k.x, "y": k.y, "epsilon": 0.1, "step_size": 0.05,
            "steps": 1, **kwargs}
    return attacks.pgd(**args)


def _x_with_nan(k):
    x = k.x.copy()
    x[1, 2] = NAN
    return x


ATTACKS = [
    (lambda k: _pgd(k, y=np.array([0, 1, 3, 0])), r"y holds labels in \[0, 3\]; allowed: 0 to 2"),
    (lambda k: _pgd(k, y=np.array([0, -1, 2, 0])), r"y holds labels in \[-1, 2\]"),
    (lambda k: _pgd(k, y=[0, 1, 10, 0]), r"y holds labels in \[0, 10\]; allowed: 0 to 2"),
    (lambda k: _pgd(k, y=np.array([0, 1.5, 2, 0])), "y must hold integer class indices"),
    (lambda k: _pgd(k, y=np.array([0, 1])), "y must hold one label per row of x"),
    (lambda k: _pgd(k, x=_x_with_nan(k)), "x holds 1 NaN or inf values"),
    (lambda k: _pgd(k, x=np.zeros((0, 6), "float32"), y=np.zeros(0, int)),
     "x holds no examples"),
    (lambda k: _pgd(k, x=np.zeros((4, 6), "uint8")), "x must hold floats .*; got dtype uint8"),
    (lambda k: _pgd(k, epsilon=INF), "epsilon must be a finite number >= 0; got inf"),
    (lambda k: _pgd(k, step_size=INF), "step_size must be a finite number > 0; got inf"),
    (lambda k: _pgd(k, clip=(1, 0)), r"clip must be a pair \(low, high\) with low < high"),
    (lambda k: _pgd(k, clip=1), r"clip must be a pair \(low, high\) of numbers; got 1"),
    (lambda k: _pgd(k, random_start=True, seed=-1), SEED + "-1"),
    (lambda k: _pgd(k, random_start="no"), "random_start must be true or false; got 'no'"),
    (lambda k: attacks.fgsm(k.linear, k.x, k.y, epsilon=0), "epsilon must be .* > 0; got 0"),
]

METRICS = [
    (lambda k: metrics.robust_accuracy(k.linear, k.x, k.y, [0.1], steps=0),
     "steps must be an int >= 1; got 0"),
    (lambda k: metrics.robust_accuracy(k.linear, k.x, k.y, 0.1),
     "epsilons must be a list of numbers; got 0.1"),
    (lambda k: metrics.robust_accuracy(k.linear, k.x, k.y, [INF]), r"epsilons\[0\] .* got inf"),
    (lambda k: metrics.robust_accuracy(k.linear, k.x, k.y, [0.1], batch_size=0),
     "batch_size must be an int >= 1; got 0"),
    (lambda k: metrics.robust_accuracy(k.linear, k.x, k.y, [0.1], step_ratio=0),
     "step_ratio must be a finite number > 0; got 0"),
    (lambda k: metrics.robust_accuracy(k.linear, k.x, k.y + 3, [0.1]), "allowed: 0 to 2"),
    (lambda k: metrics.robust_accuracy(k.linear, k.x, k.y[:2], [0.0]), "one label per row"),
    (lambda k: metrics.robust_accuracy(k.linear, k.x, k.y, [0.1], verbose=3),
     "verbose must be one of 0, 1, 2, False, True; got 3"),
    (lambda k: metrics.predict_proba(k.linear, k.x, batch_size=0), "batch_size .* got 0"),
    (lambda k: metrics.predict_proba(k.linear, k.x, batch_size=2.5), "batch_size .* got 2.5"),
    (lambda k: metrics.predict_proba(k.linear, k.x[:0]), "x holds no examples"),
    (lambda k: metrics.predict_proba(k.linear, _x_with_nan(k)), "x holds 1 NaN or inf values"),
    (lambda k: metrics.accuracy([0, 1], [0]), "y and pred must be non-empty vectors of one"),
    (lambda k: metrics.accuracy([], []), "y and pred must be non-empty vectors"),
    (lambda k: metrics.per_class_accuracy([0, 5], [0, 1], 3), r"y holds labels in \[0, 5\]"),
    (lambda k: metrics.confusion_matrix([0, 1], [0, 3], 3), r"pred holds labels in \[0, 3\]"),
    (lambda k: metrics.worst_group_accuracy([0, 1], [0, 1], [0]), "groups must hold one group"),
    (lambda k: metrics.shot_groups([10, 0]), r"train_counts\[1\] must be an int >= 1; got 0"),
    (lambda k: metrics.inception_score(np.full((4, 2), 0.5), splits=0),
     r"splits must be an int in \[1, 4\]; got 0"),
    (lambda k: metrics.inception_score(np.full((4, 2), 0.5), splits=5), "splits .* got 5"),
    (lambda k: metrics.kernel_inception_distance(np.ones((4, 2)), np.ones((4, 2)), subsets=0),
     "subsets must be an int >= 1; got 0"),
    (lambda k: metrics.frechet_distance_of(np.full((4, 2), NAN), np.ones((4, 2))),
     "features must be finite; it holds 8 NaN or inf values"),
    (lambda k: metrics.latent_batch(k.gan, 0), "n must be an int >= 1; got 0"),
    (lambda k: metrics.latent_batch(k.gan, -5), "n must be an int >= 1; got -5"),
    (lambda k: metrics.latent_batch(k.gan, 1.5), "n must be an int >= 1; got 1.5"),
    (lambda k: metrics.latent_batch(k.gan, 4, seed=-1), SEED + "-1"),
    (lambda k: metrics.generate(k.gan, np.zeros((2, 2), "float32"), eps=-1),
     "eps must be a finite number >= 0; got -1"),
    (lambda k: metrics.generate(k.gan, np.zeros((2, 2), "float32"), batch_size=0),
     "batch_size must be an int >= 1; got 0"),
    (lambda k: metrics.generate(k.gan, np.zeros((2, 3), "float32")), r"z must be .* \(2, 3\)"),
    (lambda k: metrics.generator_report(k.gan, data.load("grid25"), worst_eps=0.5),
     "worst_eps must be a list of numbers; got 0.5"),
    (lambda k: metrics.generator_report(k.gan, data.load("grid25"), worst_eps=[NAN]),
     r"worst_eps\[0\] must be a finite number >= 0; got nan"),
    (lambda k: metrics.generator_report(k.gan, data.load("grid25"), n=0), "n must be .* got 0"),
]


@pytest.mark.parametrize("call, match", DATA + NETS)
def test_data_and_nets_refuse(kit, call, match):
    _refuses(call, match, kit)


@pytest.mark.parametrize("call, match", CLASSIFIERS + GANS)
def test_games_and_losses_refuse(kit, call, match):
    _refuses(call, match, kit)


@pytest.mark.parametrize("call, match", ATTACKS + METRICS)
def test_attacks_and_metrics_refuse(kit, call, match):
    _refuses(call, match, kit)


def test_refusal_names_argument_and_value_exactly():
    with pytest.raises(ValueError) as err:
        data.load("digits", seed=-1)
    assert str(err.value) == "seed must be an int in [0, 4294967295]; got -1."
    with pytest.raises(ValueError) as err:
        games.RobustGAN(*nets.gan_pair("mlp", (2,), 2, hidden=(4,)), eps1=NAN)
    assert str(err.value) == "eps1 must be a finite number >= 0; got nan."


def test_valid_numpy_scalars_and_ints_are_taken(kit):
    assert nets.mlp((2,), np.int64(3), hidden=[np.int64(4)]).output_shape == (None, 3)
    assert data.load("digits", seed=np.int64(0)).provenance == data.load("digits").provenance
    game = games.Classifier(kit.cnn, loss="ldam", class_counts=np.array(kit.ds.class_counts()))
    assert game.class_counts == kit.ds.class_counts()
    x = kit.ds.x_test[:4]
    x_adv = attacks.pgd(game, x, kit.ds.y_test[:4], epsilon=np.float32(0.1), step_size=0.05,
                        steps=1, seed=np.int64(3), random_start=True)
    assert np.abs(keras.ops.convert_to_numpy(x_adv) - x).max() <= 0.1 + 1e-6
    assert kit.gan.sample(3, seed=5).shape == (3, 2)


def test_pgd_takes_backend_tensors_as_they_are(kit):
    """Inside a train step pgd gets backend tensors: no host-side reading of them."""
    x = keras.ops.convert_to_tensor(kit.x)
    y = keras.ops.convert_to_tensor(kit.y)
    out = attacks.pgd(kit.linear, x, y, epsilon=0.1, step_size=0.05, steps=1)
    assert tuple(out.shape) == kit.x.shape
