"""Offline stand-in for the get-pip.py script that ansible-test bootstraps its sanity venvs with.

ansible-test runs it as ``python get_pip_<version>.py <pip options> pip==<version> [--no-setuptools]
[--no-wheel]`` inside a fresh virtual environment. Instead of downloading pip, this installs the pip
bundled with Python (ensurepip), then asks that pip for the requested packages from the configured
package index.
"""

from __future__ import annotations

import os
import subprocess
import sys

# get-pip.py options that `pip install` does not know: leaving setuptools and wheel out is the default.
GET_PIP_ONLY_OPTIONS = frozenset(('--no-setuptools', '--no-wheel'))


def main() -> int:
    """Bootstrap pip, then install what get-pip.py was asked for."""
    # ensurepip clears the PIP_* variables (the index and certificate settings) while it runs.
    saved_environ = dict(os.environ)
    import ensurepip  # pylint: disable=import-outside-toplevel

    ensurepip.bootstrap(upgrade=True)
    os.environ.clear()
    os.environ.update(saved_environ)

    arguments = [arg for arg in sys.argv[1:] if arg not in GET_PIP_ONLY_OPTIONS]
    return subprocess.call([sys.executable, '-m', 'pip', 'install'] + arguments)


if __name__ == '__main__':
    sys.exit(main())
