"""Only the wheel tag lives here (everything else is in pyproject.toml).

The bundled library is loaded with ctypes, so it depends on the platform but on no Python
ABI: the wheel is tagged py3-none-<platform> (e.g. py3-none-linux_x86_64) rather than the
cpXY-cpXY tag setuptools gives any package holding a compiled module.
"""

from setuptools import setup
from setuptools.command.bdist_wheel import bdist_wheel


class bdist_wheel_ctypes(bdist_wheel):
    def get_tag(self):
        _python, _abi, platform = super().get_tag()
        return "py3", "none", platform


setup(cmdclass={"bdist_wheel": bdist_wheel_ctypes})
