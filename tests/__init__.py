"""kstream's tests. A regular package on purpose: pycaption's wheel installs a top-level ``tests`` package into
site-packages, which would otherwise shadow this folder for ``from tests.helpers import ...``."""
