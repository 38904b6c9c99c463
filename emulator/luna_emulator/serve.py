# Copyright (c) hsmops.luna contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""`luna-emulator serve`: one process, one uvicorn server, one listening socket per appliance.

State dir layout (docs/emulator.md): state.db, ca.pem, server.pem, server.key, vendor.key,
vendor.pub, pid, inventory.yml, Chrystoki.conf, ready.
"""

import asyncio
import logging
import os
import resource
import signal
import socket
import sys
import time

import uvicorn
import yaml

from luna_emulator import pki
from luna_emulator.app import build_app
from luna_emulator.fleet import load_fleet
from luna_emulator.runtime import Runtime
from luna_emulator.store import Store

log = logging.getLogger("luna_emulator")


def raise_nofile_limit():
    """1,000 appliances need 1,000 listening sockets plus their connections."""
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if hard == resource.RLIM_INFINITY or soft < hard:
        try:
            resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))
        except (ValueError, OSError):
            pass
    return resource.getrlimit(resource.RLIMIT_NOFILE)[0]


def _listen(port):
    # IPPROTO_TCP spelled out: asyncio turns Nagle off (TCP_NODELAY) on accepted connections only
    # when the socket says it is TCP, and with Nagle on every answer whose headers and body are
    # written separately waits ~40 ms for the client's delayed ACK.
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM, socket.IPPROTO_TCP)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind(("127.0.0.1", port))
    sock.listen(1024)
    sock.setblocking(False)
    return sock


def bind_sockets(store, serials, base_port):
    """Consecutive ports from base_port, or (base_port 0) the previous start's ports when free, else any free port."""
    previous = {r["serial"]: r["port"] for r in store.conn().execute("SELECT serial, port FROM hsms")}
    sockets = []
    try:
        for index, serial in enumerate(serials):
            if base_port:
                sockets.append(_listen(base_port + index))
                continue
            sock = None
            if previous.get(serial):
                try:
                    sock = _listen(previous[serial])
                except OSError:
                    sock = None
            sockets.append(sock or _listen(0))
    except OSError:
        for sock in sockets:
            sock.close()
        raise
    ports = [s.getsockname()[1] for s in sockets]
    with store.write() as db:
        db.executemany("UPDATE hsms SET port = ? WHERE serial = ?", list(zip(ports, serials)))
    return sockets, ports


def _atomic_write(path, text, mode=0o644):
    tmp = "%s.tmp" % path
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, mode)
    with os.fdopen(fd, "w", encoding="utf-8") as handle:
        handle.write(text)
        handle.flush()
        os.fsync(handle.fileno())
    os.chmod(tmp, mode)
    os.replace(tmp, path)


def inventory_text(store, state_dir):
    """Ansible inventory: one host per HSM (by label), one group per HA group, luna_appliances for all."""
    users = store.meta("users")
    ha_groups = store.meta("ha_groups")
    ca_path = os.path.join(os.path.abspath(state_dir), "ca.pem")
    rows = store.conn().execute("SELECT serial, label, port, so_password FROM hsms ORDER BY position").fetchall()
    label = {r["serial"]: r["label"] for r in rows}
    hosts = {}
    for r in rows:
        hosts[r["label"]] = {
            "luna_url": "https://127.0.0.1:%d" % r["port"],
            "luna_ca_path": ca_path,
            "luna_username": "admin",
            "luna_password": users["admin"],
            "luna_so_password": r["so_password"],
            "luna_serial": r["serial"],
            "ansible_connection": "local",
        }
    children = {"luna_appliances": {"hosts": hosts}}
    for group in ha_groups:
        children[group["name"]] = {
            "hosts": {label[m]: None for m in group["members"]},
            "vars": {"luna_ha_group": group["name"]},
        }
    header = ("# Written by luna-emulator at every start (ports may change): do not edit.\n"
              "# Holds this emulated fleet's credentials: keep it private.\n")
    dumper = getattr(yaml, "CSafeDumper", yaml.SafeDumper)  # libyaml when present: 1,000 hosts in a blink
    return header + yaml.dump({"all": {"children": children}}, Dumper=dumper, sort_keys=False,
                              default_flow_style=False)


def chrystoki_text(store, ports):
    """A Luna client configuration: one LunaSA server per appliance, one VirtualToken per HA group.

    HA members are partitions: for each group, the partitions with the first member's first
    partition label; the group serial is "1" + the first member partition's serial.
    """
    conn = store.conn()
    hsms = conn.execute("SELECT serial, label FROM hsms ORDER BY position").fetchall()
    ha_groups = store.meta("ha_groups")
    lines = ["# Written by luna-emulator at every start from the fleet's current partitions.",
             "Chrystoki2 = {", "   LibUNIX64 = /usr/safenet/lunaclient/lib/libCryptoki2_64.so;", "}", "",
             "LunaSA Client = {", "   NetClient = 1;", "   ServerCAFile = ca.pem;"]
    for index, (row, port) in enumerate(zip(hsms, ports)):
        lines += ["   ServerName%02d = 127.0.0.1;" % index, "   ServerPort%02d = %d;" % (index, port),
                  "   ServerHtl%02d = 0;" % index]
    lines += ["}", ""]
    tokens = []
    for group in ha_groups:
        first = conn.execute("SELECT label FROM partitions WHERE hsm = ? ORDER BY CAST(serial AS INTEGER) LIMIT 1",
                             (group["members"][0],)).fetchone()
        if first is None:
            continue
        members = []
        for serial in group["members"]:
            row = conn.execute("SELECT serial FROM partitions WHERE hsm = ? AND label = ?",
                               (serial, first["label"])).fetchone()
            if row is not None:
                members.append(row["serial"])
        tokens.append((group["name"], "1" + members[0], members))
    lines.append("VirtualToken = {")
    for index, (name, group_serial, members) in enumerate(tokens):
        lines += ["   VirtualToken%02dLabel = %s;" % (index, name), "   VirtualToken%02dSN = %s;" % (index, group_serial),
                  "   VirtualToken%02dMembers = %s;" % (index, ",".join(members))]
    lines += ["   VirtualTokenActiveRecovery = activeEnhanced;", "}", "", "HASynchronize = {"]
    lines += ["   %s = 1;" % name for name, _, _ in tokens]
    lines += ["}", "", "HAConfiguration = {", "   HAOnly = 1;", "   haLogStatus = enabled;", "   reconnAtt = -1;",
              "   AutoReconnectInterval = 60;", "}", ""]
    return "\n".join(lines)


def prepare_state(state_dir, fleet_path):
    """First start: fleet file -> state.db, certificates, vendor key. Later starts: reuse them."""
    os.makedirs(state_dir, exist_ok=True)
    os.chmod(state_dir, 0o700)
    db_path = os.path.join(state_dir, "state.db")
    store = Store(db_path)
    if not os.path.exists(db_path) or store.meta_missing():
        if fleet_path is None:
            raise SystemExit("luna-emulator: %s holds no fleet yet: give --fleet FLEET.yml" % state_dir)
        fleet = load_fleet(fleet_path)
        started = time.monotonic()
        store.create(fleet)
        log.info("fleet %s built from %s: %d HSMs in %.2fs", fleet["name"], fleet_path, len(fleet["hsms"]),
                 time.monotonic() - started)
    else:
        if fleet_path is not None:
            log.info("resuming the fleet in %s; the fleet file's initial state is not applied again", state_dir)
    name = store.meta("fleet_name")
    pki.ensure_tls(state_dir, name)
    pki.ensure_vendor_key(state_dir)
    return store


def serve(state_dir, fleet_path, base_port, log_requests=True):
    state_dir = os.path.abspath(state_dir)
    for stale in ("ready", "inventory.yml", "Chrystoki.conf"):
        try:
            os.unlink(os.path.join(state_dir, stale))
        except FileNotFoundError:
            pass
    os.makedirs(state_dir, exist_ok=True)
    pid_path = os.path.join(state_dir, "pid")
    _atomic_write(pid_path, "%d\n" % os.getpid())
    try:
        limit = raise_nofile_limit()
        store = prepare_state(state_dir, fleet_path)
        rt = Runtime(store)
        rt.fail_interrupted_tasks()
        if len(rt.serials) + 64 > limit:
            raise SystemExit("luna-emulator: %d appliances need more open files than the limit of %d allows"
                             % (len(rt.serials), limit))
        sockets, ports = bind_sockets(store, rt.serials, base_port)
        for serial, port in zip(rt.serials, ports):
            rt.port_to_serial[port] = serial
            rt.serial_to_port[serial] = port
        app = build_app(rt, state_dir, log_requests)
        config = uvicorn.Config(
            app, ssl_certfile=os.path.join(state_dir, "server.pem"), ssl_keyfile=os.path.join(state_dir, "server.key"),
            lifespan="off", access_log=False, log_config=None, server_header=False, timeout_graceful_shutdown=3,
            timeout_keep_alive=30, backlog=1024)
        server = uvicorn.Server(config)

        async def main():
            watcher = asyncio.get_running_loop().create_task(_announce_ready(server, store, state_dir, ports))
            try:
                await server.serve(sockets=sockets)
            finally:
                watcher.cancel()
                for task in list(rt.tasks):
                    task.cancel()

        # uvicorn re-raises the signal that stopped it once it is done; with these handlers that
        # ends here, so the state is closed and pid/ready removed before a clean exit 0.
        stopped_by = []
        for signum in (signal.SIGTERM, signal.SIGINT):
            signal.signal(signum, lambda number, frame: stopped_by.append(number))
        asyncio.run(main())
        store.close()
    finally:
        for name in ("ready", "pid"):
            try:
                os.unlink(os.path.join(state_dir, name))
            except FileNotFoundError:
                pass
    log.info("stopped")


async def _announce_ready(server, store, state_dir, ports):
    while not server.started:
        if server.should_exit:
            return
        await asyncio.sleep(0.01)
    _atomic_write(os.path.join(state_dir, "inventory.yml"), inventory_text(store, state_dir), 0o600)
    _atomic_write(os.path.join(state_dir, "Chrystoki.conf"), chrystoki_text(store, ports))
    _atomic_write(os.path.join(state_dir, "ready"), "%d\n" % len(ports))
    log.info("ready: %d appliances listening on 127.0.0.1 (ports %d..%d)", len(ports), min(ports), max(ports))
    print("luna-emulator ready: %d appliances, inventory %s" % (len(ports), os.path.join(state_dir, "inventory.yml")),
          file=sys.stderr, flush=True)
