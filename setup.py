"""Package discovery; everything else is in pyproject.toml.

`workflows/`, `agents/`, `tools/` and `configs/` live at the top of the source tree but are installed
under the `focal` namespace (`focal.workflows`, ...), so a wheel never puts generic top-level modules
into site-packages. Every package under these roots (a directory with an `__init__.py`) is found here,
and every file under `configs/` and `focal/storage/migrations/` ships as package data, so a new
subpackage or config file needs no list edited. tests/integration/test_packaging.py checks the wheel.
"""

from setuptools import find_namespace_packages, find_packages, setup

ROOTS = {
    "focal": "focal",
    "focal.workflows": "workflows",
    "focal.agents": "agents",
    "focal.tools": "tools",
    "focal.configs": "configs",
}
# Shipped whole: every file in every folder (YAML files in nested folders; alembic's env.py,
# script.py.mako, versions/). Folders are listed as (namespace) packages so their files are data.
DATA_ROOTS = {"focal.configs": "configs", "focal.storage.migrations": "focal/storage/migrations"}
NOT_DATA = ["__pycache__", "*.__pycache__"]

packages = []
for name, path in ROOTS.items():
    packages += [name, *(f"{name}.{sub}" for sub in find_packages(path))]
package_data = {}
for name, path in DATA_ROOTS.items():
    for pkg in [name, *(f"{name}.{sub}" for sub in find_namespace_packages(path, exclude=NOT_DATA))]:
        package_data[pkg] = ["*"]
        if pkg not in packages:
            packages.append(pkg)

setup(
    package_dir=ROOTS,
    packages=packages,
    package_data=package_data,
    exclude_package_data={"": ["*.py[co]"]},
)
