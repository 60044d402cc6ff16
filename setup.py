"""Package discovery for the wheel (all other metadata is in pyproject.toml).

The user's top-level folders ``benchmarks/``, ``training/`` and ``data_gen/`` ship inside the
one import package ``echo4o_eval`` (``[tool.setuptools.package-dir]`` maps them), so the wheel
never adds generic names such as ``benchmarks`` to site-packages. Their packages are found
here, under their mapped names, so a new folder (e.g. ``benchmarks/<id>/`` with an
``__init__.py``) ships its modules without editing a list.
"""

from setuptools import find_packages, setup

MAPPED = {"echo4o_eval.benchmarks": "benchmarks", "echo4o_eval.training": "training",
          "echo4o_eval.data_gen": "data_gen"}

packages = find_packages(include=["echo4o_eval", "echo4o_eval.*"])
for name, folder in MAPPED.items():
    packages += [name] + [f"{name}.{sub}" for sub in find_packages(folder)]

setup(packages=sorted(set(packages)))
