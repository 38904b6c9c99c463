# -*- coding: utf-8 -*-
# Copyright (c) hsmops.luna contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""No password, SO password or auth code in ansible-playbook -vvv output, results or diffs."""

from __future__ import absolute_import, division, print_function

__metaclass__ = type


def test_secrets_never_reach_vvv_output(emulator, ansible):
    cuf, auth_code = emulator.mint_cuf("154701")
    admin, so = emulator.admin_password, emulator.so_password
    urls = emulator.urls
    # Secrets live in a vars file, as they would in a vault: Ansible itself may quote task source lines.
    secrets = ansible.write("secrets.yml", "admin_pw: %s\nso_pw: %s\ncuf_code: %s\nwrong_so: WRONG-SO-SECRET-9\n"
                            % (admin, so, auth_code))
    play = """
- hosts: localhost
  gather_facts: false
  vars_files: ["{secrets}"]
  module_defaults:
    group/hsmops.luna.luna:
      password: "{{{{ admin_pw }}}}"
      so_password: "{{{{ so_pw }}}}"
      ca_path: "{ca}"
  tasks:
    - name: facts
      hsmops.luna.hsm_info:
        url: "{east1}"
    - name: fleet
      hsmops.luna.fleet_info:
        appliances:
          - {{url: "{east1}", password: "{{{{ admin_pw }}}}"}}
          - {{url: "{east2}"}}
    - name: capability
      hsmops.luna.hsm_capability:
        url: "{east1}"
        src: "{cuf}"
        auth_code: "{{{{ cuf_code }}}}"
        allow_zeroize: true
    - name: capability with the file of another HSM is refused
      hsmops.luna.hsm_capability:
        url: "{east2}"
        src: "{cuf}"
        auth_code: "{{{{ cuf_code }}}}"
        allow_zeroize: true
      ignore_errors: true
    - name: policy
      hsmops.luna.hsm_policy:
        url: "{west2}"
        policies: {{sff_backup: true}}
    - name: wrong SO password fails without echoing it
      hsmops.luna.hsm_policy:
        url: "{west2}"
        so_password: "{{{{ wrong_so }}}}"
        policies: {{sff_backup: false}}
      ignore_errors: true
    - name: group (refused, 154711 lacks the CUF)
      hsmops.luna.ha_group_policy:
        group: ha_west
        members:
          - {{url: "{west1}", so_password: "{{{{ so_pw }}}}"}}
          - {{url: "{west2}", password: "{{{{ admin_pw }}}}"}}
          - {{url: "{west3}"}}
        sff_backup: true
      ignore_errors: true
""".format(secrets=secrets, ca=emulator.ca_path, east1=urls["154701"], east2=urls["154702"], cuf=cuf,
           west1=urls["154711"], west2=urls["154712"], west3=urls["154713"])
    run = ansible.playbook(play, "-vvv", "--diff")
    assert run.rc == 0, run.output[-4000:]
    # The run did reach the appliances (changes happened), so the output is meaningful.
    assert "ok=7" in run.stdout and "changed=2" in run.stdout and "ignored=3" in run.stdout, run.stdout[-2000:]
    assert "wiped" in run.stdout and "HSMPLUGIN_LOGIN_FAILED" in run.stdout
    for secret in (admin, so, auth_code, "WRONG-SO-SECRET-9"):
        assert secret not in run.stdout and secret not in run.stderr, secret
