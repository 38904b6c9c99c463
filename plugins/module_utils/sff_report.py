# -*- coding: utf-8 -*-
# Copyright (c) hsmops.luna contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""The fleet compatibility report: per HSM, per pair, per HA group and per cloning domain.

Pure Python, standard library only. It only arranges the verdicts of sff_rules (sff_status,
clone_verdict, ha_verdict); it decides nothing itself.
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

from ansible_collections.hsmops.luna.plugins.module_utils.sff_plan import validate_ha_groups
from ansible_collections.hsmops.luna.plugins.module_utils.sff_rules import (
    FactError,
    clone_failure_code,
    clone_verdict,
    ha_verdict,
    sff_status,
    validate_fleet,
)


def _pair_entry(src, dst, groups, same_domain):
    verdict = clone_verdict(src, dst)
    return {
        "source": src["serial"],
        "target": dst["serial"],
        "ha_groups": list(groups),
        "same_domain": same_domain,
        "possible": verdict["possible"],
        "error": verdict["error"],
        "failure_code": clone_failure_code(verdict),
        "sff_interchange": verdict["sff_interchange"],
        "reasons": verdict["reasons"],
        "interchange_reasons": verdict["interchange_reasons"],
        "findings": verdict["findings"],
    }


def compat_report(fleet, ha_groups=None, domain_pairs=True):
    """{hsms, pairs, ha_groups, domains, summary} for a fleet.

    pairs: every pair of members of each HA group, plus (domain_pairs=True) every pair of HSMs
    sharing a cloning domain, each once, with its clone verdict. The work grows with the sum
    of the squares of group and domain sizes, never with the square of the fleet; for fleets
    with very large cloning domains, domain_pairs=False keeps it linear and the per-domain
    summary still says whether every pair in the domain can clone.
    """
    if not isinstance(domain_pairs, bool):
        raise FactError("domain_pairs", "expected true or false, got %r" % (domain_pairs,))
    hsms = validate_fleet(fleet)
    groups = validate_ha_groups(ha_groups, hsms)

    groups_of = {}
    for group in groups:
        for member in group["members"]:
            groups_of.setdefault(member, []).append(group["name"])

    hsm_rows = []
    by_domain = {}
    for serial, facts in hsms.items():
        status = sff_status(facts)
        by_domain.setdefault(facts["cloning_domain"], []).append(serial)
        hsm_rows.append({
            "serial": serial,
            "label": facts["label"],
            "firmware": facts["firmware"],
            "auth": facts["auth"],
            "cloning": facts["cloning"],
            "cloning_domain": facts["cloning_domain"],
            "ha_groups": list(groups_of.get(serial, ())),
            "sff_capable": status["sff_capable"],
            "sff_active": status["sff_active"],
            "reasons": status["reasons"],
            "findings": status["findings"],
        })

    pairs = []
    index_of = {}  # (a, b) with a before b in fleet order -> position in pairs
    order = {serial: i for i, serial in enumerate(hsms)}

    def add_pair(a, b, group_name):
        if order[a] > order[b]:
            a, b = b, a
        key = (a, b)
        if key in index_of:
            entry = pairs[index_of[key]]
            if group_name is not None and group_name not in entry["ha_groups"]:
                entry["ha_groups"].append(group_name)
            return
        same = hsms[a]["cloning_domain"] == hsms[b]["cloning_domain"]
        index_of[key] = len(pairs)
        pairs.append(_pair_entry(hsms[a], hsms[b], [group_name] if group_name is not None else [], same))

    group_rows = []
    for group in groups:
        members = group["members"]
        for i, a in enumerate(members):
            for b in members[i + 1:]:
                add_pair(a, b, group["name"])
        verdict = ha_verdict([hsms[m] for m in members], name=group["name"])
        group_rows.append({
            "name": group["name"],
            "members": list(members),
            "compatible": verdict["compatible"],
            "offenders": verdict["offenders"],
            "reasons": verdict["reasons"],
            "findings": verdict["findings"],
            "sff_active": verdict["sff_active"],
        })

    domain_rows = []
    for domain, members in by_domain.items():
        if domain_pairs:
            for i, a in enumerate(members):
                for b in members[i + 1:]:
                    add_pair(a, b, None)
        # A clone verdict within one domain depends only on each side's cloning type and SFF
        # activity, so one representative per kind answers for every pair of the domain.
        kinds = {}
        for serial in members:
            row = hsm_rows[order[serial]]
            kinds.setdefault((row["cloning"], row["sff_active"]), []).append(serial)
        reps = [group[0] for group in kinds.values()]
        reps += [group[1] for group in kinds.values() if len(group) > 1]
        reasons = []
        for i, a in enumerate(reps):
            for b in reps[i + 1:]:
                for code in clone_verdict(hsms[a], hsms[b])["reasons"]:
                    if code not in reasons:
                        reasons.append(code)
        domain_rows.append({
            "cloning_domain": domain,
            "members": list(members),
            "sff_active": [s for s in members if hsm_rows[order[s]]["sff_active"]],
            "clone_compatible": not reasons,
            "reasons": reasons,
        })

    summary = {
        "hsms": len(hsm_rows),
        "sff_capable": sum(1 for row in hsm_rows if row["sff_capable"]),
        "sff_active": sum(1 for row in hsm_rows if row["sff_active"]),
        "pairs": len(pairs),
        "pairs_blocked": sum(1 for pair in pairs if not pair["possible"]),
        "ha_groups": len(group_rows),
        "ha_groups_incompatible": sum(1 for row in group_rows if not row["compatible"]),
        "cloning_domains": len(domain_rows),
    }
    return {"hsms": hsm_rows, "pairs": pairs, "ha_groups": group_rows, "domains": domain_rows, "summary": summary}
