# Copyright (c) hsmops.luna contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
import os
import sys

import pytest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

from emulator_process import Emulator  # noqa: E402


@pytest.fixture(scope="session")
def emu(tmp_path_factory):
    """The test fleet served by a real `luna-emulator serve` on free ports (state in a tmp dir)."""
    emulator = Emulator(tmp_path_factory.mktemp("emulator") / "state").start()
    yield emulator
    rc = emulator.stop()
    assert rc == 0, emulator.log()[-3000:]
