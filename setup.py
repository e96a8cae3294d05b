"""The one build step pyproject.toml cannot declare: ``kzoo-startup.pth`` at the root of the
wheel. Python runs it when a process starts, so that every process of an environment with
kzoo starts as ``import kzoo`` first would (``kzoo.startup``): TensorFlow silent on a machine
without an NVIDIA device, and a backend Keras does not have named, whether Keras or kzoo is
imported first."""

from setuptools import setup
from setuptools.command.build_py import build_py

PTH = "kzoo-startup.pth"


class BuildPy(build_py):
    def run(self):
        super().run()
        self.copy_file(f"packaging/{PTH}", f"{self.build_lib}/{PTH}")

    def get_outputs(self, include_bytecode=True):
        return [*super().get_outputs(include_bytecode), f"{self.build_lib}/{PTH}"]


setup(cmdclass={"build_py": BuildPy})
