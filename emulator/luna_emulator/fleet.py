# Copyright (c) hsmops.luna contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Fleet file -> a checked fleet description (docs/emulator.md, "Fleet file").

HSM entries use the fact schema's field names (docs/facts.md) and are checked by the rules
engine's validate_hsm; HA groups by sff_plan.validate_ha_groups. The emulator adds only what
an appliance needs beyond the facts: users, passwords, capabilities and faults.
"""

import re

import yaml

from ansible_collections.hsmops.luna.plugins.module_utils import sff_plan, sff_rules

POLICY_NAMES = {code: name for name, code in sff_rules.HSM_POLICY_CODES.items()}
PARTITION_POLICY_NAMES = {code: name for name, code in sff_rules.PARTITION_POLICY_CODES.items()}

HSM_POLICY_DESCRIPTIONS = {
    0: "PIN (password) authentication",
    1: "PED authentication",
    6: "Masking",
    7: "Cloning",
    12: "Non-FIPS algorithms available",
    16: "Network replication",
    22: "Off-board storage",
    25: "Remote PED usage",
    38: "Enable Small Form Factor backup/restore",
}
PARTITION_POLICY_DESCRIPTIONS = {
    0: "Allow private key cloning",
    1: "Allow private key wrapping",
    4: "Allow secret key cloning",
    21: "Allow high availability recovery",
    22: "Activation",
    23: "Auto-activation",
    35: "Allow private key SFF backup",
    36: "Allow secret key SFF backup",
}

USERS = ("admin", "operator", "monitor", "audit")
READ_ONLY_USERS = frozenset(("monitor", "audit"))
FAULT_KEYS = ("latency_ms", "fail_after", "fail_status", "drop_after", "crash_during")
CRASH_POINTS = ("capability_update", "policy_change")
LABEL_RE = re.compile(r"^[A-Za-z0-9_]{1,32}$")

APPLIANCE_DEFAULTS = {
    "lockout_after": 5,
    "session_idle_timeout": 600,  # seconds (contract: 10 minutes)
    "so_login_timeout": 600,  # SO login with Basic lasts this long for that appliance user
    "task_retention": 600,  # finished tasks answer 410 after this many seconds
    "capability_update_seconds": 1.0,  # how long the CUF task runs
    "policy_task_seconds": 0.5,  # how long a destructive policy change runs
}


class FleetError(ValueError):
    """A fleet file problem: names the field, the HSM and what to do."""


def default_faults():
    return {"latency_ms": 0, "fail_after": None, "fail_status": 503, "drop_after": None, "crash_during": None}


def check_faults(value, where):
    """Faults from the fleet file or PUT /emulator/faults/{serial} -> a full, checked dict."""
    if value is None:
        return default_faults()
    if not isinstance(value, dict):
        raise FleetError("%s: expected a mapping with %s" % (where, ", ".join(FAULT_KEYS)))
    unknown = sorted(set(value) - set(FAULT_KEYS))
    if unknown:
        raise FleetError("%s.%s: unknown fault; expected one of %s" % (where, unknown[0], ", ".join(FAULT_KEYS)))
    out = default_faults()
    for key in ("latency_ms", "fail_after", "drop_after"):
        if key in value:
            item = value[key]
            if item is None and key != "latency_ms":
                out[key] = None
                continue
            if isinstance(item, bool) or not isinstance(item, int) or item < 0 or item > 10_000_000:
                raise FleetError("%s.%s: expected a whole number from 0 to 10000000%s"
                                 % (where, key, "" if key == "latency_ms" else " or null"))
            out[key] = item
    if out["latency_ms"] > 60_000:
        raise FleetError("%s.latency_ms: at most 60000 (one minute)" % where)
    if "fail_status" in value:
        item = value["fail_status"]
        if isinstance(item, bool) or not isinstance(item, int) or not 400 <= item <= 599:
            raise FleetError("%s.fail_status: expected an HTTP error status from 400 to 599" % where)
        out["fail_status"] = item
    if "crash_during" in value:
        item = value["crash_during"]
        if item is not None and item not in CRASH_POINTS:
            raise FleetError("%s.crash_during: expected null or one of %s" % (where, ", ".join(CRASH_POINTS)))
        out["crash_during"] = item
    return out


def _named_bools(value, names, where, serial):
    if value is None:
        return {}
    if not isinstance(value, dict):
        raise FleetError("HSM %s: %s: expected a mapping of name to true/false" % (serial, where))
    out = {}
    for name, item in value.items():
        if name not in names:
            raise FleetError("HSM %s: %s.%s: unknown; expected one of %s" % (serial, where, name, ", ".join(sorted(names))))
        if not isinstance(item, bool):
            raise FleetError("HSM %s: %s.%s: expected true or false" % (serial, where, name))
        out[names[name]] = int(item)
    return out


def hsm_capabilities_and_policies(facts, raw):
    """Capabilities and HSM policies {code: 0|1} for one fleet entry.

    Capabilities 0/1 follow `auth`, 7 `cloning`, 38 `sff_capability`; policy 38 is
    `sff_policy`. `capabilities:` and `policies:` (by name) may set the others.
    """
    serial = facts["serial"]
    ped = facts["auth"] == "ped"
    caps = {0: int(not ped), 1: int(ped), 6: 1, 7: int(facts["cloning"]), 12: 1,
            16: int(facts["cloning"]), 22: 1, 25: int(ped), 38: int(facts["sff_capability"])}
    derived = {0, 1, 7, 38}
    extra = _named_bools(raw.get("capabilities"), sff_rules.HSM_POLICY_CODES, "capabilities", serial)
    for code, value in extra.items():
        if code in derived:
            raise FleetError("HSM %s: capabilities.%s: set by the fact fields auth/cloning/sff_capability, not here"
                             % (serial, POLICY_NAMES[code]))
        caps[code] = value
    pols = {0: caps[0], 1: caps[1], 6: caps[6], 7: caps[7], 12: 0, 16: caps[16], 22: caps[22], 25: 0,
            38: int(facts["sff_policy"])}
    for code, value in _named_bools(raw.get("policies"), sff_rules.HSM_POLICY_CODES, "policies", serial).items():
        if code in sff_rules.HSM_FIXED_POLICIES or code == 38:
            raise FleetError("HSM %s: policies.%s: set by the fact fields auth/sff_policy, not here"
                             % (serial, POLICY_NAMES[code]))
        pols[code] = value
    for code, value in pols.items():
        if value and not caps[code]:
            raise FleetError("HSM %s: policy %s (%d) is on but the HSM lacks that capability; a policy can never "
                             "exceed its capability" % (serial, POLICY_NAMES[code], code))
    return caps, pols


def default_partition_policies(facts):
    """Policies of a new partition: everything the HSM level allows (the rules engine decides)."""
    out = {}
    for name, code in sff_rules.PARTITION_POLICY_CODES.items():
        if code in (22, 23):  # activation is an operator's choice, off until set
            out[code] = 0
        else:
            out[code] = 0 if sff_rules.partition_policy_refusals(facts, {name: True}) else 1
    return out


def load_fleet(path):
    """Read and check a fleet file. Raises FleetError with the field, the HSM and what to do."""
    try:
        with open(path, "r", encoding="utf-8") as handle:
            data = yaml.safe_load(handle)
    except OSError as exc:
        raise FleetError("cannot read fleet file %s: %s" % (path, exc.strerror))
    except yaml.YAMLError as exc:
        raise FleetError("fleet file %s is not valid YAML: %s" % (path, exc))
    return check_fleet(data, str(path))


def check_fleet(data, source="fleet"):
    if not isinstance(data, dict):
        raise FleetError("%s: expected a mapping with fleet, appliance, so_password, ha_groups and hsms" % source)
    known = {"fleet", "appliance", "so_password", "ha_groups", "hsms"}
    unknown = sorted(set(data) - known)
    if unknown:
        raise FleetError("%s: unknown top-level key %r; expected %s" % (source, unknown[0], ", ".join(sorted(known))))
    name = str((data.get("fleet") or {}).get("name") or "fleet")
    appliance = data.get("appliance") or {}
    if not isinstance(appliance, dict):
        raise FleetError("appliance: expected a mapping")
    users_in = appliance.get("users")
    if not isinstance(users_in, dict) or not users_in:
        raise FleetError("appliance.users: expected a mapping of user name (%s) to password" % ", ".join(USERS))
    users = {}
    for user, password in users_in.items():
        if user not in USERS:
            raise FleetError("appliance.users.%s: unknown appliance user; expected one of %s" % (user, ", ".join(USERS)))
        if not isinstance(password, str) or not password:
            raise FleetError("appliance.users.%s: expected a non-empty password string" % user)
        users[user] = password
    if "admin" not in users:
        raise FleetError("appliance.users.admin: missing; the emulator's administration calls need the admin user")
    config = dict(APPLIANCE_DEFAULTS)
    for key, value in appliance.items():
        if key == "users":
            continue
        if key not in APPLIANCE_DEFAULTS:
            raise FleetError("appliance.%s: unknown setting; expected users or one of %s"
                             % (key, ", ".join(sorted(APPLIANCE_DEFAULTS))))
        if isinstance(value, bool) or not isinstance(value, (int, float)) or value < 0:
            raise FleetError("appliance.%s: expected a number of 0 or more" % key)
        if key == "lockout_after" and (not isinstance(value, int) or value < 1):
            raise FleetError("appliance.lockout_after: expected a whole number of 1 or more")
        config[key] = value
    so_password = data.get("so_password")
    if not isinstance(so_password, str) or not so_password:
        raise FleetError("so_password: expected the HSM SO password (a non-empty string) for the fleet")

    hsms_in = data.get("hsms")
    if not isinstance(hsms_in, list) or not hsms_in:
        raise FleetError("hsms: expected a non-empty list of HSMs (fact schema, docs/facts.md)")
    hsms = []
    seen = {}
    labels = {}
    partition_serials = set()
    for index, raw in enumerate(hsms_in):
        if not isinstance(raw, dict):
            raise FleetError("hsms[%d]: expected a mapping of HSM facts" % index)
        facts_in = {k: v for k, v in raw.items() if k not in ("faults", "capabilities", "so_password")}
        try:
            facts = sff_rules.validate_hsm(facts_in, index)
        except sff_rules.FactError as exc:
            raise FleetError("hsms[%d]: %s" % (index, exc))
        serial = facts["serial"]
        if not re.match(r"^[0-9]{1,10}$", serial):
            raise FleetError("HSM %s: serial: expected 1 to 10 digits (an appliance HSM serial number)" % serial)
        if serial in seen:
            raise FleetError("HSM %s: serial appears twice in hsms (entries %d and %d)" % (serial, seen[serial], index))
        seen[serial] = index
        label = facts["label"] or "hsm_%s" % serial
        if not re.match(r"^[A-Za-z_][A-Za-z0-9_]{0,63}$", label):
            raise FleetError("HSM %s: label %r: expected letters, digits and _ (it names the inventory host)" % (serial, label))
        if label in labels:
            raise FleetError("HSM %s: label %r is already used by HSM %s; labels name inventory hosts and must be unique"
                             % (serial, label, labels[label]))
        labels[label] = serial
        if facts["sff_capability"]:
            refusals = sff_rules.capability_refusals(facts)
            if refusals:
                raise FleetError("HSM %s: sff_capability is true but the CUF cannot be applied to it: %s"
                                 % (serial, " ".join(r["message"] for r in refusals)))
        if facts["sff_policy"] and not facts["sff_capability"]:
            raise FleetError("HSM %s: sff_policy is true without sff_capability; policy 38 can be on only with the CUF"
                             % serial)
        caps, pols = hsm_capabilities_and_policies(facts, raw)
        facts_now = sff_rules.with_facts(facts, cloning=bool(caps[7]))
        partitions = []
        plabels = set()
        for pindex, part in enumerate(facts["partitions"]):
            where = "HSM %s: partitions[%d]" % (serial, pindex)
            if not LABEL_RE.match(part["label"]):
                raise FleetError("%s.label: %r must match ^[A-Za-z0-9_]{1,32}$" % (where, part["label"]))
            if part["label"] in plabels:
                raise FleetError("%s.label: %r is used twice on this HSM" % (where, part["label"]))
            plabels.add(part["label"])
            if part["serial"] is not None:
                if not re.match(r"^[0-9]{1,12}$", part["serial"]):
                    raise FleetError("%s.serial: expected digits" % where)
                if part["serial"] in partition_serials:
                    raise FleetError("%s.serial: %s is used by another partition in the fleet" % (where, part["serial"]))
                partition_serials.add(part["serial"])
            policies = default_partition_policies(facts_now)
            for pname, value in part["policies"].items():
                policies[sff_rules.PARTITION_POLICY_CODES[pname]] = int(value)
            refusals = sff_rules.partition_policy_refusals(
                facts_now, {PARTITION_POLICY_NAMES[c]: bool(v) for c, v in policies.items()})
            if refusals:
                raise FleetError("%s.policies: %s" % (where, " ".join(r["message"] for r in refusals)))
            partitions.append({"serial": part["serial"], "label": part["label"], "policies": policies,
                               "objects": part["objects"]})
        hsm_so = raw.get("so_password", so_password)
        if not isinstance(hsm_so, str) or not hsm_so:
            raise FleetError("HSM %s: so_password: expected a non-empty string" % serial)
        hsms.append({
            "serial": serial,
            "label": label,
            "model": str(raw.get("model") or "Luna K6"),
            "firmware": facts["firmware"],
            "auth": facts["auth"],
            "cloning_domain": facts["cloning_domain"],
            "sim_secret": facts["sim_secret"],
            "capabilities": caps,
            "policies": pols,
            "so_password": hsm_so,
            "faults": check_faults(raw.get("faults"), "HSM %s: faults" % serial),
            "partitions": partitions,
        })
    try:
        groups = sff_plan.validate_ha_groups(data.get("ha_groups"), {h["serial"]: h for h in hsms})
    except sff_rules.FactError as exc:
        raise FleetError(str(exc))
    for group in groups:
        if group["name"] in labels or group["name"] == "luna_appliances" or not re.match(r"^[A-Za-z_][A-Za-z0-9_]*$", group["name"]):
            raise FleetError("ha_groups: name %r: expected letters, digits and _, not an HSM label nor luna_appliances "
                             "(it names an inventory group)" % group["name"])
    return {"name": name, "users": users, "config": config, "hsms": hsms, "ha_groups": groups}
