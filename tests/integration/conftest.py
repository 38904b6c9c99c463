# -*- coding: utf-8 -*-
# Copyright (c) hsmops.luna contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Shared integration fixtures: a started emulated fleet and helpers running real Ansible.

- ``emulator``: a fresh emulated fleet (copy of emulator/fleets/demo.yml) per test, on
  127.0.0.1 and free ports, state in tmp_path; stopped after the test. Attributes:
  ``state_dir``, ``inventory`` (path), ``ca_path``, ``urls`` (serial -> base URL),
  ``hosts`` (serial -> inventory host name), ``admin_user``, ``admin_password``,
  ``so_password``, ``fleet`` (the fleet file as a dict), ``conn(serial)`` (module
  connection args), ``mint_cuf(serial)`` -> (path, auth_code),
  ``client(serial)`` (a LunaClient), ``facts(serial)`` (fresh facts, for "nothing changed"),
  ``set_faults(serial, **faults)`` (emulator fault injection).
- ``ansible``: ``ansible.module(name, args, check=False, diff=False)`` -> Result (rc, result
  dict, stdout, stderr) through the ``ansible`` CLI; ``ansible.playbook(text_or_path,
  *extra_args)`` -> Result (rc, stdout, stderr) through ``ansible-playbook``. Both run with
  ANSIBLE_COLLECTIONS_PATH pointing at this tree.
- ``start_emulator(fleet_path, state_dir)``: start one by hand (benchmarks use it too).
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import json
import os
import shutil
import signal
import subprocess
import sys
import time

import pytest
import yaml

REPO = os.path.abspath(os.path.join(os.path.dirname(__file__), "..", ".."))
DEMO_FLEET = os.path.join(REPO, "emulator", "fleets", "demo.yml")
VENV_BIN = os.path.dirname(sys.executable)


def _tool(name):
    """The venv's copy of a command (luna-emulator, ansible-playbook, ...), else PATH's."""
    candidate = os.path.join(VENV_BIN, name)
    return candidate if os.path.exists(candidate) else (shutil.which(name) or name)


def collections_path(tmp_root=None):
    """A directory holding ansible_collections/hsmops/luna -> this tree."""
    built = os.path.join(REPO, ".build", "collections")
    if os.path.isdir(os.path.join(built, "ansible_collections", "hsmops", "luna")):
        return built
    root = tmp_root or os.path.join(REPO, ".build", "collections")
    link = os.path.join(root, "ansible_collections", "hsmops", "luna")
    os.makedirs(os.path.dirname(link), exist_ok=True)
    if not os.path.exists(link):
        os.symlink(REPO, link)
    return root


def ansible_env(extra=None):
    env = dict(os.environ)
    env.update({
        "ANSIBLE_COLLECTIONS_PATH": collections_path(),
        "ANSIBLE_COLLECTIONS_SCAN_SYS_PATH": "false",
        "ANSIBLE_NOCOLOR": "1",
        "ANSIBLE_FORCE_COLOR": "0",
        "ANSIBLE_HOST_KEY_CHECKING": "false",
        "ANSIBLE_RETRY_FILES_ENABLED": "false",
        "ANSIBLE_LOCALHOST_WARNING": "false",
        "ANSIBLE_INVENTORY_UNPARSED_WARNING": "false",
        "ANSIBLE_PYTHON_INTERPRETER": sys.executable,
        "PATH": VENV_BIN + os.pathsep + env.get("PATH", ""),
    })
    for key in ("LUNA_URL", "LUNA_USERNAME", "LUNA_PASSWORD", "LUNA_CA_PATH", "LUNA_SO_PASSWORD"):
        env.pop(key, None)
    env.update(extra or {})
    return env


def _walk_inventory(node, hosts, group_vars=None):
    """Yield (host name, merged vars) from a YAML inventory dict."""
    group_vars = dict(group_vars or {})
    group_vars.update((node or {}).get("vars") or {})
    for name, host_vars in ((node or {}).get("hosts") or {}).items():
        merged = dict(group_vars)
        merged.update(host_vars or {})
        hosts.setdefault(name, {}).update(merged)
    for child in ((node or {}).get("children") or {}).values():
        _walk_inventory(child, hosts, group_vars)


class Emulator(object):
    """A running emulated fleet (see the module docstring)."""

    def __init__(self, fleet_path, state_dir, proc):
        self.fleet_path = fleet_path
        self.state_dir = state_dir
        self.proc = proc
        self.inventory = os.path.join(state_dir, "inventory.yml")
        self.ca_path = os.path.join(state_dir, "ca.pem")
        with open(fleet_path) as handle:
            self.fleet = yaml.safe_load(handle)
        users = (self.fleet.get("appliance") or {}).get("users") or {}
        self.admin_user = "admin"
        self.admin_password = users.get("admin")
        self.so_password = self.fleet.get("so_password")
        with open(self.inventory) as handle:
            inventory = yaml.safe_load(handle)
        hosts = {}
        for top in inventory.values():
            _walk_inventory(top, hosts)
        self.urls = {}
        self.hosts = {}
        self.host_vars = hosts
        for name, host_vars in hosts.items():
            if host_vars.get("luna_serial") is not None and host_vars.get("luna_url"):
                serial = str(host_vars["luna_serial"])
                self.urls[serial] = host_vars["luna_url"].rstrip("/")
                self.hosts[serial] = name
        self._cuf_count = 0

    def conn(self, serial, **extra):
        """Module connection arguments for one HSM."""
        args = {"url": self.urls[str(serial)], "username": self.admin_user, "password": self.admin_password,
                "ca_path": self.ca_path}
        args.update(extra)
        return args

    def mint_cuf(self, serial):
        """A CUF for this HSM signed with the fleet's vendor key -> (path, auth_code)."""
        self._cuf_count += 1
        out = os.path.join(os.path.dirname(self.state_dir.rstrip("/")), "cuf-%d" % self._cuf_count)
        subprocess.run([_tool("luna-emulator"), "mint-cuf", "--state-dir", self.state_dir, "--serial", str(serial),
                        "--out", out], check=True, capture_output=True, text=True)
        with open(os.path.join(out, "%s.authcode" % serial)) as handle:
            auth_code = handle.read().strip()
        return os.path.join(out, "%s.cuf" % serial), auth_code

    def set_faults(self, serial, **faults):
        """PUT /emulator/faults/{serial} with Basic auth (no session, so no request is counted)."""
        from ansible.module_utils.urls import open_url
        body = {"latency_ms": 0, "fail_after": None, "fail_status": 503, "drop_after": None, "crash_during": None}
        body.update(faults)
        open_url(self.urls[str(serial)] + "/emulator/faults/%s" % serial, method="PUT", data=json.dumps(body),
                 headers={"Content-Type": "application/json"}, url_username=self.admin_user,
                 url_password=self.admin_password, force_basic_auth=True, ca_path=self.ca_path).read()

    def client(self, serial, **kwargs):
        from ansible_collections.hsmops.luna.plugins.module_utils.luna_client import LunaClient
        kwargs.setdefault("password", self.admin_password)
        kwargs.setdefault("ca_path", self.ca_path)
        return LunaClient(self.urls[str(serial)], **kwargs)

    def facts(self, serial, gather_objects=True):
        """Fresh facts of one HSM straight from the emulator."""
        from ansible_collections.hsmops.luna.plugins.module_utils.luna_facts import gather_hsm_facts
        with self.client(serial) as client:
            return gather_hsm_facts(client, gather_objects=gather_objects)

    def stop(self):
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(timeout=15)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(timeout=5)


def start_emulator(fleet_path, state_dir, timeout=120, log_path=None):
    """Start ``luna-emulator serve`` and wait for its ready file -> Emulator."""
    os.makedirs(state_dir, exist_ok=True)
    log_path = log_path or os.path.join(state_dir, "emulator.log")
    log = open(log_path, "wb")
    proc = subprocess.Popen([_tool("luna-emulator"), "serve", "--fleet", fleet_path, "--state-dir", state_dir],
                            stdout=log, stderr=subprocess.STDOUT, env=ansible_env())
    ready = os.path.join(state_dir, "ready")
    deadline = time.monotonic() + timeout
    while not os.path.exists(ready):
        if proc.poll() is not None:
            log.close()
            with open(log_path, "rb") as handle:
                raise RuntimeError("luna-emulator exited with %s:\n%s" % (proc.returncode, handle.read().decode()[-4000:]))
        if time.monotonic() > deadline:
            proc.kill()
            raise RuntimeError("luna-emulator did not become ready within %ss" % timeout)
        time.sleep(0.1)
    return Emulator(fleet_path, state_dir, proc)


@pytest.fixture
def emulator(tmp_path):
    """A fresh demo fleet for one test."""
    fleet = tmp_path / "demo.yml"
    shutil.copy(DEMO_FLEET, str(fleet))
    emu = start_emulator(str(fleet), str(tmp_path / "state"))
    try:
        yield emu
    finally:
        emu.stop()


class Result(object):
    def __init__(self, rc, stdout, stderr, result=None):
        self.rc = rc
        self.stdout = stdout
        self.stderr = stderr
        self.result = result

    @property
    def output(self):
        return self.stdout + self.stderr

    def __repr__(self):
        return "Result(rc=%s, result=%r, stderr=%r)" % (self.rc, self.result, self.stderr[-2000:])


class AnsibleRunner(object):
    """Runs the real ansible / ansible-playbook commands against this tree."""

    def __init__(self, workdir):
        self.workdir = workdir
        self.count = 0

    def module(self, name, args, check=False, diff=False, verbosity=0, env=None):
        """``ansible localhost -m hsmops.luna.<name> -a <json>`` -> Result with the module result dict."""
        cmd = [_tool("ansible"), "localhost", "-i", "localhost,", "-c", "local", "-m", "hsmops.luna." + name,
               "-a", json.dumps(args)]
        if check:
            cmd.append("--check")
        if diff:
            cmd.append("--diff")
        if verbosity:
            cmd.append("-" + "v" * verbosity)
        proc = subprocess.run(cmd, capture_output=True, text=True, env=ansible_env(env), cwd=self.workdir,
                              timeout=600, check=False)
        return Result(proc.returncode, proc.stdout, proc.stderr, _parse_adhoc(proc.stdout))

    def write(self, name, text):
        """Write a file in the work directory -> its path."""
        path = os.path.join(self.workdir, name)
        with open(path, "w") as handle:
            handle.write(text)
        return path

    def playbook(self, playbook, *extra_args, **kwargs):
        """``ansible-playbook`` on a path or on YAML text -> Result (rc, stdout, stderr)."""
        path = playbook
        if "\n" in playbook or not os.path.exists(playbook):
            self.count += 1
            path = os.path.join(self.workdir, "play-%d.yml" % self.count)
            with open(path, "w") as handle:
                handle.write(playbook if isinstance(playbook, str) else yaml.safe_dump(playbook))
        cmd = [_tool("ansible-playbook"), path] + list(extra_args)
        if "-i" not in extra_args:
            cmd += ["-i", "localhost,", "-c", "local"]
        proc = subprocess.run(cmd, capture_output=True, text=True, env=ansible_env(kwargs.get("env")),
                              cwd=self.workdir, timeout=kwargs.get("timeout", 900), check=False)
        return Result(proc.returncode, proc.stdout, proc.stderr)


def _parse_adhoc(stdout):
    """The JSON after 'localhost | STATUS => ' (the default ad-hoc callback)."""
    marker = stdout.find("=> {")
    if marker < 0:
        return None
    text = stdout[marker + 3:]
    decoder = json.JSONDecoder()
    try:
        value = decoder.raw_decode(text)[0]
    except ValueError:
        return None
    return value


@pytest.fixture
def ansible(tmp_path):
    work = tmp_path / "ansible"
    work.mkdir(exist_ok=True)
    return AnsibleRunner(str(work))
