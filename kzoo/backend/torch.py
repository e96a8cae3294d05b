"""PyTorch implementations of the kzoo backend functions."""

import contextlib
import os

import torch
import torch.distributed as dist

from kzoo.backend.common import channels_first, no_sync, split_output, unchanged


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
        n = replicas()
        if n > 1:  # DDP's mean, in one all-reduce of the flattened gradients
            flat = torch.cat([g.reshape(-1) for g in grads])
            dist.all_reduce(flat)
            flat /= n
            grads = [part.view_as(g) for part, g in
                     zip(flat.split([g.numel() for g in grads]), grads)]
        optimizer.apply(grads, variables)


_ranks = []  # the ranks of the enclosing data_parallel: collectives only inside it


def replicas():
    return _ranks[-1] if _ranks else 1


def replica_id():
    return dist.get_rank() if replicas() > 1 else 0


def replica_sum(x):
    return x if replicas() == 1 else _AllReduceSum.apply(torch.as_tensor(x))


class _AllReduceSum(torch.autograd.Function):
    """The sum over the ranks; its gradient is the sum of the ranks' gradients."""

    @staticmethod
    def forward(ctx, x):
        total = x.clone().contiguous()
        dist.all_reduce(total)
        return total

    @staticmethod
    def backward(ctx, grad):
        return _AllReduceSum.apply(grad)


def replica_concat(x):
    if replicas() == 1:
        return x
    x = torch.as_tensor(x).detach().contiguous()
    parts = [torch.empty_like(x) for _ in range(replicas())]
    dist.all_gather(parts, x)
    return torch.cat(parts, dim=0)


sync_state = no_sync
stateful_step = stateful_test_step = unchanged
# torch.compile breaks its graph at every torch.autograd.grad of an attack step: eager.
compiled = unchanged


def channels_first_module(model):
    """For torch attack libraries (AutoAttack, torchattacks, ART): ``(module, loss, device)``.

    ``module`` is ``kzoo.nets.channels_first(model)``: the Keras ``model`` (NHWC images ->
    logits) on NCHW images, a ``torch.nn.Module`` on this backend, in inference mode when
    called without ``training``; ``loss`` is ``torch.nn.CrossEntropyLoss()``; ``device``
    is the type of the device Keras puts tensors on ("cpu" or "cuda")."""
    device = torch.as_tensor(model.variables[0].value).device.type
    return channels_first(model), torch.nn.CrossEntropyLoss(), device


@contextlib.contextmanager
def data_parallel(n):
    """This process as one rank of ``n`` (DDP: one process per device, started by
    ``torchrun`` or ``kzoo train --devices``): joins the process group (nccl on CUDA,
    gloo on CPU) from the launcher's environment, unless already joined, and leaves the
    group it joined at the end of the block, once every rank is there (a group left to the
    interpreter's exit can abort the process from gloo's threads)."""
    joined = not dist.is_initialized()
    if joined:
        if "WORLD_SIZE" not in os.environ:
            raise ValueError(
                f"devices is {n}: torch trains on several devices as one process per "
                f"device; start them with `kzoo train RECIPE --devices {n}` or `torchrun "
                f"--nproc_per_node {n} SCRIPT`.")
        cuda = torch.cuda.is_available()
        if cuda:
            check_gpus(int(os.environ.get("LOCAL_WORLD_SIZE", 1)))
            torch.cuda.set_device(int(os.environ.get("LOCAL_RANK", 0)))
        # (CPU threads: the launcher's OMP_NUM_THREADS, cores / ranks)
        dist.init_process_group("nccl" if cuda else "gloo")
    if dist.get_world_size() != n:
        raise ValueError(f"devices is {n}, but {dist.get_world_size()} processes were "
                         f"started (WORLD_SIZE).")
    _ranks.append(n)
    try:
        yield {"engine": "torch.distributed (DDP)", "devices": n, "processes": n,
               "rank": dist.get_rank(), "feeds_block": True, "resumes": True}
    finally:
        _ranks.pop()
    if joined:  # not after an error: the other ranks may never reach the barrier
        dist.barrier()
        dist.destroy_process_group()


def check_gpus(ranks):
    """Refuses more ranks on this machine than its GPUs, when it has any."""
    if torch.cuda.is_available() and torch.cuda.device_count() < ranks:
        raise ValueError(f"devices is {ranks}; torch sees {torch.cuda.device_count()} "
                         f"GPU(s) on this machine.")


def broadcast(variables):
    """Rank 0's values of ``variables`` on every rank."""
    if replicas() == 1:
        return
    with torch.no_grad():
        for v in variables:
            value = v.value.detach().clone().contiguous()
            dist.broadcast(value, src=0)
            v.assign(value)
