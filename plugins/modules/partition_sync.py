#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright (c) hsmops.luna contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import absolute_import, division, print_function

__metaclass__ = type

DOCUMENTATION = r"""
module: partition_sync
short_description: Bring one partition in line with its HA peers by cloning what it lacks
version_added: 0.1.0
description:
  - Compares the objects of one partition on the appliance's HSM with the same partition on its
    HA peers and clones every object the peers hold and it lacks (the appliance's
    C(synchronize) operation), as HA replication would.
  - Before anything is cloned the rules engine decides, per peer, whether cloning into this HSM is
    possible (C(clone_verdict)) and, per object, whether this HSM may receive it
    (C(object_clone_refusal)). A mismatch of SFF state fails with C(CKR_DATA_INVALID), a
    different cloning domain with C(CKR_CERTIFICATE_INVALID), naming both HSMs and what to do;
    nothing is cloned then.
  - Objects are only added, never removed.
author:
  - hsmops engineers (@hsmops)
extends_documentation_fragment:
  - hsmops.luna.connection
  - hsmops.luna.connection.SO_PASSWORD
  - hsmops.luna.attributes
  - hsmops.luna.attributes.ACTIONGROUP_LUNA
attributes:
  check_mode:
    support: full
    details:
      - Reports what would be cloned (RV(cloned), RV(objects)) without cloning.
  diff_mode:
    support: full
  idempotent:
    support: full
options:
  partition:
    description:
      - Label (or serial) of the partition on this appliance to bring in line.
    type: str
    required: true
  peers:
    description:
      - The HA peers to copy from. Connection settings not given fall back to the module's own
        (O(url) aside, which every peer needs).
    type: list
    elements: dict
    required: true
    suboptions:
      url:
        description: Base URL of the peer appliance.
        type: str
        required: true
      partition:
        description: Label (or serial) of the partition on the peer; defaults to O(partition).
        type: str
      name:
        description: Name of the peer in messages (for example its inventory name).
        type: str
      username:
        description: Appliance user on the peer.
        type: str
      password:
        description: Password of that user on the peer. Never logged or returned.
        type: str
      ca_path:
        description: CA file that signed the peer's certificate.
        type: path
      validate_certs:
        description: Verify the peer's TLS certificate.
        type: bool
      timeout:
        description: Seconds to wait for each HTTP answer of the peer.
        type: int
seealso:
  - module: hsmops.luna.partition
  - module: hsmops.luna.ha_group_info
"""

EXAMPLES = r"""
- name: Give the re-initialised east_2 back what its HA peer holds
  hsmops.luna.partition_sync:
    url: https://hsm2.example.com:8443
    password: "{{ appliance_admin_password }}"
    ca_path: /etc/pki/luna-ca.pem
    so_password: "{{ hsm_so_password }}"
    partition: payments
    peers:
      - url: https://hsm1.example.com:8443
        name: east_1

- name: Only report what would be cloned
  hsmops.luna.partition_sync:
    url: https://hsm2.example.com:8443
    password: "{{ appliance_admin_password }}"
    partition: payments
    peers:
      - url: https://hsm1.example.com:8443
        partition: payments
  check_mode: true
  register: pending
"""

RETURN = r"""
cloned:
  description: Number of objects cloned into the partition (in check mode, that would be).
  returned: success
  type: int
  sample: 2
object_count:
  description: Objects in the partition after the task (in check mode, predicted).
  returned: success
  type: int
  sample: 2
objects:
  description: The objects cloned (or that would be), each with the peer HSM it comes from.
  returned: success
  type: list
  elements: dict
  sample: [{"label": "pay_sign", "class": "private_key", "fingerprint": "e1-pay-sign", "from": "154701"}]
peers:
  description: The rules engine's verdict per peer (source) for cloning into this HSM.
  returned: always
  type: list
  elements: dict
  sample: [{"peer": "154701", "partition": "payments", "possible": true, "return_code": null, "reasons": []}]
refusals:
  description: Why synchronising was refused, each with the reason code, the HSM, the CKR return code and the peer.
  returned: failure
  type: list
  elements: dict
  sample: [{"code": "SFF_MISMATCH", "serial": "154702", "return_code": "CKR_DATA_INVALID", "peer": "154701", "message": "..."}]
return_code:
  description: The PKCS#11 return code the refusal stands for (first refusal).
  returned: failure
  type: str
  sample: CKR_DATA_INVALID
partition:
  description: Serial and label of the partition on this appliance.
  returned: success
  type: dict
  sample: {"serial": "1000000", "label": "payments"}
serial:
  description: Serial of the appliance's HSM.
  returned: success
  type: str
  sample: "154702"
"""

from ansible.module_utils.basic import AnsibleModule

from ansible_collections.hsmops.luna.plugins.module_utils.luna_client import (
    LUNA_CONNECTION_SPEC,
    SO_PASSWORD_SPEC,
    LunaError,
    client_from_params,
)
from ansible_collections.hsmops.luna.plugins.module_utils.luna_partitions import (
    error_fields,
    gather_with_partition,
    hsm_where,
    missing_partition_message,
    refusal_text,
    sync_plan,
)
from ansible_collections.hsmops.luna.plugins.module_utils.sff_rules import FactError

PEER_SPEC = dict(
    url=dict(type="str", required=True),
    partition=dict(type="str"),
    name=dict(type="str"),
    username=dict(type="str"),
    password=dict(type="str", no_log=True),
    ca_path=dict(type="path"),
    validate_certs=dict(type="bool"),
    timeout=dict(type="int"),
)


def gather_peers(module, facts):
    """[(peer facts, peer partition facts with objects)]; fails naming the peer on any problem."""
    out = []
    for index, peer in enumerate(module.params["peers"]):
        label = peer.get("partition") or module.params["partition"]
        keys = ("url", "username", "password", "ca_path", "validate_certs", "timeout", "name")
        overrides = dict((k, peer.get(k)) for k in keys)
        try:
            with client_from_params(module.params, **overrides) as peer_client:
                peer_facts, peer_part = gather_with_partition(peer_client, label, gather_objects=True)
        except LunaError as exc:
            module.fail_json(msg="peers[%d]: cannot read the peer: %s" % (index, exc), **error_fields(exc))
        where = hsm_where(peer_facts, peer["url"])
        if peer_part is None:
            module.fail_json(msg="peers[%d]: %s" % (index, missing_partition_message(peer_facts, label, where)))
        if peer_facts["serial"] == facts["serial"]:
            module.fail_json(msg="peers[%d]: %s is the HSM being synchronised itself; list its HA peers" % (index, where))
        out.append((peer_facts, peer_part))
    return out


def run(module, client):
    params = module.params
    facts, part = gather_with_partition(client, params["partition"], gather_objects=True)
    where = hsm_where(facts, client.base_url)
    if part is None:
        module.fail_json(msg=missing_partition_message(facts, params["partition"], where), serial=facts["serial"])
    ident = {"serial": part["serial"], "label": part["label"]}
    peers = gather_peers(module, facts)
    plan = sync_plan(facts, part, peers)
    if plan["refusals"]:
        module.fail_json(
            msg="%s, partition %s: synchronising from its peers is refused, nothing was cloned: %s" % (
                where, part["label"], refusal_text(plan["refusals"])),
            refusals=plan["refusals"], return_code=plan["refusals"][0].get("return_code"),
            peers=plan["verdicts"], partition=ident, serial=facts["serial"])

    missing = plan["missing"]
    before = sorted(o["fingerprint"] for o in part["objects"])
    cloned = len(missing)
    object_count = len(before) + cloned
    after = sorted(before + [o["fingerprint"] for o in missing])
    if missing and not module.check_mode:
        client.so_login(params["so_password"])
        targets = [{"hsm": peer_facts["serial"], "partition": peer_part["serial"]} for peer_facts, peer_part in peers]
        answer = client.synchronize(part["serial"], targets)
        cloned = int(answer.get("cloned", 0))
        objects = client.get_partition_objects(part["serial"])
        object_count = len(objects)
        after = sorted(o["fingerprint"] for o in objects)
        if cloned != len(missing):
            module.warn("%s, partition %s: the appliance cloned %d object(s) where %d were missing"
                        % (where, part["label"], cloned, len(missing)))

    result = dict(changed=bool(missing), cloned=cloned, object_count=object_count, objects=missing,
                  peers=plan["verdicts"], partition=ident, serial=facts["serial"])
    if module._diff:
        result["diff"] = {
            "before": {"objects": before}, "after": {"objects": after},
            "before_header": "%s partition %s" % (where, part["label"]),
            "after_header": "%s partition %s" % (where, part["label"]),
        }
    module.exit_json(**result)


def main():
    argument_spec = dict(LUNA_CONNECTION_SPEC)
    argument_spec.update(SO_PASSWORD_SPEC)
    argument_spec.update(
        partition=dict(type="str", required=True),
        peers=dict(type="list", elements="dict", required=True, options=PEER_SPEC),
    )
    module = AnsibleModule(argument_spec=argument_spec, supports_check_mode=True)
    if not module.params["peers"]:
        module.fail_json(msg="option 'peers' is empty: list at least one HA peer to copy from")
    try:
        with client_from_params(module.params) as client:
            run(module, client)
    except LunaError as exc:
        module.fail_json(msg="Partition %s: %s" % (module.params["partition"], exc), **error_fields(exc))
    except FactError as exc:
        module.fail_json(msg="An appliance reported facts the collection cannot use: %s" % exc)


if __name__ == "__main__":
    main()
