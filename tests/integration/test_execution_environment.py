# -*- coding: utf-8 -*-
# Copyright (c) hsmops.luna contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""meta/execution-environment.yml, as ansible-builder uses it (no container runtime needed).

- ``ansible-builder create`` accepts it and writes a build context whose Containerfile installs
  ansible-core, ansible-runner, this collection and the Python packages of requirements/ee.txt.
- Installed from the built collection artefact, the collection tells ``ansible-builder
  introspect`` (what ansible-builder runs inside any execution environment that includes it)
  the same Python requirements.
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import glob
import os
import subprocess

import yaml

from conftest import REPO, _tool, ansible_env

EE_FILE = os.path.join(REPO, "meta", "execution-environment.yml")


def _requirements(path):
    with open(path) as handle:
        return [line.split("#")[0].strip() for line in handle if line.split("#")[0].strip()]


def _run(cmd, cwd):
    proc = subprocess.run(cmd, cwd=cwd, env=ansible_env(), capture_output=True, text=True, timeout=600, check=False)
    assert proc.returncode == 0, "%s failed:\n%s\n%s" % (" ".join(cmd), proc.stdout[-3000:], proc.stderr[-3000:])
    return proc


def test_definition_is_version_3_and_takes_python_requirements_from_ee_txt():
    with open(EE_FILE) as handle:
        definition = yaml.safe_load(handle)
    assert definition["version"] == 3
    assert definition["dependencies"]["python"] == "requirements/ee.txt"
    # The same relative path resolves from the definition's folder (ansible-builder --file) and
    # from the collection root (ansible-builder introspect): the two files must say the same.
    from_meta = os.path.join(REPO, "meta", definition["dependencies"]["python"])
    from_root = os.path.join(REPO, definition["dependencies"]["python"])
    assert not os.path.islink(os.path.join(REPO, "meta", "requirements"))
    assert _requirements(from_meta) == _requirements(from_root) and _requirements(from_root)


def test_ansible_builder_create_accepts_it(tmp_path):
    context = tmp_path / "context"
    _run([_tool("ansible-builder"), "create", "--file", EE_FILE, "--context", str(context),
          "--output-filename", "Containerfile"], str(tmp_path))

    containerfile = (context / "Containerfile").read_text()
    assert 'ARG EE_BASE_IMAGE="quay.io/centos/centos:stream9"' in containerfile
    assert 'ARG ANSIBLE_INSTALL_REFS="ansible-core>=2.16,<2.20 ansible-runner"' in containerfile
    assert 'ARG PYCMD="/usr/bin/python3.11"' in containerfile
    # Collections are installed from the galaxy requirements, Python packages by introspection.
    assert "ansible-galaxy collection install" in containerfile
    assert "introspect.py introspect --user-pip=requirements.txt" in containerfile

    galaxy = yaml.safe_load((context / "_build" / "requirements.yml").read_text())
    assert {"name": "hsmops.luna", "version": ">=0.1.0"} in galaxy["collections"]
    assert _requirements(str(context / "_build" / "requirements.txt")) == _requirements(
        os.path.join(REPO, "requirements", "ee.txt"))
    assert "jmespath" in _requirements(str(context / "_build" / "requirements.txt"))


def test_the_built_collection_declares_its_python_requirements_to_ansible_builder(tmp_path):
    dist = tmp_path / "dist"
    _run([_tool("ansible-galaxy"), "collection", "build", "--output-path", str(dist), REPO], str(tmp_path))
    (artefact,) = glob.glob(str(dist / "hsmops-luna-*.tar.gz"))
    installed = tmp_path / "collections"
    _run([_tool("ansible-galaxy"), "collection", "install", artefact, "--no-deps", "--force",
          "-p", str(installed)], str(tmp_path))

    proc = _run([_tool("ansible-builder"), "introspect", str(installed)], str(tmp_path))
    found = yaml.safe_load(proc.stdout.split("\n", 1)[1])  # first line is a comment header
    assert found["python"] == ["%s  # from collection hsmops.luna" % req
                               for req in _requirements(os.path.join(REPO, "requirements", "ee.txt"))]
