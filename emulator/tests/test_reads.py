# Copyright (c) hsmops.luna contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Reading appliances: inventory, Chrystoki.conf, HSM, firmware, capabilities, policies, status."""

import os
import re
import stat
import subprocess

import httpx
import pytest

from emulator_process import assert_error, emulator_command

MEDIA = "application/vnd.safenetinc.lunasa+json"


def test_inventory_lists_every_hsm_with_connection_vars(emu):
    children = emu.inventory["all"]["children"]
    hosts = children["luna_appliances"]["hosts"]
    assert len(hosts) == 19
    east = hosts["cuf_a"]
    assert east["luna_serial"] == "200001"
    assert re.match(r"^https://127\.0\.0\.1:\d+$", east["luna_url"])
    assert east["luna_ca_path"] == os.path.join(emu.state_dir, "ca.pem")
    assert east["ansible_connection"] == "local"
    assert east["luna_username"] == "admin" and east["luna_password"] == "test-admin-pw"
    assert east["luna_so_password"] == "test-so-pw"
    assert set(children["ha_plain"]["hosts"]) == {"plain_1", "plain_2"}
    assert set(children["ha_sff"]["hosts"]) == {"sff_1", "sff_2"}
    assert len({h["luna_url"] for h in hosts.values()}) == 19
    # the inventory holds the fleet's passwords: private to its owner
    assert stat.S_IMODE(os.stat(os.path.join(emu.state_dir, "inventory.yml")).st_mode) == 0o600
    assert stat.S_IMODE(os.stat(os.path.join(emu.state_dir, "server.key")).st_mode) == 0o600
    assert stat.S_IMODE(os.stat(os.path.join(emu.state_dir, "vendor.key")).st_mode) == 0o600


def test_chrystoki_conf_describes_ha_groups_as_virtual_tokens(emu):
    with open(os.path.join(emu.state_dir, "Chrystoki.conf"), encoding="utf-8") as handle:
        text = handle.read()
    entries = dict(re.findall(r"^\s+(\w+) = (.*);$", text, re.M))
    labels = {entries[k]: k[: -len("Label")] for k in entries if re.match(r"VirtualToken\d\dLabel$", k)}
    assert set(labels) == {"ha_plain", "ha_sff"}
    plain = labels["ha_plain"]
    members = entries[plain + "Members"].split(",")
    assert len(members) == 2
    assert entries[plain + "SN"] == "1" + members[0]
    # the members are the partitions (same label) of the group's HSMs
    for serial, pid in zip(("200009", "200010"), members):
        client = emu.client(serial)
        assert pid in [p["id"] for p in client.get("/api/lunasa/hsms/%s/partitions" % serial).json()["partitions"]]
    assert "HAConfiguration = {" in text and "HASynchronize = {" in text
    ports = {int(v) for k, v in entries.items() if k.startswith("ServerPort")}
    assert ports == {int(h["luna_url"].rsplit(":", 1)[1]) for h in emu.hosts.values()}


def test_hsm_list_and_details(emu):
    client = emu.client("200001")
    resp = client.get("/api/lunasa/hsms")
    assert resp.status_code == 200
    assert resp.headers["content-type"].startswith(MEDIA)
    assert resp.json() == {"hsms": [{"id": "200001", "url": "/api/lunasa/hsms/200001"}]}
    body = client.get("/api/lunasa/hsms/200001").json()
    assert body["serialNumber"] == "200001" and body["label"] == "cuf_a"
    assert body["firmwareVersion"] == "6.22.0" and body["authenticationMethod"] == "ped"
    assert body["cloningDomain"] == "dom_a" and body["simSecret"] == "sim_a"
    assert body["policies"] == "/api/lunasa/hsms/200001/policies"
    assert client.get("/api/lunasa/hsms/200001/firmware").json() == {"version": "6.22.0"}


def test_each_port_is_its_own_appliance(emu):
    # the same path on another appliance's port: that appliance holds another HSM
    assert_error(emu.client("200002").get("/api/lunasa/hsms/200001"), 404, "HSMPLUGIN_INVALID_HSM")
    assert emu.client("200002").get("/api/lunasa/hsms").json()["hsms"][0]["id"] == "200002"


def test_capabilities_follow_the_facts(emu):
    def caps(serial):
        items = emu.client(serial).get("/api/lunasa/hsms/%s/capabilities" % serial).json()["capabilities"]
        assert [c["code"] for c in items] == [0, 1, 6, 7, 12, 16, 22, 25, 38]
        for item in items:
            assert item["id"] == str(item["code"]) and item["name"] and item["description"]
        return {c["code"]: c["value"] for c in items}
    assert caps("200002")[38] == 0 and caps("200002")[7] == 1 and caps("200002")[1] == 1
    assert caps("200006")[38] == 1
    assert caps("200005")[7] == 0
    assert caps("200004")[0] == 1 and caps("200004")[1] == 0
    assert caps("200013")[25] == 0  # from the fleet file's capabilities


def test_policies_list_and_one(emu):
    client = emu.client("200006")
    items = client.get("/api/lunasa/hsms/200006/policies").json()["policies"]
    by_code = {p["code"]: p for p in items}
    assert by_code[38]["value"] == 1 and by_code[38]["name"] == "sff_backup"
    assert by_code[38]["destructive"] is False
    assert {c for c, p in by_code.items() if p["destructive"]} == {6, 7, 12, 22}
    assert by_code[7]["url"] == "/api/lunasa/hsms/200006/policies/7"
    one = client.get("/api/lunasa/hsms/200006/policies/38")
    assert one.status_code == 200 and one.json() == by_code[38]


def test_health_needs_no_credentials(emu):
    resp = emu.client("200001", auth=False).get("/emulator/health")
    assert resp.status_code == 200
    assert resp.json() == {"status": "ok", "hsms": 19}


def test_https_only_with_the_fleet_ca(emu):
    with pytest.raises(httpx.ConnectError):
        httpx.get(emu.url("200001") + "/emulator/health", verify=True, timeout=5)  # system CAs do not know it
    plain = emu.url("200001").replace("https://", "http://")
    with pytest.raises(httpx.HTTPError):
        httpx.get(plain + "/emulator/health", timeout=5)


def test_status_command_lists_every_hsm(emu):
    out = subprocess.run(emulator_command() + ["status", "--state-dir", emu.state_dir], capture_output=True,
                         text=True, timeout=30)
    assert out.returncode == 0, out.stderr
    lines = out.stdout.strip().splitlines()
    assert len(lines) == 19
    assert any(line.startswith("200006 sff_1 https://127.0.0.1:") for line in lines)


def test_status_of_a_stopped_emulator_is_3(tmp_path):
    out = subprocess.run(emulator_command() + ["status", "--state-dir", str(tmp_path)], capture_output=True,
                         text=True, timeout=30)
    assert out.returncode == 3
