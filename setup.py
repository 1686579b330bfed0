# setuptools reads everything from pyproject.toml; cffi_modules has no pyproject key yet.
from setuptools import setup

setup(cffi_modules=["uringasgi/_build.py:ffibuilder"])
