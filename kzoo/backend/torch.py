"""PyTorch implementations of the kzoo backend functions."""

import torch

from kzoo.backend.common import no_sync, split_output, unchanged


def framework_version():
    return torch.__version__


def value_and_grad(fn, variables, create_graph=False):
    params = [v.value for v in variables]
    frozen = [p for p in params if not p.requires_grad]  # non-trainable variables
    try:
        for p in frozen:
            p.requires_grad_(True)
        with torch.enable_grad():
            loss, aux = split_output(fn())
            grads = torch.autograd.grad(
                loss, params, create_graph=create_graph, allow_unused=True
            )
    finally:
        for p in frozen:
            p.requires_grad_(False)
    grads = [torch.zeros_like(p) if g is None else g for g, p in zip(grads, params)]
    if not create_graph:
        loss = loss.detach()
    return (loss, aux), grads


def input_grad(fn, x, create_graph=False, has_aux=False):
    with torch.enable_grad():
        x = torch.as_tensor(x)
        if not x.requires_grad:
            x = x.detach().requires_grad_(True)
        value, aux = split_output(fn(x)) if has_aux else (fn(x), None)
        (grad,) = torch.autograd.grad(value, x, create_graph=create_graph)
    return (grad, aux) if has_aux else grad


def apply(optimizer, grads, variables):
    with torch.no_grad():
        optimizer.apply(grads, variables)


sync_state = no_sync
stateful_step = stateful_test_step = unchanged


def channels_first_module(model):
    """For torch attack libraries (AutoAttack, torchattacks, ART): ``(module, loss, device)``.

    ``module`` is ``kzoo.nets.channels_first(model)``: the Keras ``model`` (NHWC images ->
    logits) on NCHW images, a ``torch.nn.Module`` on this backend, in inference mode when
    called without ``training``; ``loss`` is ``torch.nn.CrossEntropyLoss()``; ``device``
    is the type of the device Keras puts tensors on ("cpu" or "cuda")."""
    from kzoo.nets import channels_first

    device = torch.as_tensor(model.variables[0].value).device.type
    return channels_first(model), torch.nn.CrossEntropyLoss(), device
