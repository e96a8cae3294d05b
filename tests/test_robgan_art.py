"""Rob-GAN's served classifier with a PyTorch tool: ART's PGD attacks the fine-tuned preset's
classifier as it is (an ``nn.Module`` on [0, 1] images, through ``channels_first``) and
finds the accuracy ``kzoo.attacks.pgd`` finds, within a point."""

import numpy as np
import pytest
from conftest import BACKEND

import kzoo

EPSILON, STEPS = 0.1, 20


@pytest.mark.skipif(BACKEND != "torch", reason="ART's PyTorchClassifier takes a torch.nn."
                    "Module, which a Keras model is only on the torch backend")
@pytest.mark.parametrize("preset", ["digits-robgan", "digits-robgan-finetune"])
def test_art_pgd_matches_kzoo_pgd(preset):
    import torch
    from art.attacks.evasion import ProjectedGradientDescent
    from art.estimators.classification import PyTorchClassifier

    classifier = kzoo.load(preset).classifier
    assert isinstance(classifier, torch.nn.Module)
    ds = kzoo.data.load("digits")
    x, y = ds.x_test, ds.y_test
    x_adv = kzoo.attacks.pgd(classifier, x, y, epsilon=EPSILON, step_size=EPSILON / 5,
                             steps=STEPS)
    ours = np.mean(kzoo.metrics.predict_proba(classifier, x_adv).argmax(-1) == y)

    net = kzoo.nets.channels_first(classifier)
    nchw = x.transpose(0, 3, 1, 2)
    art_net = PyTorchClassifier(net, loss=torch.nn.CrossEntropyLoss(), input_shape=nchw.shape[1:],
                                nb_classes=ds.num_classes, clip_values=(0.0, 1.0))
    attack = ProjectedGradientDescent(art_net, eps=EPSILON, eps_step=EPSILON / 5,
                                      max_iter=STEPS, num_random_init=0, verbose=False)
    theirs = np.mean(art_net.predict(attack.generate(nchw, y=y)).argmax(-1) == y)
    card = kzoo.zoo.ModelCard.read(kzoo.zoo.resolve(preset)).metrics[f"robust_accuracy@{EPSILON:g}"]
    assert abs(theirs - ours) <= 0.01, (theirs, ours)
    assert abs(ours - card) <= 0.01, (ours, card)
