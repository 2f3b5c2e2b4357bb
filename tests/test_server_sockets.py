"""Listening sockets: connections accepted through asyncio get TCP_NODELAY.

Without it a response written in two parts (headers, then body) waits for the client's delayed
ACK, about 40 ms per request on a kept-alive connection.
"""

from __future__ import annotations

import asyncio
import socket

from spyglass.server import _bind


def test_accepted_connections_have_tcp_nodelay() -> None:
    async def accepted_nodelay() -> int:
        sock = _bind("127.0.0.1", 0)
        made: asyncio.Future[asyncio.BaseTransport] = asyncio.get_running_loop().create_future()

        class Accept(asyncio.Protocol):
            def connection_made(self, transport: asyncio.BaseTransport) -> None:
                made.set_result(transport)

        server = await asyncio.get_running_loop().create_server(Accept, sock=sock)
        _, writer = await asyncio.open_connection(*sock.getsockname()[:2])
        transport = await asyncio.wait_for(made, 10)
        value = int(transport.get_extra_info("socket").getsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY))
        transport.close()
        writer.close()
        server.close()
        await server.wait_closed()
        return value

    assert asyncio.run(accepted_nodelay()) != 0
