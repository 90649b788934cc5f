"""The package list for setuptools (everything else is in pyproject.toml).

The rooms ingest/, export/ and train/ are top-level folders but install under the
synthlake namespace (pyproject's ``package-dir`` maps ``synthlake.ingest`` -> ``ingest/``);
``find_packages`` finds them under their folder names, so they are renamed here.
"""

from setuptools import find_packages, setup

ROOMS = ("ingest", "export", "train")

packages = find_packages(include=["synthlake", "synthlake.*"])
for room in ROOMS:
    packages += [f"synthlake.{name}" for name in find_packages(include=[room, f"{room}.*"])]

setup(packages=packages)
