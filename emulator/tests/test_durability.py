# Copyright (c) hsmops.luna contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Crash safety: acknowledged changes survive kill -9; a crash mid-change leaves before or after.

Each test runs its own emulator (a small fleet in a tmp dir), kills it, starts it again on
the same state dir and looks.
"""

import os
import sqlite3
import subprocess
import threading
import time

import httpx
import pytest

from emulator_process import Emulator, emulator_command, wait_task

FLEET = """
fleet: {name: durability}
appliance:
  users: {admin: d-admin-pw}
  capability_update_seconds: %(cuf)s
  policy_task_seconds: 0.5
so_password: d-so-pw
hsms:
  - {serial: "300001", label: d1, firmware: "6.22.0", auth: ped, cloning: true, sff_capability: false,
     sff_policy: false, cloning_domain: dom, sim_secret: sim,
     partitions: [{label: keep, objects: [{label: k, class: secret_key, fingerprint: d-k}]}]}
  - {serial: "300002", label: d2, firmware: "6.22.0", auth: ped, cloning: true, sff_capability: false,
     sff_policy: false, cloning_domain: dom, sim_secret: sim, partitions: [{label: keep}]}
"""


class DurableEmulator(Emulator):
    def client(self, serial, user="admin", password="d-admin-pw", auth=True):
        return super().client(serial, user, password, auth)

    def so_client(self, serial, user="admin"):
        client = self.client(serial)
        assert client.post("/api/lunasa/hsms/%s/login" % serial, json={"password": "d-so-pw"}).status_code == 204
        return client


@pytest.fixture
def make_emu(tmp_path):
    started = []

    def make(cuf_seconds=0.2):
        fleet = tmp_path / "fleet.yml"
        fleet.write_text(FLEET % {"cuf": cuf_seconds})
        emu = DurableEmulator(tmp_path / "state", str(fleet)).start()
        started.append(emu)
        return emu
    yield make
    for emu in started:
        emu.stop()


def restart(emu):
    emu.stop() if emu.proc.poll() is None else None
    return emu.start()


def state(emu, serial):
    client = emu.client(serial)
    parts = client.get("/api/lunasa/hsms/%s/partitions" % serial).json()["partitions"]
    labels = sorted(client.get(p["url"]).json()["name"] for p in parts)
    caps = {c["code"]: c["value"] for c in client.get("/api/lunasa/hsms/%s/capabilities" % serial).json()["capabilities"]}
    pols = {p["code"]: p["value"] for p in client.get("/api/lunasa/hsms/%s/policies" % serial).json()["policies"]}
    return {"partitions": labels, "cuf": caps[38], "policies": pols}


def integrity(emu):
    conn = sqlite3.connect(os.path.join(emu.state_dir, "state.db"))
    try:
        return conn.execute("PRAGMA integrity_check").fetchone()[0]
    finally:
        conn.close()


def test_acknowledged_changes_survive_kill_9(make_emu):
    emu = make_emu()
    client = emu.so_client("300001")
    for i in range(5):
        assert client.post("/api/lunasa/hsms/300001/partitions", json={"name": "p%d" % i}).status_code == 201
    assert client.put("/api/lunasa/hsms/300001/policies/16", json={"value": 0}).status_code == 204
    pid = client.post("/api/lunasa/hsms/300001/partitions", json={"name": "objs"}).json()["id"]
    assert client.post("/api/lunasa/hsms/300001/partitions/%s/objects" % pid, json={"label": "o"}).status_code == 201
    emu.kill9()
    emu.start()
    after = state(emu, "300001")
    assert after["partitions"] == sorted(["keep", "objs"] + ["p%d" % i for i in range(5)])
    assert after["policies"][16] == 0
    assert emu.client("300001").get("/api/lunasa/hsms/300001/partitions/%s" % pid).json()["objectCount"] == 1
    assert integrity(emu) == "ok"


def test_kill_9_during_a_stream_of_writes_loses_nothing_acknowledged(make_emu):
    emu = make_emu()
    acked = []
    stop = threading.Event()

    def writer(serial, url, ca):
        with httpx.Client(base_url=url, verify=ca, auth=("admin", "d-admin-pw"), timeout=5) as client:
            client.post("/api/lunasa/hsms/%s/login" % serial, json={"password": "d-so-pw"})
            i = 0
            while not stop.is_set():
                try:
                    resp = client.post("/api/lunasa/hsms/%s/partitions" % serial, json={"name": "w%d" % i})
                except httpx.HTTPError:
                    return
                if resp.status_code == 201:
                    acked.append((serial, "w%d" % i))
                i += 1

    for delay in (0.3, 0.7):
        threads = [threading.Thread(target=writer, args=(s, emu.url(s), emu.ssl)) for s in ("300001", "300002")]
        for thread in threads:
            thread.start()
        time.sleep(delay)
        emu.kill9()
        stop.set()
        for thread in threads:
            thread.join(10)
        stop.clear()
        emu.start()
        assert integrity(emu) == "ok"
        for serial in ("300001", "300002"):
            labels = set(state(emu, serial)["partitions"])
            missing = [label for s, label in acked if s == serial and label not in labels]
            assert missing == [], "acknowledged but lost on HSM %s: %s" % (serial, missing)
        # the next round starts where the labels are still free
        for serial in ("300001", "300002"):
            client = emu.so_client(serial)
            for p in client.get("/api/lunasa/hsms/%s/partitions" % serial).json()["partitions"]:
                if client.get(p["url"]).json()["name"].startswith("w"):
                    client.delete(p["url"])
        acked.clear()
    assert len(acked) == 0


def mint(emu, tmp_path, serial):
    out = tmp_path / "cufs"
    run = subprocess.run(emulator_command() + ["mint-cuf", "--state-dir", emu.state_dir, "--serial", serial,
                                               "--out", str(out)], capture_output=True, text=True, timeout=60)
    assert run.returncode == 0, run.stderr
    return (out / ("%s.cuf" % serial)).read_bytes(), (out / ("%s.authcode" % serial)).read_text().strip()


def start_cuf(client, serial, data, code):
    resp = client.post("/api/lunasa/packageFiles", content=data,
                       headers={"Content-Type": "application/octet-stream", "X-Luna-File-Name": "c.cuf"})
    assert resp.status_code == 201
    resp = client.post("/api/lunasa/hsms/%s/capabilityUpdates" % serial, json={"file": "c.cuf", "authCode": code})
    assert resp.status_code == 202, resp.text
    return resp.headers["location"]


def test_crash_during_capability_update_leaves_the_hsm_as_before(make_emu, tmp_path):
    emu = make_emu()
    data, code = mint(emu, tmp_path, "300001")
    before = state(emu, "300001")
    client = emu.so_client("300001")
    assert client.put("/emulator/faults/300001", json={"crash_during": "capability_update"}).status_code == 200
    location = start_cuf(client, "300001", data, code)
    assert emu.proc.wait(15) == 86  # exited in the middle of the update, before its commit
    emu.start()
    assert integrity(emu) == "ok"
    assert state(emu, "300001") == before  # nothing erased, no capability
    task = emu.client("300001").get(location)
    assert task.status_code == 303
    assert task.json()["error"]["id"] == "FRAMEWORK_SERVICE_UNAVAILABLE"
    # faults set at run time are gone after the restart: the update can be applied again
    client = emu.so_client("300001")
    wait_task(client, start_cuf(client, "300001", data, code))
    after = state(emu, "300001")
    assert after["cuf"] == 1 and after["partitions"] == []


def test_kill_9_during_a_long_capability_update_then_after_it(make_emu, tmp_path):
    emu = make_emu(cuf_seconds=2.0)
    data, code = mint(emu, tmp_path, "300001")
    before = state(emu, "300001")
    client = emu.so_client("300001")
    location = start_cuf(client, "300001", data, code)
    time.sleep(0.8)
    assert client.get(location).json()["state"] == "Running"
    emu.kill9()
    emu.start()
    assert state(emu, "300001") == before
    assert emu.client("300001").get(location).json()["error"] is not None
    # a finished update survives kill -9 entirely: capability on and partitions gone, together
    client = emu.so_client("300001")
    wait_task(client, start_cuf(client, "300001", data, code), timeout=20)
    emu.kill9()
    emu.start()
    after = state(emu, "300001")
    assert after["cuf"] == 1 and after["partitions"] == [] and after["policies"][38] == 0


def test_crash_during_policy_change(make_emu):
    emu = make_emu()
    before = state(emu, "300002")
    client = emu.so_client("300002")
    assert client.put("/emulator/faults/300002", json={"crash_during": "policy_change"}).status_code == 200
    with pytest.raises(httpx.HTTPError):
        client.put("/api/lunasa/hsms/300002/policies/16", json={"value": 0})
    assert emu.proc.wait(15) == 86
    emu.start()
    assert state(emu, "300002") == before
    # a destructive change crashed mid-way: neither the erase nor the new value happened
    client = emu.so_client("300002")
    assert client.put("/emulator/faults/300002", json={"crash_during": "policy_change"}).status_code == 200
    resp = client.put("/api/lunasa/hsms/300002/policies/12", json={"value": 1, "confirm": "proceed"})
    assert resp.status_code == 202
    assert emu.proc.wait(15) == 86
    emu.start()
    assert state(emu, "300002") == before
    assert integrity(emu) == "ok"


def test_restart_ignores_the_fleet_file_and_keeps_the_certificates(make_emu):
    emu = make_emu()
    with open(os.path.join(emu.state_dir, "ca.pem"), "rb") as handle:
        ca = handle.read()
    client = emu.so_client("300002")
    pid = next(p["url"] for p in client.get("/api/lunasa/hsms/300002/partitions").json()["partitions"])
    assert client.delete(pid).status_code == 204
    emu.stop()
    emu.start()
    assert state(emu, "300002")["partitions"] == []  # the fleet file's partition is not recreated
    with open(os.path.join(emu.state_dir, "ca.pem"), "rb") as handle:
        assert handle.read() == ca
    run = subprocess.run(emulator_command() + ["stop", "--state-dir", emu.state_dir], capture_output=True, text=True,
                         timeout=60)
    assert run.returncode == 0
    assert emu.proc.wait(10) == 0
    assert not os.path.exists(os.path.join(emu.state_dir, "pid"))
    assert not os.path.exists(os.path.join(emu.state_dir, "ready"))


def test_a_bad_fleet_file_names_the_field_and_the_hsm(tmp_path):
    fleet = tmp_path / "bad.yml"
    fleet.write_text(FLEET.replace('firmware: "6.22.0", auth: ped, cloning: true, sff_capability: false,\n'
                                   '     sff_policy: false, cloning_domain: dom, sim_secret: sim, partitions: [{label: keep}]',
                                   'firmware: "6.2.2-5", auth: ped, cloning: true, sff_capability: false,\n'
                                   '     sff_policy: false, cloning_domain: dom, sim_secret: sim') % {"cuf": 1})
    run = subprocess.run(emulator_command() + ["serve", "--fleet", str(fleet), "--state-dir", str(tmp_path / "s")],
                         capture_output=True, text=True, timeout=60)
    assert run.returncode == 2
    assert "300002" in run.stderr and "firmware" in run.stderr and "Traceback" not in run.stderr
