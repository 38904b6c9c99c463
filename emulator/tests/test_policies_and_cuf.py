# Copyright (c) hsmops.luna contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""HSM policies (PUT, PATCH, destructive tasks) and the capability update (CUF)."""

import json
import os
import stat
import subprocess
import time

import pytest
from cryptography.hazmat.primitives.asymmetric import ed25519

from emulator_process import assert_error, emulator_command, wait_task

from luna_emulator import pki

OCTET = {"Content-Type": "application/vnd.safenetinc.lunasa+octet-stream;version=1"}


def policy(client, serial, code):
    return client.get("/api/lunasa/hsms/%s/policies/%d" % (serial, code)).json()["value"]


def test_non_destructive_policy_put(emu):
    client = emu.so_client("200013")
    assert client.put("/api/lunasa/hsms/200013/policies/16", json={"value": 0}).status_code == 204
    assert policy(client, "200013", 16) == 0
    assert client.put("/api/lunasa/hsms/200013/policies/16", json={"value": 1}).status_code == 204
    assert policy(client, "200013", 16) == 1


def test_policy_refusals(emu):
    client = emu.so_client("200013")
    # 38 on without the CUF: the rules engine's reason
    assert_error(client.put("/api/lunasa/hsms/200013/policies/38", json={"value": 1}), 422,
                 "HSMPLUGIN_OPERATION_NOT_ALLOWED", "CUF_NOT_APPLIED")
    # fixed at manufacture
    assert_error(client.put("/api/lunasa/hsms/200013/policies/1", json={"value": 0}), 422,
                 "HSMPLUGIN_OPERATION_NOT_ALLOWED", "POLICY_FIXED")
    # a policy above its capability (remote_ped capability off in the fleet file)
    assert_error(client.put("/api/lunasa/hsms/200013/policies/25", json={"value": 1}), 422,
                 "HSMPLUGIN_OPERATION_NOT_ALLOWED", "CAPABILITY_NOT_PRESENT")
    assert policy(client, "200013", 38) == 0 and policy(client, "200013", 25) == 0


def test_policy_38_on_old_firmware_names_the_firmware(emu):
    client = emu.so_client("200003")
    body = assert_error(client.put("/api/lunasa/hsms/200003/policies/38", json={"value": 1}), 422,
                        "HSMPLUGIN_OPERATION_NOT_ALLOWED", "CUF_NOT_APPLIED")
    assert "6.21.0" in body["message"]


def test_patch_is_all_or_nothing(emu):
    client = emu.so_client("200013")
    resp = client.patch("/api/lunasa/hsms/200013/policies",
                        json={"policies": [{"code": 16, "value": 0}, {"code": 38, "value": 1}]})
    assert_error(resp, 422, "HSMPLUGIN_OPERATION_NOT_ALLOWED", "CUF_NOT_APPLIED")
    assert policy(client, "200013", 16) == 1  # not half applied
    resp = client.patch("/api/lunasa/hsms/200013/policies",
                        json={"policies": [{"code": 16, "value": 0}, {"code": 12, "value": 1}]})
    assert_error(resp, 400, "FRAMEWORK_BAD_REQUEST")  # 12 is destructive: PUT with confirm only
    assert policy(client, "200013", 16) == 1
    resp = client.patch("/api/lunasa/hsms/200013/policies", json={"policies": [{"code": 16, "value": 0}]})
    assert resp.status_code == 204 and policy(client, "200013", 16) == 0
    client.patch("/api/lunasa/hsms/200013/policies", json={"policies": [{"code": 16, "value": 1}]})


def test_destructive_policy_needs_confirm_then_wipes_in_a_task(emu):
    client = emu.so_client("200013")
    assert client.get("/api/lunasa/hsms/200013/partitions").json()["partitions"]
    assert_error(client.put("/api/lunasa/hsms/200013/policies/12", json={"value": 1}), 400,
                 "FRAMEWORK_BAD_REQUEST", "confirm")
    assert policy(client, "200013", 12) == 0
    resp = client.put("/api/lunasa/hsms/200013/policies/12", json={"value": 1, "confirm": "proceed"})
    assert resp.status_code == 202
    location = resp.headers["location"]
    assert location.startswith("/tasks/")
    done = wait_task(client, location)
    assert done.headers["location"] == "/api/lunasa/hsms/200013/policies/12"
    body = done.json()
    assert body["state"] == "Finished" and body["error"] is None and body["finishTime"]
    assert body["result"]["partitionsErased"] == 1
    assert policy(client, "200013", 12) == 1
    assert client.get("/api/lunasa/hsms/200013/partitions").json() == {"partitions": []}
    # setting it to the value it has erases nothing and starts no task
    assert client.put("/api/lunasa/hsms/200013/policies/12", json={"value": 1, "confirm": "proceed"}).status_code == 204


def test_finished_task_is_gone_after_retention(emu):
    client = emu.so_client("200013")
    resp = client.put("/api/lunasa/hsms/200013/policies/6", json={"value": 0, "confirm": "proceed"})
    assert resp.status_code == 202
    location = resp.headers["location"]
    wait_task(client, location)
    time.sleep(4.5)  # task_retention: 4 in the test fleet
    assert_error(client.get(location), 410, "FRAMEWORK_RESOURCE_GONE")
    assert_error(client.get("/tasks/999999"), 404, "FRAMEWORK_RESOURCE_NOT_FOUND")
    # a task belongs to its appliance
    assert_error(emu.client("200001").get(location), 404, "FRAMEWORK_RESOURCE_NOT_FOUND")


# --------------------------------------------------------------------------- CUF


@pytest.fixture(scope="module")
def cufs(emu, tmp_path_factory):
    out = tmp_path_factory.mktemp("cufs")
    run = subprocess.run(emulator_command() + ["mint-cuf", "--state-dir", emu.state_dir, "--all", "--out", str(out)],
                         capture_output=True, text=True, timeout=60)
    assert run.returncode == 0, run.stderr
    return out


def read(path):
    with open(path, "rb") as handle:
        return handle.read()


def auth_code(cufs, serial):
    return read(os.path.join(cufs, "%s.authcode" % serial)).decode().strip()


def upload(client, name, data):
    resp = client.post("/api/lunasa/packageFiles", content=data, headers=dict(OCTET, **{"X-Luna-File-Name": name}))
    assert resp.status_code == 201, resp.text
    assert resp.json() == {"id": name, "size": len(data)}


def apply(client, serial, name, code):
    return client.post("/api/lunasa/hsms/%s/capabilityUpdates" % serial, json={"file": name, "authCode": code})


def test_mint_cuf_writes_signed_file_and_private_auth_code(emu, cufs):
    doc = json.loads(read(os.path.join(cufs, "200001.cuf")))
    assert doc["payload"]["serial"] == "200001" and doc["payload"]["code"] == 38
    assert doc["payload"]["capability"] == "sff_backup"
    assert stat.S_IMODE(os.stat(os.path.join(cufs, "200001.authcode")).st_mode) == 0o600
    code = auth_code(cufs, "200001")
    assert code not in read(os.path.join(cufs, "200001.cuf")).decode()  # only its hash is in the file
    run = subprocess.run(emulator_command() + ["mint-cuf", "--state-dir", emu.state_dir, "--serial", "999",
                                               "--out", str(cufs)], capture_output=True, text=True, timeout=60)
    assert run.returncode == 2 and "999" in run.stderr


@pytest.mark.parametrize("serial, reason", [("200003", "FIRMWARE_TOO_OLD"), ("200004", "NOT_PED_AUTHENTICATED"),
                                            ("200005", "NOT_CLONING_HSM")])
def test_cuf_refused_unless_capable(emu, cufs, serial, reason):
    client = emu.so_client(serial)
    upload(client, "%s.cuf" % serial, read(os.path.join(cufs, "%s.cuf" % serial)))
    body = assert_error(apply(client, serial, "%s.cuf" % serial, auth_code(cufs, serial)), 422,
                        "HSMPLUGIN_OPERATION_NOT_ALLOWED", reason)
    assert serial in body["message"]


def test_cuf_rejections_then_apply_wipes_and_keeps_identity(emu, cufs):
    serial = "200001"
    client = emu.so_client(serial)
    good = read(os.path.join(cufs, "200001.cuf"))
    code = auth_code(cufs, serial)
    # tampered: the payload no longer matches the signature
    doc = json.loads(good)
    doc["payload"]["issued"] = "2001-01-01T00:00:00+00:00"
    upload(client, "tampered.cuf", json.dumps(doc).encode())
    assert_error(apply(client, serial, "tampered.cuf", code), 422, "HSMPLUGIN_OPERATION_NOT_ALLOWED",
                 "CUF_BAD_SIGNATURE")
    # signed by another fleet's vendor key
    upload(client, "foreign.cuf", pki.mint_cuf(ed25519.Ed25519PrivateKey.generate(), serial, code))
    assert_error(apply(client, serial, "foreign.cuf", code), 422, "HSMPLUGIN_OPERATION_NOT_ALLOWED",
                 "CUF_BAD_SIGNATURE")
    # not a CUF at all
    upload(client, "junk.bin", b"\x00\x01not json")
    assert_error(apply(client, serial, "junk.bin", code), 422, "HSMPLUGIN_OPERATION_NOT_ALLOWED", "CUF_BAD_SIGNATURE")
    # made for another serial (a genuine file of this fleet)
    upload(client, "other.cuf", read(os.path.join(cufs, "200002.cuf")))
    assert_error(apply(client, serial, "other.cuf", auth_code(cufs, "200002")), 422,
                 "HSMPLUGIN_OPERATION_NOT_ALLOWED", "CUF_WRONG_SERIAL")
    # wrong auth code, and the body never echoes what was sent
    upload(client, "good.cuf", good)
    body = assert_error(apply(client, serial, "good.cuf", "WRONG-CODE-0000"), 422, "HSMPLUGIN_OPERATION_NOT_ALLOWED",
                        "CUF_BAD_AUTH_CODE")
    assert "WRONG-CODE-0000" not in json.dumps(body)
    assert_error(apply(client, serial, "missing.cuf", code), 404, "FRAMEWORK_RESOURCE_NOT_FOUND", "file")
    listed = client.get("/api/lunasa/packageFiles").json()["packageFiles"]
    assert {"id": "good.cuf", "size": len(good)} in listed
    # nothing was changed by the refusals
    caps = {c["code"]: c["value"] for c in client.get("/api/lunasa/hsms/200001/capabilities").json()["capabilities"]}
    assert caps[38] == 0
    assert len(client.get("/api/lunasa/hsms/200001/partitions").json()["partitions"]) == 1

    resp = apply(client, serial, "good.cuf", code)
    assert resp.status_code == 202
    # while it runs, the HSM refuses other changes
    assert_error(client.post("/api/lunasa/hsms/200001/partitions", json={"name": "during"}), 422,
                 "HSMPLUGIN_OPERATION_NOT_ALLOWED", "OPERATION_IN_PROGRESS")
    done = wait_task(client, resp.headers["location"])
    assert done.json()["error"] is None
    assert done.headers["location"] == "/api/lunasa/hsms/200001/capabilities"
    caps = {c["code"]: c["value"] for c in client.get("/api/lunasa/hsms/200001/capabilities").json()["capabilities"]}
    assert caps[38] == 1
    assert policy(client, serial, 38) == 0  # the CUF does not switch the policy on
    assert client.get("/api/lunasa/hsms/200001/partitions").json() == {"partitions": []}
    hsm = client.get("/api/lunasa/hsms/200001").json()
    assert hsm["cloningDomain"] == "dom_a" and hsm["simSecret"] == "sim_a"  # domain and SIM secret stay
    # the SO stays: still logged in, and the same password works
    assert emu.so_client(serial)
    assert_error(apply(client, serial, "good.cuf", code), 422, "HSMPLUGIN_OPERATION_NOT_ALLOWED", "CUF_ALREADY_APPLIED")
    # now policy 38 may be switched on, and off again
    assert client.put("/api/lunasa/hsms/200001/policies/38", json={"value": 1}).status_code == 204
    assert policy(client, serial, 38) == 1
    assert client.put("/api/lunasa/hsms/200001/policies/38", json={"value": 0}).status_code == 204


def test_upload_limits(emu):
    client = emu.client("200002")
    assert_error(client.post("/api/lunasa/packageFiles", content=b"x" * (1024 * 1024 + 1),
                             headers=dict(OCTET, **{"X-Luna-File-Name": "big.cuf"})), 413, "FRAMEWORK_PAYLOAD_TOO_LARGE")

    def chunks():
        for _ in range(17):
            yield b"y" * 65536
    assert_error(client.post("/api/lunasa/packageFiles", content=chunks(),
                             headers=dict(OCTET, **{"X-Luna-File-Name": "chunked.cuf"})), 413,
                 "FRAMEWORK_PAYLOAD_TOO_LARGE")
    assert_error(client.post("/api/lunasa/packageFiles", content=b"{}",
                             headers={"Content-Type": "application/json", "X-Luna-File-Name": "a.cuf"}), 415,
                 "FRAMEWORK_UNSUPPORTED_MEDIA_TYPE")
    assert_error(client.post("/api/lunasa/packageFiles", content=b"abc", headers=OCTET), 400, "FRAMEWORK_BAD_REQUEST",
                 "X-Luna-File-Name")
    assert_error(client.post("/api/lunasa/packageFiles", content=b"abc",
                             headers=dict(OCTET, **{"X-Luna-File-Name": "../etc/passwd"})), 400,
                 "FRAMEWORK_BAD_REQUEST")
    names = [f["id"] for f in client.get("/api/lunasa/packageFiles").json()["packageFiles"]]
    assert "big.cuf" not in names and "chunked.cuf" not in names
