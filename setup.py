"""Packaging beyond pyproject.toml: configs/ stays at the repository root (where people edit it)
and ships inside the wheel as the package data benchmark/configs, which benchmark.config reads
when installed. pyproject's [tool.setuptools] cannot both discover packages and map a folder
outside them into one, hence this file."""
from setuptools import find_packages, setup

setup(packages=[*find_packages(include=["benchmark*", "tasks*"]), "benchmark.configs"],
      package_dir={"benchmark.configs": "configs"},
      package_data={"benchmark.configs": ["*.yaml", "*/*.yaml"]})
