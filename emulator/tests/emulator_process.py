# Copyright (c) hsmops.luna contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Start and stop a real `luna-emulator serve` for the tests, and talk to it over HTTPS."""

import os
import shutil
import signal
import ssl
import subprocess
import sys
import time

import httpx
import yaml

HERE = os.path.dirname(os.path.abspath(__file__))
TEST_FLEET = os.path.join(HERE, "fleet.yml")
ERROR_KEYS = {"id", "message", "details", "returnCode", "status", "type"}


def emulator_command():
    exe = shutil.which("luna-emulator", path=os.path.dirname(sys.executable) + os.pathsep + os.environ.get("PATH", ""))
    return [exe] if exe else [sys.executable, "-m", "luna_emulator.cli"]


class Emulator:
    """One running emulator: its process, state dir, inventory, and HTTPS clients."""

    def __init__(self, state_dir, fleet=TEST_FLEET):
        self.state_dir = str(state_dir)
        self.fleet = fleet
        self.proc = None
        self.log_path = os.path.join(self.state_dir + ".log")
        self.hosts = {}
        self._clients = []

    def start(self, timeout=60):
        os.makedirs(self.state_dir, exist_ok=True)
        for name in ("ready",):
            if os.path.exists(os.path.join(self.state_dir, name)):
                os.unlink(os.path.join(self.state_dir, name))
        log = open(self.log_path, "ab")
        self.proc = subprocess.Popen(
            emulator_command() + ["serve", "--fleet", self.fleet, "--state-dir", self.state_dir, "--base-port", "0"],
            stdout=log, stderr=subprocess.STDOUT)
        log.close()
        deadline = time.monotonic() + timeout
        ready = os.path.join(self.state_dir, "ready")
        while not os.path.exists(ready):
            if self.proc.poll() is not None:
                raise RuntimeError("luna-emulator exited with %s:\n%s" % (self.proc.returncode, self.log()))
            if time.monotonic() > deadline:
                self.proc.kill()
                raise RuntimeError("luna-emulator not ready within %ss:\n%s" % (timeout, self.log()))
            time.sleep(0.05)
        with open(os.path.join(self.state_dir, "inventory.yml"), encoding="utf-8") as handle:
            inventory = yaml.safe_load(handle)
        self.inventory = inventory
        self.hosts = {}
        for label, hostvars in inventory["all"]["children"]["luna_appliances"]["hosts"].items():
            self.hosts[hostvars["luna_serial"]] = dict(hostvars, label=label)
        self.ssl = ssl.create_default_context(cafile=os.path.join(self.state_dir, "ca.pem"))
        return self

    def log(self):
        with open(self.log_path, "r", encoding="utf-8", errors="replace") as handle:
            return handle.read()

    def url(self, serial):
        return self.hosts[serial]["luna_url"]

    def client(self, serial, user="admin", password=None, auth=True):
        if password is None:
            password = {"admin": "test-admin-pw", "operator": "test-operator-pw", "monitor": "test-monitor-pw",
                        "audit": "test-audit-pw"}.get(user, "")
        client = httpx.Client(base_url=self.url(serial), verify=self.ssl, timeout=20,
                              auth=(user, password) if auth else None)
        self._clients.append(client)
        return client

    def so_client(self, serial, user="admin"):
        client = self.client(serial, user)
        resp = client.post("/api/lunasa/hsms/%s/login" % serial, json={"ped": "0", "password": "test-so-pw", "role": "so"})
        assert resp.status_code == 204, resp.text
        return client

    def stop(self, timeout=20):
        for client in self._clients:
            client.close()
        self._clients = []
        if self.proc is None or self.proc.poll() is not None:
            return self.proc.returncode if self.proc else None
        self.proc.send_signal(signal.SIGTERM)
        try:
            return self.proc.wait(timeout)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            return self.proc.wait()

    def kill9(self):
        for client in self._clients:
            client.close()
        self._clients = []
        self.proc.send_signal(signal.SIGKILL)
        return self.proc.wait()


def assert_error(resp, status, error_id, details=None, return_code=None):
    """The contract's error body with exactly its six keys."""
    assert resp.status_code == status, (resp.status_code, resp.text)
    assert resp.headers["content-type"].startswith("application/vnd.safenetinc.lunasa+json")
    body = resp.json()
    assert set(body) == ERROR_KEYS, body
    assert body["status"] == "ERROR"
    assert body["id"] == error_id, body
    assert isinstance(body["message"], str) and body["message"]
    if details is not None:
        assert body["details"] == details, body
    if return_code is not None:
        assert body["returnCode"] == return_code, body
    return body


def wait_task(client, location, timeout=15):
    """Poll /tasks/{n} until 303 -> the task body."""
    deadline = time.monotonic() + timeout
    while True:
        resp = client.get(location)
        if resp.status_code == 303:
            return resp
        assert resp.status_code == 200, resp.text
        assert resp.json()["state"] in ("Waiting", "Running")
        if time.monotonic() > deadline:
            raise AssertionError("task %s still running after %ss" % (location, timeout))
        time.sleep(0.05)
