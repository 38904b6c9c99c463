# Copyright (c) hsmops.luna contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""The appliances' sockets: connections accepted the way the server accepts them send at once."""

import asyncio
import socket

from luna_emulator.serve import _listen


def _nodelay_of_accepted_connection(listening):
    """TCP_NODELAY of a connection accepted by asyncio on `listening` (as uvicorn accepts them)."""
    port = listening.getsockname()[1]

    async def main():
        accepted = asyncio.get_running_loop().create_future()

        def on_connect(reader, writer):
            accepted.set_result(writer.get_extra_info("socket").getsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY))
            writer.close()

        server = await asyncio.start_server(on_connect, sock=listening)
        try:
            reader, writer = await asyncio.open_connection("127.0.0.1", port)
            value = await asyncio.wait_for(accepted, 10)
            writer.close()
            return value
        finally:
            server.close()
            await server.wait_closed()

    return asyncio.run(main())


def test_accepted_connections_have_nagle_off():
    # With Nagle on, an answer whose headers and body are written separately waits for the
    # client's delayed ACK (~40 ms on Linux) before its body leaves.
    assert _nodelay_of_accepted_connection(_listen(0)) != 0


def test_listening_sockets_are_on_loopback():
    sock = _listen(0)
    try:
        assert sock.getsockname()[0] == "127.0.0.1"
    finally:
        sock.close()
