# -*- coding: utf-8 -*-
# Copyright (c) hsmops.luna contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""The SFF backup / cloning / HA rules of the collection, in one place.

Pure Python, standard library only, no Ansible imports: modules, filter and test
plugins, the rollout role (through the filters) and the emulated fleet all decide
with these functions. Every "no" carries a stable reason code and a sentence that
names the HSM and says what to do.

The specification is the Luna 6 "Cloning and SFF Backup Option Use Cases" page;
comments cite it as "seed: <table/summary, row>".
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import gc
import re

# Jinja may hand us lazy containers: test against the ABCs, not dict/list.
from collections.abc import Mapping, Sequence

# seed: "SFF backup requires firmware 6.21.0 or greater."
SFF_MIN_FIRMWARE = (6, 21, 0)
SFF_MIN_FIRMWARE_TEXT = "6.21.0"

AUTH_TYPES = ("ped", "password")

# HSM capability/policy codes (the same number for capability and policy).
HSM_POLICY_CODES = {
    "pin_authentication": 0,
    "ped_authentication": 1,
    "masking": 6,
    "cloning": 7,
    "non_fips_algorithms": 12,
    "network_replication": 16,
    "offboard_storage": 22,
    "remote_ped": 25,
    "sff_backup": 38,
}
# Changing these on fw 6.x erases every partition (`hsm showPolicies`, "Destructive Yes").
# 38 is not published: treated as non-destructive (see docs/facts.md, "Assumptions").
HSM_DESTRUCTIVE_POLICIES = frozenset((6, 7, 12, 22))
# Fixed at manufacture: never settable.
HSM_FIXED_POLICIES = frozenset((0, 1))

PARTITION_POLICY_CODES = {
    "private_key_cloning": 0,
    "private_key_wrapping": 1,
    "secret_key_cloning": 4,
    "high_availability": 21,
    "activation": 22,
    "auto_activation": 23,
    "private_key_sff_backup": 35,
    "secret_key_sff_backup": 36,
}
SFF_PARTITION_POLICIES = frozenset((35, 36))
OBJECT_CLASSES = ("private_key", "secret_key", "public_key", "certificate", "data")

# Cloning attempts across an SFF mismatch fail with this PKCS#11 return code (seed: cloning summary).
CKR_DATA_INVALID = "CKR_DATA_INVALID"
# What an appliance reports for each blocking clone reason. Only the first is published;
# the others are this collection's documented choice (docs/facts.md, "Assumptions").
CKR_FOR_REASON = {
    "SFF_MISMATCH": CKR_DATA_INVALID,
    "DOMAIN_MISMATCH": "CKR_CERTIFICATE_INVALID",
    "NOT_CLONING_HSM": "CKR_OPERATION_NOT_ALLOWED",
    "OBJECT_STORED_OFF_BOARD": "CKR_DATA_INVALID",
    "PARTITION_CLONING_FORBIDDEN": "CKR_OPERATION_NOT_ALLOWED",
}

_FIRMWARE_RE = re.compile(r"^\s*(\d{1,4})\.(\d{1,4})\.(\d{1,4})\s*$")
# A fleet runs a handful of firmware versions: parse each once (bounded, strings only).
_FIRMWARE_CACHE = {}
_PARTITION_POLICY_NAMES = frozenset(PARTITION_POLICY_CODES)
_REQUIRED_HSM_FIELDS = ("serial", "firmware", "auth", "cloning", "sff_capability", "sff_policy", "cloning_domain")


class CheckedFacts(dict):
    """A plain dict of HSM facts that validate_hsm has already checked.

    It carries the parsed firmware as an attribute (not a key), so hot loops over a
    fleet parse each version once.
    """

    firmware_tuple = None


class FactError(ValueError):
    """Bad input: names the field, the HSM (when known) and what to do."""

    def __init__(self, field, message, serial=None):
        self.field = field
        self.serial = serial
        where = "HSM %s: " % serial if serial is not None else ""
        super(FactError, self).__init__("%sfield '%s': %s" % (where, field, message))


def reason(code, serial, message):
    """One refusal or finding: a stable code, the HSM it concerns, what to do."""
    return {"code": code, "serial": serial, "message": message}


# --------------------------------------------------------------------------- input


def parse_firmware(value, serial=None, field="firmware"):
    """'6.22.0' -> (6, 22, 0). Compared numerically, so 6.3.0 < 6.10.9 < 6.21.0.

    Exactly three numeric parts: software releases such as '6.2.2-5' are not firmware
    versions and are refused rather than guessed at.
    """
    if isinstance(value, str):
        cached = _FIRMWARE_CACHE.get(value)
        if cached is not None:
            return cached
    if isinstance(value, bool) or value is None:
        raise FactError(field, "missing firmware version; expected 'MAJOR.MINOR.PATCH' such as '6.22.0'", serial)
    if isinstance(value, (list, tuple)) and len(value) == 3 and all(isinstance(p, int) and not isinstance(p, bool) for p in value):
        return tuple(value)
    if not isinstance(value, str):
        raise FactError(field, "expected a string 'MAJOR.MINOR.PATCH' such as '6.22.0', got %s" % type(value).__name__, serial)
    match = _FIRMWARE_RE.match(value)
    if not match:
        raise FactError(
            field,
            "malformed firmware version %r; expected 'MAJOR.MINOR.PATCH' such as '6.22.0' "
            "(software release numbers like '6.2.2-5' are not firmware versions)" % value,
            serial,
        )
    parsed = tuple(int(p) for p in match.groups())
    if isinstance(value, str) and len(_FIRMWARE_CACHE) < 4096:
        _FIRMWARE_CACHE[value] = parsed
    return parsed


def compare_firmware(left, right):
    """-1, 0 or 1, comparing two firmware versions numerically."""
    a = parse_firmware(left, field="firmware")
    b = parse_firmware(right, field="firmware")
    return (a > b) - (a < b)


def firmware_supports_sff(firmware, serial=None):
    """seed: summary "If your HSM has firmware lower than 6.21.0, you cannot apply the SFF backup capability"."""
    return parse_firmware(firmware, serial) >= SFF_MIN_FIRMWARE


def _firmware_ok(facts):
    return facts.firmware_tuple >= SFF_MIN_FIRMWARE


def _bool(hsm, field, serial, default=None):
    value = hsm.get(field, default)
    if not isinstance(value, bool):
        if value is None:
            raise FactError(field, "missing; expected true or false", serial)
        raise FactError(field, "expected true or false, got %r" % (value,), serial)
    return value


def _opaque(value, field, serial, nullable):
    if value is None:
        if nullable:
            return None
        raise FactError(field, "missing; expected an identifier string", serial)
    if isinstance(value, bool) or not isinstance(value, (str, int)):
        raise FactError(field, "expected an identifier string, got %s" % type(value).__name__, serial)
    return str(value)


def _serial(value, field="serial", owner=None):
    if isinstance(value, bool) or not isinstance(value, (str, int)) or str(value).strip() == "":
        raise FactError(field, "missing or not a serial number (expected a non-empty string)", owner)
    return str(value).strip()


def _validate_object(obj, serial, where, index):
    if not isinstance(obj, Mapping):
        raise FactError("%s[%d]" % (where, index), "each object must be a mapping, got %s" % type(obj).__name__, serial)
    cls = obj.get("class", "secret_key")
    if cls not in OBJECT_CLASSES:
        raise FactError("%s[%d].class" % (where, index),
                        "unknown object class %r; expected one of %s" % (cls, ", ".join(OBJECT_CLASSES)), serial)
    label = obj.get("label", "")
    fingerprint = obj.get("fingerprint") or "%s:%s" % (cls, label)
    return {
        "label": str(label),
        "class": cls,
        "fingerprint": str(fingerprint),
        "extractable": bool(obj.get("extractable", False)),
        "off_board": bool(obj.get("off_board", False)),
    }


def _validate_partition(part, serial, index):
    where = "partitions[%d]" % index
    if not isinstance(part, Mapping):
        raise FactError(where, "each partition must be a mapping, got %s" % type(part).__name__, serial)
    # Gathered facts always carry the partition serial; a fleet file may leave it to the appliance.
    pserial = None if part.get("serial") is None else _serial(part.get("serial"), where + ".serial", serial)
    policies_in = part.get("policies") or {}
    if not isinstance(policies_in, Mapping):
        raise FactError(where + ".policies", "expected a mapping of policy name to true/false", serial)
    policies = {name: bool(value) for name, value in policies_in.items()}
    if not _PARTITION_POLICY_NAMES.issuperset(policies):
        name = [n for n in policies if n not in _PARTITION_POLICY_NAMES][0]
        raise FactError(
            where + ".policies." + str(name),
            "unknown partition policy; expected one of %s" % ", ".join(sorted(PARTITION_POLICY_CODES)),
            serial,
        )
    objects_in = part.get("objects") or []
    if not isinstance(objects_in, list) and (isinstance(objects_in, (str, bytes)) or not isinstance(objects_in, Sequence)):
        raise FactError(where + ".objects", "expected a list of objects", serial)
    where_objects = where + ".objects"
    objects = [_validate_object(o, serial, where_objects, i) for i, o in enumerate(objects_in)]
    out = dict(part)
    out.update({"serial": pserial, "label": str(part.get("label", "")), "policies": policies, "objects": objects})
    out["object_count"] = int(part.get("object_count", len(objects)) if not objects else len(objects))
    return out


def validate_hsm(hsm, index=None):
    """Check one HSM's facts against docs/facts.md and return a fresh plain dict.

    Raises FactError naming the field and the HSM for anything missing or malformed.
    """
    if not isinstance(hsm, Mapping):
        where = "fleet[%d]" % index if index is not None else "hsm"
        raise FactError(where, "each HSM must be a mapping of facts (see docs/facts.md), got %s" % type(hsm).__name__)
    if "serial" not in hsm:
        where = "fleet[%d].serial" % index if index is not None else "serial"
        raise FactError(where, "missing; every HSM needs its serial number")
    serial = _serial(hsm.get("serial"))
    for field in _REQUIRED_HSM_FIELDS:
        if field not in hsm:
            raise FactError(field, "missing (see docs/facts.md for the fact schema)", serial)
    auth = hsm.get("auth")
    if auth not in AUTH_TYPES:
        raise FactError("auth", "unknown authentication %r; expected 'ped' or 'password'" % (auth,), serial)
    firmware = hsm.get("firmware")
    firmware_tuple = parse_firmware(firmware, serial)
    partitions_in = hsm.get("partitions") or []
    if not isinstance(partitions_in, list) and (isinstance(partitions_in, (str, bytes)) or not isinstance(partitions_in, Sequence)):
        raise FactError("partitions", "expected a list of partitions", serial)
    out = CheckedFacts(hsm)
    out.update(
        {
            "serial": serial,
            "label": str(hsm.get("label", "")),
            "firmware": firmware if isinstance(firmware, str) else ".".join(str(p) for p in firmware),
            "auth": auth,
            "cloning": _bool(hsm, "cloning", serial),
            "sff_capability": _bool(hsm, "sff_capability", serial),
            "sff_policy": _bool(hsm, "sff_policy", serial),
            "cloning_domain": _opaque(hsm.get("cloning_domain"), "cloning_domain", serial, nullable=False),
            "sim_secret": _opaque(hsm.get("sim_secret"), "sim_secret", serial, nullable=True),
            "partitions": [_validate_partition(p, serial, i) for i, p in enumerate(partitions_in)],
        }
    )
    out.firmware_tuple = firmware_tuple
    return out


def validate_fleet(fleet):
    """A list of HSM facts (or a mapping serial -> facts) -> {serial: validated facts}, in order.

    Duplicate serials are an error: two HSMs cannot share one.
    """
    if isinstance(fleet, Mapping):
        items = []
        for key, hsm in fleet.items():
            if isinstance(hsm, Mapping) and "serial" not in hsm:
                hsm = dict(hsm, serial=key)
            items.append(hsm)
    elif isinstance(fleet, Sequence) and not isinstance(fleet, (str, bytes)):
        items = fleet
    else:
        raise FactError("fleet", "expected a list of HSM facts, got %s" % type(fleet).__name__)
    by_serial = {}
    # Checking builds only acyclic dicts and lists, so the cyclic garbage collector has nothing
    # to find; left running, its full passes over a 100,000-HSM fleet cost more than the checks.
    collecting = gc.isenabled()
    gc.disable()
    try:
        for index, hsm in enumerate(items):
            facts = validate_hsm(hsm, index)
            if facts["serial"] in by_serial:
                raise FactError("serial", "appears twice in the fleet (fleet[%d]); serials must be unique" % index, facts["serial"])
            by_serial[facts["serial"]] = facts
    finally:
        if collecting:
            gc.enable()
    return by_serial


def with_facts(facts, **changes):
    """Checked facts with some fields changed (e.g. the state right after a CUF)."""
    facts = _facts(facts)
    out = CheckedFacts(facts)
    out.update(changes)
    out.firmware_tuple = facts.firmware_tuple
    return out


def _facts(hsm):
    # Facts from validate_hsm/validate_fleet are not re-checked in hot loops.
    return hsm if isinstance(hsm, CheckedFacts) else validate_hsm(hsm)


# --------------------------------------------------------------------------- one HSM


def capability_refusals(hsm):
    """Why the SFF CUF may not be applied to this HSM (empty: it may)."""
    facts = _facts(hsm)
    serial = facts["serial"]
    found = []
    # seed: summary "If your HSM has firmware lower than 6.21.0, you cannot apply the SFF backup capability."
    if not _firmware_ok(facts):
        found.append(reason(
            "FIRMWARE_TOO_OLD", serial,
            "HSM %s runs firmware %s; SFF backup needs %s or newer: update the HSM firmware first."
            % (serial, facts["firmware"], SFF_MIN_FIRMWARE_TEXT)))
    # seed: summary "If your HSM is not factory configured for cloning, you cannot apply the SFF backup capability."
    if not facts["cloning"]:
        found.append(reason(
            "NOT_CLONING_HSM", serial,
            "HSM %s is not a cloning HSM (Key Export); the SFF backup capability cannot be applied to it: "
            "leave it out of the targets." % serial))
    # seed: intro "The SFF backup feature can be added only to PED-authenticated cloning HSMs."
    if facts["auth"] != "ped":
        found.append(reason(
            "NOT_PED_AUTHENTICATED", serial,
            "HSM %s is password-authenticated; SFF backup can be added only to PED-authenticated HSMs: "
            "leave it out of the targets." % serial))
    return found


def sff_status(hsm):
    """{serial, sff_capable, sff_active, reasons, findings}.

    sff_capable: the CUF may be (or has been) applied. sff_active: firmware, CUF and
    HSM policy 38 are all in place (seed: Note 2, "If any of the three ... is not
    correct, the SFF backup feature cannot work").
    """
    facts = _facts(hsm)
    serial = facts["serial"]
    findings = capability_refusals(facts)
    capable = not findings
    firmware_ok = _firmware_ok(facts)
    if not facts["sff_capability"]:
        findings.append(reason(
            "CUF_NOT_APPLIED", serial,
            "HSM %s does not have the SFF backup capability update (CUF) applied." % serial))
    if not facts["sff_policy"]:
        findings.append(reason(
            "SFF_POLICY_OFF", serial,
            "HSM %s has HSM policy 38 (SFF backup) switched off." % serial))
    # A CUF can only be applied to firmware >= 6.21.0, and all three must hold (Note 2).
    active = firmware_ok and facts["sff_capability"] and facts["sff_policy"]
    return {
        "serial": serial,
        "sff_capable": capable,
        "sff_active": bool(active),
        "reasons": [f["code"] for f in findings],
        "findings": findings,
    }


def sff_active(hsm):
    """True when the HSM has firmware >= 6.21.0, the CUF applied and policy 38 on."""
    facts = _facts(hsm)
    return bool(facts["sff_capability"] and facts["sff_policy"] and _firmware_ok(facts))


def sff_policy_on_refusals(hsm):
    """Why HSM policy 38 may not be switched on here (empty: it may).

    Switching it on must leave SFF active (seed: Note 2): firmware, CUF and a capable HSM.
    """
    facts = _facts(hsm)
    return sff_status(with_facts(facts, sff_policy=True))["findings"]


def partition_sff_backup(hsm, partition):
    """May this partition be archived to an SFF token? {private_keys, secret_keys, reasons}.

    seed: Note 1 / Applicability: the HSM-level policy governs; the partition policy can only
    forbid SFF backup for that partition. It never changes cloning or HA compatibility.
    """
    facts = _facts(hsm)
    serial = facts["serial"]
    active = sff_active(facts)
    policies = partition.get("policies") or {}
    found = []
    if not active:
        found.append(reason(
            "SFF_NOT_ACTIVE", serial,
            "HSM %s does not have SFF backup active (firmware, CUF and policy 38 are all needed)." % serial))
    private = active and policies.get("private_key_sff_backup", True) is not False
    secret = active and policies.get("secret_key_sff_backup", True) is not False
    if active and not private and not secret:
        found.append(reason(
            "PARTITION_POLICY_FORBIDS_SFF", serial,
            "Partition %s on HSM %s forbids SFF backup (partition policies 35 and 36 are off)."
            % (partition.get("label") or partition.get("serial"), serial)))
    return {"private_keys": bool(private), "secret_keys": bool(secret), "reasons": [f["code"] for f in found], "findings": found}


def partition_policy_refusals(hsm, desired):
    """Partition policies can only forbid what the HSM allows.

    desired: {policy name: bool}. Returns the refusals for turning on a policy the HSM
    level does not allow (SFF backup needs SFF active on the HSM; cloning needs a cloning HSM).
    """
    facts = _facts(hsm)
    serial = facts["serial"]
    found = []
    active = sff_active(facts)
    for name, value in desired.items():
        if name not in PARTITION_POLICY_CODES:
            raise FactError("policies." + str(name), "unknown partition policy; expected one of %s"
                            % ", ".join(sorted(PARTITION_POLICY_CODES)), serial)
        if not value:
            continue
        code = PARTITION_POLICY_CODES[name]
        if code in SFF_PARTITION_POLICIES and not active:
            found.append(reason(
                "HSM_POLICY_FORBIDS", serial,
                "Partition policy %s (%d) cannot be switched on: HSM %s does not have SFF backup active; "
                "apply the CUF and switch HSM policy 38 on first." % (name, code, serial)))
        if name in ("private_key_cloning", "secret_key_cloning") and not facts["cloning"]:
            found.append(reason(
                "HSM_POLICY_FORBIDS", serial,
                "Partition policy %s (%d) cannot be switched on: HSM %s is not a cloning HSM." % (name, code, serial)))
    return found


# --------------------------------------------------------------------------- two HSMs


def clone_verdict(source, target):
    """May objects be cloned from source to target? Symmetric in its outcome.

    {possible, error, sff_interchange, reasons, findings, source_sff_active,
    target_sff_active, interchange_reasons}.
    """
    src = _facts(source)
    dst = _facts(target)
    s_active = sff_active(src)
    t_active = sff_active(dst)
    findings = []
    for facts in (src, dst):
        if not facts["cloning"]:
            findings.append(reason(
                "NOT_CLONING_HSM", facts["serial"],
                "HSM %s is not a cloning HSM (Key Export): it cannot clone to or from HSM %s."
                % (facts["serial"], (dst if facts is src else src)["serial"])))
    # seed: cloning summary: "in the case where either HSM has the SFF policy enabled, the other must
    # also have it enabled for cloning to function ... a cloning attempt results in an error CKR_DATA_INVALID."
    if s_active != t_active:
        on, off = (src, dst) if s_active else (dst, src)
        findings.append(reason(
            "SFF_MISMATCH", off["serial"],
            "Cloning between HSM %s (SFF on) and HSM %s (SFF off) fails with CKR_DATA_INVALID: "
            "switch SFF on for HSM %s, or switch HSM policy 38 off on HSM %s."
            % (on["serial"], off["serial"], off["serial"], on["serial"])))
    # seed: table rows: "Cloning ... is possible if the two HSMs share the same cloning domain."
    if src["cloning_domain"] != dst["cloning_domain"]:
        findings.append(reason(
            "DOMAIN_MISMATCH", dst["serial"],
            "HSM %s and HSM %s are in different cloning domains; cloning needs the same domain on both "
            "(it is set at initialisation and cannot be changed)." % (src["serial"], dst["serial"])))
    interchange = []
    # seed: table last row: "Can interchange provided the same SIM secret is on both HSMs".
    if not (s_active and t_active):
        interchange.append("SFF_NOT_ACTIVE")
    if src["sim_secret"] is None or src["sim_secret"] != dst["sim_secret"]:
        interchange.append("SIM_SECRET_MISMATCH")
    codes = [f["code"] for f in findings]
    error = CKR_DATA_INVALID if "SFF_MISMATCH" in codes else None
    return {
        "possible": not findings,
        "error": error,
        "sff_interchange": not interchange,
        "reasons": codes,
        "findings": findings,
        "interchange_reasons": interchange,
        "source_sff_active": s_active,
        "target_sff_active": t_active,
    }


def clone_failure_code(verdict):
    """The return code an appliance reports for a refused clone (None when possible)."""
    for code in verdict["reasons"]:
        if code in CKR_FOR_REASON:
            return CKR_FOR_REASON[code]
    return None


def object_clone_refusal(obj, target, partition=None):
    """Object rule: a target without SFF active accepts only objects never stored off the
    HSM, except keys marked extractable (seed: intro, "A cloning-only HSM ... can accept
    cloning only of objects that have never been stored off the HSM").

    Also honours the target partition's cloning policies (0 private keys, 4 secret keys)
    when a partition is given. Returns a reason dict or None.
    """
    dst = _facts(target)
    serial = dst["serial"]
    if obj.get("off_board") and not obj.get("extractable") and not sff_active(dst):
        return reason(
            "OBJECT_STORED_OFF_BOARD", serial,
            "Object %r was stored off an HSM (SFF backup); HSM %s does not have SFF active and accepts only "
            "objects never stored off-board unless they are marked extractable." % (obj.get("label"), serial))
    if partition is not None:
        policies = partition.get("policies") or {}
        name = {"private_key": "private_key_cloning", "secret_key": "secret_key_cloning"}.get(obj.get("class"))
        if name and policies.get(name, True) is False:
            return reason(
                "PARTITION_CLONING_FORBIDDEN", serial,
                "Partition %s on HSM %s has %s off; object %r cannot be cloned into it."
                % (partition.get("label") or partition.get("serial"), serial, name, obj.get("label")))
    return None


# --------------------------------------------------------------------------- HA groups


def _majority(values, prefer):
    counts = {}
    for value in values:
        counts[value] = counts.get(value, 0) + 1
    best = max(counts.values())
    leaders = [v for v, n in counts.items() if n == best]
    if prefer in leaders:
        return prefer
    return sorted(leaders, key=str)[0]


def ha_verdict(members, name=None):
    """Is this HA group consistent? {compatible, offenders, reasons, findings, sff_active}.

    Members must all be cloning HSMs with the same authentication, cloning domain and SFF
    activity (seed: Effect on HA, "can share an HA group only with other HSMs that have the
    capability applied and the policy switched on"). Offenders are the members outside the
    majority; on a tie in SFF activity the members without SFF are named, since "if SFF
    backup is enabled on an HA group member, it must also be enabled for all other members".
    """
    if isinstance(members, (str, bytes, Mapping)) or not isinstance(members, Sequence):
        raise FactError("members", "expected a list of HSM facts")
    facts = []
    seen = set()
    for index, member in enumerate(members):
        f = member if isinstance(member, CheckedFacts) else validate_hsm(member, index)
        if f["serial"] in seen:
            raise FactError("members", "listed twice in the HA group", f["serial"])
        seen.add(f["serial"])
        facts.append(f)
    group = "HA group %s" % name if name else "the HA group"
    findings = []
    offenders = []
    active = {f["serial"]: sff_active(f) for f in facts}
    if facts:
        for f in facts:
            if not f["cloning"]:
                findings.append(reason("NOT_CLONING_HSM", f["serial"],
                                       "HSM %s in %s is not a cloning HSM and cannot replicate." % (f["serial"], group)))
        want_sff = _majority(active.values(), prefer=True)
        for f in facts:
            if active[f["serial"]] != want_sff:
                findings.append(reason(
                    "SFF_MISMATCH", f["serial"],
                    "HSM %s has SFF %s while the rest of %s has it %s: replication fails with CKR_DATA_INVALID; "
                    "bring every member to the same SFF state."
                    % (f["serial"], "on" if active[f["serial"]] else "off", group, "on" if want_sff else "off")))
        want_domain = _majority([f["cloning_domain"] for f in facts], prefer=None)
        for f in facts:
            if f["cloning_domain"] != want_domain:
                findings.append(reason(
                    "DOMAIN_MISMATCH", f["serial"],
                    "HSM %s is in a different cloning domain from the rest of %s; members must share one domain."
                    % (f["serial"], group)))
        want_auth = _majority([f["auth"] for f in facts], prefer="ped")
        for f in facts:
            if f["auth"] != want_auth:
                findings.append(reason(
                    "AUTH_MISMATCH", f["serial"],
                    "HSM %s uses %s authentication while the rest of %s uses %s; members need the same type."
                    % (f["serial"], f["auth"], group, want_auth)))
        for item in findings:
            if item["serial"] not in offenders:
                offenders.append(item["serial"])
    codes = []
    for item in findings:
        if item["code"] not in codes:
            codes.append(item["code"])
    return {
        "compatible": not findings,
        "offenders": offenders,
        "reasons": codes,
        "findings": findings,
        "sff_active": active,
    }
