# -*- coding: utf-8 -*-
# Copyright (c) hsmops.luna contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""The SFF change plan: given a fleet, its HA groups and the HSMs that should end with SFF
on (or off), refuse with every reason or return ordered waves.

Pure Python, standard library only. Every compatibility decision comes from sff_rules.
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

from collections.abc import Mapping, Sequence

from ansible_collections.hsmops.luna.plugins.module_utils.sff_rules import (
    FactError,
    capability_refusals,
    clone_verdict,
    reason,
    sff_active,
    validate_fleet,
    with_facts,
)

APPLY_CUF = "apply_cuf"
ENABLE_POLICY = "enable_policy"
DISABLE_POLICY = "disable_policy"
STATES = ("on", "off")


def validate_ha_groups(ha_groups, hsms):
    """[{name, members: [HSM serials]}] -> fresh list; every member must be in the fleet."""
    if ha_groups is None:
        return []
    if isinstance(ha_groups, Mapping):
        # {name: [serials]} is accepted too: it is what inventory groups look like.
        ha_groups = [{"name": k, "members": v} for k, v in ha_groups.items()]
    if isinstance(ha_groups, (str, bytes)) or not isinstance(ha_groups, Sequence):
        raise FactError("ha_groups", "expected a list of {name, members: [HSM serials]}")
    groups = []
    names = set()
    for index, group in enumerate(ha_groups):
        where = "ha_groups[%d]" % index
        if not isinstance(group, Mapping):
            raise FactError(where, "each HA group must be a mapping with 'name' and 'members'")
        name = group.get("name")
        if name is None or str(name).strip() == "":
            raise FactError(where + ".name", "missing; every HA group needs a name")
        name = str(name)
        if name in names:
            raise FactError(where + ".name", "HA group %r is listed twice" % name)
        names.add(name)
        members = group.get("members")
        if isinstance(members, (str, bytes)) or not isinstance(members, Sequence):
            raise FactError(where + ".members", "HA group %r: expected a list of HSM serials" % name)
        clean = []
        for member in members:
            serial = str(member).strip()
            if serial not in hsms:
                raise FactError(
                    where + ".members", "HA group %r names HSM %s, which is not in the fleet facts: "
                    "gather facts for it (an unreachable peer cannot be proven compatible) or fix the group" % (name, serial),
                    serial)
            if serial not in clean:
                clean.append(serial)
        groups.append({"name": name, "members": clean})
    return groups


def _targets(targets):
    if targets is None:
        return []
    if isinstance(targets, (str, bytes, int)):
        targets = [targets]
    if not isinstance(targets, Sequence):
        raise FactError("targets", "expected a list of HSM serials")
    out = []
    seen = set()  # a set, not `in out`: fleets of 10,000+ targets stay linear
    for target in targets:
        if isinstance(target, Mapping):  # HSM facts given as targets: use their serial
            target = target.get("serial")
        if target is None or isinstance(target, bool) or str(target).strip() == "":
            raise FactError("targets", "every target must be an HSM serial, got %r" % (target,))
        serial = str(target).strip()
        if serial not in seen:
            seen.add(serial)
            out.append(serial)
    return out


def _uniform(values):
    return len(set(values)) <= 1


def _fingerprints(facts, cache):
    """The fingerprints of every object on an HSM, computed once per plan."""
    found = cache.get(facts["serial"])
    if found is None:
        found = cache[facts["serial"]] = frozenset(
            obj["fingerprint"] for part in facts["partitions"] for obj in part["objects"])
    return found


def _key_loss_refusals(serial, hsms, peers, group_names, wiped, cache=None):
    """Applying the CUF wipes the HSM: every object on it must live on a peer that stays up
    and can clone back to it (same domain, same SFF state as the wiped HSM after the CUF)."""
    facts = hsms[serial]
    after = with_facts(facts, sff_capability=True, sff_policy=False)  # right after the CUF: policy still off
    cache = {} if cache is None else cache
    covered = set()
    for peer in peers:
        if peer == serial or peer in wiped:
            continue
        verdict = clone_verdict(hsms[peer], after)
        if not verdict["possible"]:
            continue
        covered.update(_fingerprints(hsms[peer], cache))
    found = []
    for part in facts["partitions"]:
        missing = [obj for obj in part["objects"] if obj["fingerprint"] not in covered]
        if missing:
            where = "its HA group(s) %s" % ", ".join(group_names) if group_names else "no HA group"
            found.append(reason(
                "KEYS_WOULD_BE_LOST", serial,
                "Applying the CUF wipes HSM %s, and %d object(s) in partition %s exist on no HA peer that can "
                "clone them back (%s): replicate or back them up first, or accept the loss explicitly."
                % (serial, len(missing), part["label"] or part["serial"], where)))
    return found


def rollout_targets(fleet, candidates=None, ha_groups=None):
    """The HSMs to switch SFF on for: candidates (serials or facts; None: the whole fleet),
    widened to every member of an HA group a candidate belongs to, then narrowed to those the
    rules call SFF capable and that are not SFF active yet. Serials, in fleet order.

    Widening to whole HA groups means a peer that cannot get SFF is not silently left out:
    sff_change_plan then refuses with HA_PEER_WOULD_DIVERGE instead of splitting the group.
    """
    hsms = validate_fleet(fleet)
    groups = validate_ha_groups(ha_groups, hsms)
    if candidates is None:
        chosen = set(hsms)
    else:
        chosen = set()
        for serial in _targets(candidates):
            if serial not in hsms:
                raise FactError("targets", "HSM %s was selected but is not in the fleet facts" % serial, serial)
            chosen.add(serial)
    for group in groups:
        if chosen.intersection(group["members"]):
            chosen.update(group["members"])
    out = []
    for serial, facts in hsms.items():
        if serial in chosen and not capability_refusals(facts) and not sff_active(facts):
            out.append(serial)
    return out


def sff_change_plan(fleet, targets, ha_groups=None, state="on", accept_key_loss=False):
    """Plan switching SFF backup on (or off) for the target HSMs.

    Returns {safe, refusals, waves, wave_details, unchanged, groups, steps}. When any
    refusal is found the plan is not safe and has no waves: nothing may be changed.
    Waves: at most one CUF per HA group per wave (the group keeps serving), every CUF
    before any policy change, and each HA group's policy switched in one wave so no group
    is left mixed at the end of a wave.
    """
    if state not in STATES:
        raise FactError("state", "expected 'on' or 'off', got %r" % (state,))
    hsms = validate_fleet(fleet)
    groups = validate_ha_groups(ha_groups, hsms)
    wanted = _targets(targets)
    wanted_set = set(wanted)  # membership tests below run once per HA group member

    refusals = []
    steps = {}
    unchanged = []
    end_active = {}
    for serial in wanted:
        if serial not in hsms:
            refusals.append(reason(
                "UNKNOWN_HSM", serial,
                "HSM %s is a target but is not in the fleet facts: check the serial or gather its facts." % serial))
            continue
        facts = hsms[serial]
        active = sff_active(facts)
        if state == "on":
            if active:
                unchanged.append(serial)
                continue
            found = capability_refusals(facts)
            if found:
                refusals.extend(found)
                continue
            if not facts["sff_capability"]:
                # The CUF re-initialises the HSM and policy 38 comes back off (the state the key-loss
                # check assumes), so the policy is switched on afterwards even if the facts said "on".
                actions = [APPLY_CUF, ENABLE_POLICY]
            else:
                actions = [ENABLE_POLICY]
            # CUF on and policy on but not active only happens on too-old firmware: refused above.
            steps[serial] = actions
            end_active[serial] = True
        else:
            if not active:
                unchanged.append(serial)
                continue
            steps[serial] = [DISABLE_POLICY]
            end_active[serial] = False

    def final(serial):
        if serial in end_active:
            return end_active[serial]
        return sff_active(hsms[serial])

    groups_of = {}
    members_of = {}
    for group in groups:
        members_of[group["name"]] = group["members"]
        for member in group["members"]:
            groups_of.setdefault(member, []).append(group["name"])

    group_report = []
    for group in groups:
        members = group["members"]
        before = [sff_active(hsms[m]) for m in members]
        after = [final(m) for m in members]
        touched = any(m in steps for m in members)
        group_report.append({
            "name": group["name"],
            "members": list(members),
            "touched": touched,
            "sff_uniform_before": _uniform(before),
            "sff_uniform_after": _uniform(after),
        })
        if _uniform(after) or not (touched or any(m in wanted_set for m in members)):
            continue
        on = [m for m, a in zip(members, after) if a]
        off = [m for m, a in zip(members, after) if not a]
        lagging = off if state == "on" else on
        changed = on if state == "on" else off
        for member in lagging:
            refusals.append(reason(
                "HA_PEER_WOULD_DIVERGE", member,
                "HSM %s in HA group %s would end with SFF %s while %s would have it %s: HA replication between "
                "them would fail with CKR_DATA_INVALID. Target every member of %s together, or none."
                % (member, group["name"], "off" if state == "on" else "on", ", ".join(changed),
                   "on" if state == "on" else "off", group["name"])))

    # Key loss: the CUF wipes every partition; each object must survive on a peer.
    if not accept_key_loss:
        fingerprints = {}
        for serial, actions in steps.items():
            if APPLY_CUF in actions:
                peers = [m for name in groups_of.get(serial, ()) for m in members_of[name]]
                refusals.extend(_key_loss_refusals(serial, hsms, peers, groups_of.get(serial, []), wiped=(),
                                                   cache=fingerprints))

    safe = not refusals
    waves = []
    wave_details = []
    if safe:
        cuf_waves = []  # each: (serials, set of group names used)
        for serial in wanted:
            if APPLY_CUF not in steps.get(serial, ()):
                continue
            mine = set(groups_of.get(serial, ()))
            for wave in cuf_waves:
                if not (wave[1] & mine):
                    wave[0].append(serial)
                    wave[1].update(mine)
                    break
            else:
                cuf_waves.append(([serial], set(mine)))
        for serials, _groups_used in cuf_waves:
            waves.append(serials)
            wave_details.append({"wave": len(waves), "action": APPLY_CUF, "serials": list(serials)})
        policy_action = ENABLE_POLICY if state == "on" else DISABLE_POLICY
        policy_wave = [s for s in wanted if policy_action in steps.get(s, ())]
        if policy_wave:
            waves.append(policy_wave)
            wave_details.append({"wave": len(waves), "action": policy_action, "serials": list(policy_wave)})

    return {
        "safe": safe,
        "state": state,
        "refusals": refusals,
        "waves": waves if safe else [],
        "wave_details": wave_details,
        "steps": [{"serial": s, "actions": list(steps[s]), "ha_groups": list(groups_of.get(s, ()))}
                  for s in wanted if s in steps] if safe else [],
        "unchanged": unchanged,
        "groups": group_report,
    }


def restore_plan(group_facts, serial, ha_partitions=None, accept_key_loss=False, names=None):
    """What an HSM must hold again once its CUF has wiped it, from its HA group's facts read right
    before: one item per partition, its own first, then those every HA peer holds that it lacks
    (``ha_partitions``: the group's declared partition labels; empty: every label all peers hold).

    Each item: ``label``, ``policies`` (its own, else the first peer's that has some), ``expected``
    (objects to find after re-synchronising: as many as it had, and as many as any peer holds;
    with ``accept_key_loss`` only the peers' count), ``peers`` (the peers holding the label),
    ``source`` (the peer holding the most of its objects, the first in group order on a tie;
    None when no peer holds it), ``had`` (its own object count or None) and ``serial_before``
    (its own partition serial or None). ``names`` maps serials to the names to report (e.g.
    inventory hosts); serials otherwise.
    """
    hsms = validate_fleet(group_facts)
    serial = str(serial)
    if serial not in hsms:
        raise FactError("serial", "HSM %s is not among the HA group's facts given" % serial, serial)
    names = names or {}
    me = hsms[serial]
    peers = [facts for key, facts in hsms.items() if key != serial]
    if ha_partitions:
        ha_labels = [str(label) for label in ha_partitions]
    else:
        ha_labels = None
        for peer in peers:
            labels = [part["label"] for part in peer["partitions"]]
            ha_labels = labels if ha_labels is None else [label for label in ha_labels if label in labels]
        ha_labels = ha_labels or []
    order = []
    for label in [part["label"] for part in me["partitions"]] + ha_labels:
        if label not in order:
            order.append(label)
    out = []
    for label in order:
        own = next((part for part in me["partitions"] if part["label"] == label), None)
        counts = [own["object_count"] if own is not None and not accept_key_loss else 0]
        policies = dict(own["policies"]) if own is not None else {}
        holders, source, best = [], None, -1
        for peer in peers:
            for part in peer["partitions"]:
                if part["label"] != label:
                    continue
                holders.append(names.get(peer["serial"], peer["serial"]))
                counts.append(part["object_count"])
                if own is None and not policies:
                    policies = dict(part["policies"])
                if part["object_count"] > best:
                    source, best = names.get(peer["serial"], peer["serial"]), part["object_count"]
        out.append({
            "label": label, "policies": policies, "expected": max(counts), "peers": holders, "source": source,
            "had": own["object_count"] if own is not None else None,
            "serial_before": own["serial"] if own is not None else None,
        })
    return out
