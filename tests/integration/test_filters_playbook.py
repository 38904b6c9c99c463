# -*- coding: utf-8 -*-
# Copyright (c) hsmops.luna contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Every hsmops.luna filter and test through a real ansible-playbook, as users call them."""

import os
import subprocess
import sys

import pytest

REPO = os.path.abspath(os.path.join(os.path.dirname(__file__), "..", ".."))
TARGET = os.path.join(REPO, "tests", "integration", "targets", "filters")
DEMO_FLEET = os.path.join(REPO, "emulator", "fleets", "demo.yml")
VENV_BIN = os.path.dirname(sys.executable)


@pytest.fixture(scope="module")
def collections_root(tmp_path_factory):
    """ansible_collections/hsmops/luna -> this tree, in a fresh directory."""
    root = tmp_path_factory.mktemp("collections")
    link = root / "ansible_collections" / "hsmops" / "luna"
    link.parent.mkdir(parents=True)
    link.symlink_to(REPO)
    return str(root)


def playbook(collections_root, tmp_path, *args):
    env = dict(os.environ)
    env.update({
        "ANSIBLE_COLLECTIONS_PATH": collections_root,
        "ANSIBLE_COLLECTIONS_SCAN_SYS_PATH": "false",
        "ANSIBLE_NOCOLOR": "1",
        "ANSIBLE_LOCALHOST_WARNING": "false",
        "ANSIBLE_INVENTORY_UNPARSED_WARNING": "false",
        "ANSIBLE_PYTHON_INTERPRETER": sys.executable,
        "ANSIBLE_LOCAL_TEMP": str(tmp_path / "local"),
        "ANSIBLE_HOME": str(tmp_path / "home"),
        "PATH": VENV_BIN + os.pathsep + env.get("PATH", ""),
        # A shell sets PWD to the folder it runs in; relative fleet_file paths resolve from it.
        "PWD": str(tmp_path),
    })
    command = [os.path.join(VENV_BIN, "ansible-playbook")] + list(args)
    done = subprocess.run(command, env=env, cwd=str(tmp_path), capture_output=True, text=True, timeout=300, check=False)
    return done.returncode, done.stdout + done.stderr


def test_every_filter_and_test_on_the_demo_fleet(collections_root, tmp_path):
    rc, out = playbook(collections_root, tmp_path, os.path.join(TARGET, "filters.yml"), "-e", "fleet_file=" + DEMO_FLEET)
    assert rc == 0, out
    assert "failed=0" in out and "ok=12" in out, out
    assert out.count("All assertions passed") == 7, out  # one per assert task


def test_bad_input_fails_with_plugin_field_and_hsm(collections_root, tmp_path):
    rc, out = playbook(collections_root, tmp_path, os.path.join(TARGET, "bad_input.yml"))
    assert rc == 2, out
    # Nine plugins were checked (and rescued) inside the play; the last task fails on purpose.
    assert "rescued=9" in out and "failed=1" in out, out
    assert ("hsmops.luna.sff_status: HSM 154701: field 'firmware': malformed firmware version '6.2.2-5'; "
            "expected 'MAJOR.MINOR.PATCH'") in out
    assert "Traceback" not in out and "FactError" not in out


def test_compat_report_playbook_by_its_collection_name(collections_root, tmp_path):
    """ansible-playbook hsmops.luna.compat_report -e fleet_file=... : localhost only, no appliance."""
    rc, out = playbook(collections_root, tmp_path, "hsmops.luna.compat_report", "-e", "fleet_file=" + DEMO_FLEET,
                       "-e", "fail_when_unsafe=true")
    assert rc == 0, out
    for line in (
        '"154701 east_1 fw 6.22.0 ped dom_east: SFF capable, not active [CUF_NOT_APPLIED, SFF_POLICY_OFF]"',
        '"154701 <-> 154740: clone FAILS with CKR_DATA_INVALID [SFF_MISMATCH]; SFF backups not interchangeable"',
        '"ha_west [154711, 154712, 154713]: compatible"',
        '"SFF on for 154701, 154702, 154711, 154712, 154713: SAFE"',
        '"wave 1: apply_cuf on 154701, 154711"',
        '"wave 3: enable_policy on 154701, 154702, 154711, 154712, 154713"',
    ):
        assert line in out, out
    # The fleet file's appliance credentials never reach the output.
    assert "demo-admin-pw" not in out and "demo-so-pw" not in out


def test_compat_report_playbook_refuses_a_split_group(collections_root, tmp_path):
    rc, out = playbook(collections_root, tmp_path, os.path.join(REPO, "playbooks", "compat_report.yml"),
                       "-e", "fleet_file=" + os.path.relpath(DEMO_FLEET, str(tmp_path)),
                       "-e", '{"targets": ["154711"], "fail_when_unsafe": true}', "-vvv")
    assert rc == 2, out
    assert "REFUSED" in out and "refused HA_PEER_WOULD_DIVERGE 154712" in out
    assert "demo-admin-pw" not in out and "demo-so-pw" not in out


def test_compat_report_playbook_missing_fleet_file(collections_root, tmp_path):
    rc, out = playbook(collections_root, tmp_path, "hsmops.luna.compat_report", "-e", "fleet_file=/nonexistent/fleet.yml")
    assert rc == 2, out
    assert "Fleet file /nonexistent/fleet.yml not found: pass -e fleet_file=" in out
