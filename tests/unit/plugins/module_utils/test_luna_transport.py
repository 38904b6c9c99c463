# -*- coding: utf-8 -*-
# Copyright (c) hsmops.luna contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""The client's transport against a real local HTTP/1.1 server (loopback, plain HTTP): one kept-alive
connection per appliance, a fresh one when the appliance closed the idle one, open_url through a
proxy. TLS itself is exercised by the integration tests against the emulated fleet."""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import json
import socket
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest

from ansible_collections.hsmops.luna.plugins.module_utils.luna_client import LunaClient, LunaError

SERIAL = "154701"


class Appliance(ThreadingHTTPServer):
    """A tiny appliance: session login, the HSM list, one write; counts TCP connections."""

    daemon_threads = True

    def __init__(self):
        ThreadingHTTPServer.__init__(self, ("127.0.0.1", 0), Handler)
        self.connections = 0
        self.requests = []
        self.close_after_answer = False  # close the connection after the next answer, without saying so
        self.closed_one = threading.Event()  # set when the server has closed a connection

    def shutdown_request(self, request):
        ThreadingHTTPServer.shutdown_request(self, request)
        self.closed_one.set()

    @property
    def url(self):
        return "http://127.0.0.1:%d" % self.server_address[1]


class Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def setup(self):
        BaseHTTPRequestHandler.setup(self)
        self.server.connections += 1

    def log_message(self, *args):
        pass

    def _answer(self, status, body=None, headers=None):
        raw = json.dumps(body).encode("utf-8") if body is not None else b""
        self.send_response(status)
        for key, value in (headers or {}).items():
            self.send_header(key, value)
        self.send_header("Content-Length", str(len(raw)))
        self.end_headers()
        self.wfile.write(raw)
        if self.server.close_after_answer:
            self.server.close_after_answer = False
            self.close_connection = True

    def _route(self):
        length = int(self.headers.get("Content-Length") or 0)
        body = self.rfile.read(length) if length else b""
        self.server.requests.append((self.command, self.path, self.headers.get("Authorization"), body))
        if self.path == "/auth/session":
            if self.command == "POST":
                return self._answer(204, headers={"Set-Cookie": "SESSION=tok; Path=/"})
            return self._answer(204)
        if self.path == "/api/lunasa/hsms":
            return self._answer(200, {"hsms": [{"id": SERIAL}]})
        if self.path == "/api/lunasa/hsms/%s/partitions" % SERIAL and self.command == "POST":
            return self._answer(201, {"id": "1000001"})
        return self._answer(404, {"id": "FRAMEWORK_RESOURCE_NOT_FOUND", "message": "no such thing", "status": "ERROR"})

    do_GET = do_POST = do_DELETE = _route


@pytest.fixture
def appliance():
    server = Appliance()
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield server
    server.shutdown()
    server.server_close()


@pytest.fixture(autouse=True)
def no_proxy_settings(monkeypatch):
    for name in ("http_proxy", "https_proxy", "all_proxy", "no_proxy"):
        monkeypatch.delenv(name, raising=False)
        monkeypatch.delenv(name.upper(), raising=False)


def client_for(appliance):
    return LunaClient(appliance.url, password="admin-pw", timeout=5)


def test_a_whole_run_uses_one_connection(appliance):
    with client_for(appliance) as client:
        for attempt in range(5):
            assert client.list_hsms() == [SERIAL]
        assert client.connections.opened == 1
    # login, five reads, logout: seven requests, one TCP connection.
    assert len(appliance.requests) == 7 and appliance.connections == 1
    assert appliance.requests[0][2].startswith("Basic ") and appliance.requests[1][2] is None


def test_a_connection_the_appliance_closed_is_replaced_before_a_write(appliance):
    with client_for(appliance) as client:
        assert client.serial == SERIAL  # known: the write below is the very next request
        appliance.close_after_answer = True
        assert client.list_hsms() == [SERIAL]
        assert appliance.closed_one.wait(10)  # the appliance's side of it is closed
        # The appliance has closed that connection while it was idle: the write must not be sent
        # into it (writes are never retried), it goes out on a new one.
        assert client.create_partition("fresh") == "1000001"
        assert client.connections.opened == 2
    assert appliance.connections == 2
    assert [r[:2] for r in appliance.requests].count(("POST", "/api/lunasa/hsms/%s/partitions" % SERIAL)) == 1


def test_an_error_answer_keeps_its_message_and_the_connection(appliance):
    with client_for(appliance) as client:
        with pytest.raises(LunaError) as caught:
            client.get("/api/lunasa/nothing")
        assert caught.value.status == 404 and "no such thing" in str(caught.value)
        assert client.list_hsms() == [SERIAL]
        assert client.connections.opened == 1


def test_nothing_listening_is_a_clear_connection_error():
    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))
    port = sock.getsockname()[1]
    sock.close()
    client = LunaClient("http://127.0.0.1:%d" % port, password="pw", retries=0, timeout=5)
    with pytest.raises(LunaError) as caught:
        client.list_hsms()
    assert "cannot connect" in str(caught.value) and "What to do" in str(caught.value)


def test_a_proxy_in_the_environment_is_used(appliance, monkeypatch):
    # A proxy that is not there: the request must try it (and fail), not go straight to the appliance.
    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))
    dead = sock.getsockname()[1]
    sock.close()
    monkeypatch.setenv("http_proxy", "http://127.0.0.1:%d" % dead)
    client = LunaClient(appliance.url, password="admin-pw", retries=0, timeout=5)
    with pytest.raises(LunaError) as caught:
        client.list_hsms()
    assert "cannot connect" in str(caught.value)
    assert appliance.requests == []


def test_no_proxy_sends_it_straight_to_the_appliance(appliance, monkeypatch):
    monkeypatch.setenv("http_proxy", "http://127.0.0.1:9")
    monkeypatch.setenv("no_proxy", "127.0.0.1")
    with client_for(appliance) as client:
        assert client.list_hsms() == [SERIAL]
    assert appliance.connections == 1
