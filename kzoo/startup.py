"""What ``import kzoo`` settles before Keras is imported: the backend, and TensorFlow's quiet.

- With no backend configured (``KERAS_BACKEND`` unset, no ``backend`` in ``keras.json``
  other than Keras' own default "tensorflow") and TensorFlow not installed, kzoo picks
  torch, else jax, and says so once on stderr; with none of the three installed it raises
  ``ImportError`` saying what to install and how to set ``KERAS_BACKEND``.
- A backend Keras does not have (``KERAS_BACKEND=pytorch``) is refused when Keras is
  imported, with the backends kzoo runs on and the closest of them.
- On a machine without an NVIDIA device, TensorFlow's start-up lines (CUDA probing, oneDNN,
  CPU features) are silenced: its C++ log level is raised unless the user set
  ``TF_CPP_MIN_LOG_LEVEL`` (3: fatal messages only), and stderr is muted while the
  ``tensorflow`` module itself loads. Python exceptions are unaffected.

Nothing here imports Keras or a framework.
"""

import contextlib
import glob
import importlib.abc
import importlib.util
import json
import os
import sys
from pathlib import Path

BACKENDS = ("tensorflow", "torch", "jax")  # the Keras backends kzoo runs on
KERAS_BACKENDS = (*BACKENDS, "numpy", "openvino")  # those Keras has (kzoo.backend refuses the
# last two when a game starts, saying which it runs on)


def installed(name):
    try:
        return importlib.util.find_spec(name) is not None
    except (ImportError, ValueError):
        return False


def configured_backend():
    """``(backend, source)`` as Keras will read it, or ``(None, None)``."""
    if os.environ.get("KERAS_BACKEND"):
        return os.environ["KERAS_BACKEND"], "KERAS_BACKEND"
    home = Path(os.environ.get("KERAS_HOME", Path("~/.keras").expanduser()))
    try:
        backend = json.loads((home / "keras.json").read_text()).get("backend")
    except (OSError, ValueError, AttributeError):
        backend = None
    return (backend, str(home / "keras.json")) if backend else (None, None)


def choose_backend():
    """Sets ``KERAS_BACKEND`` when Keras would otherwise fail for want of TensorFlow; refuses
    a backend Keras does not have, naming the ones kzoo runs on."""
    backend, source = configured_backend()
    if backend and backend not in KERAS_BACKENDS:
        from kzoo.validate import did_you_mean

        raise ImportError(f"{source} names the Keras backend {backend!r}, which Keras does not "
                          f"have; kzoo runs on {', '.join(BACKENDS)}."
                          f"{did_you_mean(backend, BACKENDS)}")
    if source == "KERAS_BACKEND" or (backend and backend != "tensorflow"):
        return  # the user's choice
    if installed("tensorflow"):
        return  # Keras' default works
    for name in ("torch", "jax"):
        if installed(name):
            os.environ["KERAS_BACKEND"] = name
            print(f"kzoo: TensorFlow is not installed; using the {name} backend (set "
                  f"KERAS_BACKEND=tensorflow|torch|jax to choose).", file=sys.stderr)
            return
    raise ImportError("kzoo needs one of tensorflow, torch or jax: pip install 'kzoo[torch]' "
                      "(or [tensorflow], [jax]), then set KERAS_BACKEND to it.")


def has_nvidia_device():
    return bool(glob.glob("/dev/nvidia[0-9]*")) or os.path.exists("/proc/driver/nvidia")


@contextlib.contextmanager
def muted_stderr():
    """Sends file descriptor 2 (C and C++ output too) to /dev/null for the block; does
    nothing where fd 2 or /dev/null cannot be opened."""
    sys.stderr.flush()
    try:
        saved, null = os.dup(2), os.open(os.devnull, os.O_WRONLY)
    except OSError:
        yield
        return
    os.dup2(null, 2)
    try:
        yield
    finally:
        sys.stderr.flush()
        os.dup2(saved, 2)
        os.close(saved)
        os.close(null)


class _Loader(importlib.abc.Loader):
    """Wraps a module's loader: ``before()`` runs, then the module loads, with stderr muted
    when ``quiet``. Everything else is the wrapped loader's."""

    def __init__(self, loader, before, quiet):
        self.loader, self.before, self.quiet = loader, before, quiet

    def __getattr__(self, name):
        return getattr(self.loader, name)

    def create_module(self, spec):
        return self.loader.create_module(spec)

    def exec_module(self, module):
        self.before()
        with muted_stderr() if self.quiet else contextlib.nullcontext():
            self.loader.exec_module(module)


def _quiet_tensorflow():
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")


class _Startup(importlib.abc.MetaPathFinder):
    """When ``keras`` is first imported (after the command line has set ``--backend``),
    chooses the backend; when ``tensorflow`` is, loads it quietly on a machine without an
    NVIDIA device. Looking a module up (``find_spec``) has no side effect."""

    is_kzoo_startup = True

    def find_spec(self, fullname, path=None, target=None):
        if fullname == "keras":
            before, quiet = choose_backend, False
        elif fullname == "tensorflow" and not has_nvidia_device():
            before, quiet = _quiet_tensorflow, True
        else:
            return None
        sys.meta_path.remove(self)
        try:
            spec = importlib.util.find_spec(fullname)
        finally:
            sys.meta_path.insert(0, self)
        if spec is not None and spec.loader is not None:
            spec.loader = _Loader(spec.loader, before, quiet)
        return spec


def prepare():
    """Installs the hook once (nothing to do once Keras is imported): not again when
    ``kzoo-startup.pth`` installed it as the process started (from this file, loaded as a
    module of its own)."""
    if "keras" in sys.modules:
        return
    if not any(getattr(f, "is_kzoo_startup", False) for f in sys.meta_path):
        sys.meta_path.insert(0, _Startup())


def backend_name():
    """The backend of this process: Keras' own once it is imported, else the configured."""
    keras = sys.modules.get("keras")
    return keras.config.backend() if keras is not None else configured_backend()[0]


def launches_ranks(devices):
    """Whether ``kzoo train --devices`` starts torch processes (one per device) rather than
    training here: torch, several devices, and not already a rank of a launcher. Refuses
    more CPU processes than cores when there is no GPU."""
    if backend_name() != "torch" or devices == 1 or "WORLD_SIZE" in os.environ:
        return False
    if not has_nvidia_device() and devices > (os.cpu_count() or 1):
        raise ValueError(f"devices is {devices}; this machine has no GPU for it and "
                         f"{os.cpu_count()} CPU core(s), each of which can run one rank.")
    return True


def prepare_devices(devices):
    """Before JAX starts: its CPU devices, ``devices`` shared by the processes of
    ``KERAS_DISTRIBUTION_NUM_PROCESSES`` (a GPU's devices are JAX's own)."""
    processes = os.environ.get("KERAS_DISTRIBUTION_NUM_PROCESSES", "1")
    if backend_name() == "jax" and devices > 1:
        if not processes.isdigit() or int(processes) < 1 or devices % int(processes):
            raise ValueError(f"devices is {devices}; it must split evenly over "
                             f"KERAS_DISTRIBUTION_NUM_PROCESSES={processes} JAX processes.")
        flag = f"--xla_force_host_platform_device_count={devices // int(processes)}"
        os.environ["XLA_FLAGS"] = f"{flag} {os.environ.get('XLA_FLAGS', '')}".strip()
