# -*- coding: utf-8 -*-
# Copyright (c) hsmops.luna contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Read the HA groups a Luna client defines in its Chrystoki.conf.

HA groups live on the client, not on the appliance: `lunacm hagroup ...` writes them into
the `VirtualToken` section of Chrystoki.conf:

    VirtualToken = {
       VirtualToken00Label = payments_ha;
       VirtualToken00SN = 11000001;
       VirtualToken00Members = 1000001,1000002;
    }
    HASynchronize = {
       payments_ha = 1;
    }
    HAConfiguration = {
       HAOnly = 1;
       reconnAtt = -1;
    }

Unix clients write `Name = { key = value; }` blocks, Windows clients an INI file
(`[VirtualToken]`, `VirtualToken00Label=payments_ha`); both are read. Members are partition
serials; `map_ha_groups` turns them into HSM serials with gathered facts.

Pure Python, standard library only. Every error names the file and the line.
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import re

from collections.abc import Mapping, Sequence

_BLOCK_OPEN_RE = re.compile(r"^([A-Za-z0-9_][A-Za-z0-9_ .\-]*?)\s*=\s*\{\s*$")
_INI_SECTION_RE = re.compile(r"^\[\s*([^\]]+?)\s*\]$")
_ENTRY_RE = re.compile(r"^([^=\s][^=]*?)\s*=\s*(.*?)\s*;?\s*$")
_VT_KEY_RE = re.compile(r"^VirtualToken(\d+)(Label|SN|Members)$")
_SERIAL_RE = re.compile(r"^\d+$")


class ConfError(ValueError):
    """A malformed Chrystoki.conf: names the file, the line and what to fix."""

    def __init__(self, path, line, message):
        self.path = path
        self.line = line
        where = "%s, line %d" % (path, line) if line else path
        super(ConfError, self).__init__("%s: %s" % (where, message))


def parse_conf(text, path="Chrystoki.conf"):
    """Chrystoki.conf text -> {section: {key: (value, line)}}.

    Sections that appear twice are merged; a key given twice in one section is an error
    for the HA sections (which definition the client uses is not obvious) and the later
    value otherwise.
    """
    sections = {}
    current = None  # (name, style, line opened)
    for lineno, raw in enumerate(text.splitlines(), 1):
        line = raw.strip()
        if not line or line.startswith("#") or line.startswith(";") or line.startswith("//"):
            continue
        opened = _BLOCK_OPEN_RE.match(line)
        if opened:
            if current is not None and current[1] == "block":
                raise ConfError(path, lineno, "section %r opens inside section %r (opened on line %d), which "
                                "is never closed with '}'" % (opened.group(1), current[0], current[2]))
            current = (opened.group(1).strip(), "block", lineno)
            sections.setdefault(current[0], {})
            continue
        ini = _INI_SECTION_RE.match(line)
        if ini:
            if current is not None and current[1] == "block":
                raise ConfError(path, lineno, "section [%s] starts inside section %r (opened on line %d), "
                                "which is never closed with '}'" % (ini.group(1), current[0], current[2]))
            current = (ini.group(1), "ini", lineno)
            sections.setdefault(current[0], {})
            continue
        if line == "}" or line == "};":
            if current is None or current[1] != "block":
                raise ConfError(path, lineno, "'}' closes no section")
            current = None
            continue
        entry = _ENTRY_RE.match(line)
        if not entry or "{" in line or "}" in line:
            raise ConfError(path, lineno, "cannot read %r: expected 'Key = Value;', 'Section = {', '}' or "
                            "'[Section]'" % line)
        if current is None:
            raise ConfError(path, lineno, "entry %r is outside any section" % entry.group(1))
        key, value = entry.group(1).strip(), entry.group(2).strip()
        section = sections[current[0]]
        if key in section and current[0] in ("VirtualToken", "HASynchronize"):
            raise ConfError(path, lineno, "%s is set twice in section %s (first on line %d): keep one"
                            % (key, current[0], section[key][1]))
        section[key] = (value, lineno)
    if current is not None and current[1] == "block":
        raise ConfError(path, current[2], "section %r is never closed with '}'" % current[0])
    return sections


def _serial_list(value, path, line, key):
    items = [item.strip() for item in value.split(",")]
    if value.strip() == "" or any(item == "" for item in items):
        raise ConfError(path, line, "%s must be a comma-separated list of partition serials, got %r" % (key, value))
    for item in items:
        if not _SERIAL_RE.match(item):
            raise ConfError(path, line, "%s: %r is not a partition serial (digits only)" % (key, item))
    out = []
    for item in items:
        if item not in out:
            out.append(item)
    return out


def ha_groups_from_conf(sections, path="Chrystoki.conf"):
    """The HA groups of a parsed Chrystoki.conf.

    Returns {"ha_groups": [{name, index, group_serial, partitions, synchronize, line}],
    "ha_configuration": {key: value}}, groups in the order of their VirtualToken index.
    """
    vt = sections.get("VirtualToken", {})
    by_index = {}
    for key, (value, line) in vt.items():
        match = _VT_KEY_RE.match(key)
        if not match:
            continue  # group-wide settings such as VirtualTokenActiveRecovery
        by_index.setdefault(match.group(1), {})[match.group(2)] = (value, line)
    groups = []
    labels = {}
    for index in sorted(by_index, key=int):
        parts = by_index[index]
        first_line = min(line for unused_value, line in parts.values())
        for needed in ("Label", "SN", "Members"):
            if needed not in parts:
                raise ConfError(path, first_line, "HA group VirtualToken%s has no VirtualToken%s%s: every group needs "
                                "Label, SN and Members (recreate it with lunacm hagroup)" % (index, index, needed))
        label, label_line = parts["Label"]
        if label == "":
            raise ConfError(path, label_line, "VirtualToken%sLabel is empty: every HA group needs a label" % index)
        if label in labels:
            raise ConfError(path, label_line, "HA group label %r is used twice (also on line %d): labels must be "
                            "unique" % (label, labels[label]))
        labels[label] = label_line
        sn, sn_line = parts["SN"]
        if not _SERIAL_RE.match(sn):
            raise ConfError(path, sn_line, "VirtualToken%sSN must be the group serial (digits only), got %r" % (index, sn))
        members, members_line = parts["Members"]
        groups.append({
            "name": label,
            "index": int(index),
            "group_serial": sn,
            "partitions": _serial_list(members, path, members_line, "VirtualToken%sMembers" % index),
            "synchronize": _sync_flag(sections, label, path),
            "line": label_line,
        })
    ha_conf = dict((key, entry[0]) for key, entry in sections.get("HAConfiguration", {}).items())
    return {"ha_groups": groups, "ha_configuration": ha_conf}


def _sync_flag(sections, label, path):
    entry = sections.get("HASynchronize", {}).get(label)
    if entry is None:
        return None
    value, line = entry
    if value not in ("0", "1"):
        raise ConfError(path, line, "HASynchronize %s must be 0 or 1, got %r" % (label, value))
    return value == "1"


def read_ha_groups(path):
    """Read and parse a Chrystoki.conf file (ConfError for anything malformed)."""
    try:
        with open(path, "rb") as handle:
            data = handle.read()
    except (IOError, OSError) as exc:
        raise ConfError(path, None, "cannot read the file: %s" % (exc.strerror or exc))
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError:
        text = data.decode("latin-1")
    return ha_groups_from_conf(parse_conf(text, path), path)


def partition_owners(facts):
    """HSM facts (a list, or a mapping serial -> facts) -> {partition serial: [HSM serials]}.

    Only the fields the mapping needs are read (serial, partitions[].serial), so facts from
    hsm_info, fleet_info or a fleet file all work.
    """
    if isinstance(facts, Mapping):
        items = []
        for key, hsm in facts.items():
            if isinstance(hsm, Mapping) and "serial" not in hsm:
                hsm = dict(hsm, serial=key)
            items.append(hsm)
    elif isinstance(facts, Sequence) and not isinstance(facts, (str, bytes)):
        items = list(facts)
    else:
        raise ValueError("facts: expected a list of HSM facts (hsm_info's hsm, fleet_info's hsms), got %s"
                         % type(facts).__name__)
    owners = {}
    for index, hsm in enumerate(items):
        if not isinstance(hsm, Mapping) or hsm.get("serial") in (None, ""):
            raise ValueError("facts[%d]: every HSM needs its 'serial' (see docs/facts.md)" % index)
        serial = str(hsm["serial"]).strip()
        partitions = hsm.get("partitions") or []
        if isinstance(partitions, (str, bytes)) or not isinstance(partitions, Sequence):
            raise ValueError("facts[%d] (HSM %s): 'partitions' must be a list" % (index, serial))
        for part in partitions:
            if not isinstance(part, Mapping) or part.get("serial") in (None, ""):
                continue  # a fleet file may leave partition serials to the appliance
            owned = owners.setdefault(str(part["serial"]).strip(), [])
            if serial not in owned:
                owned.append(serial)
    return owners


def map_ha_groups(groups, owners):
    """Add members (HSM serials), unmapped and ambiguous partition serials to each group."""
    out = []
    for group in groups:
        members = []
        unmapped = []
        ambiguous = []
        for pserial in group["partitions"]:
            hsms = owners.get(pserial, [])
            if not hsms:
                unmapped.append(pserial)
            elif len(hsms) > 1:
                ambiguous.append({"partition": pserial, "hsms": list(hsms)})
            elif hsms[0] not in members:
                members.append(hsms[0])
        mapped = dict(group)
        mapped.update({"members": members, "unmapped": unmapped, "ambiguous": ambiguous})
        out.append(mapped)
    return out
