"""The one build step pyproject.toml cannot declare: ``kzoo-startup.pth`` and the module it
imports, ``kzoo_startup.py``, at the root of the wheel. Python runs the .pth file when a
process starts, so that every process of an environment with kzoo starts with kzoo's start-up
hook (``kzoo.startup``) installed: TensorFlow silent on a machine without an NVIDIA device,
and a backend Keras does not have named, whether Keras or kzoo is imported first."""

from setuptools import setup
from setuptools.command.build_py import build_py

FILES = ("kzoo-startup.pth", "kzoo_startup.py")  # from packaging/


class BuildPy(build_py):
    def run(self):
        super().run()
        for name in FILES:
            self.copy_file(f"packaging/{name}", f"{self.build_lib}/{name}")

    def get_outputs(self, include_bytecode=True):
        return [*super().get_outputs(include_bytecode),
                *(f"{self.build_lib}/{name}" for name in FILES)]


setup(cmdclass={"build_py": BuildPy})
