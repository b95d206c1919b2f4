"""A lean WebSocket client for load generation: one ``asyncio.Protocol`` per connection.

The opening handshake is written by hand and the RFC 6455 framing is parsed straight from the
receive buffer, many frames per ``data_received`` call, so that one process can hold thousands of
connections and read hundreds of thousands of frames per second without becoming what is measured.
Client frames are masked (with ``websockets``' C ``apply_mask``); pings are answered; a close frame
is echoed. No extensions (no compression) are offered.
"""

from __future__ import annotations

import asyncio
import base64
import os
import random
import socket
import struct
import time
from typing import Protocol, cast

from websockets.speedups import apply_mask

__all__ = ["HandshakeError", "Sink", "WsConn", "connect"]

_MAX_HEADER = 16384


class HandshakeError(ConnectionError):
    """The server did not switch protocols."""


class Sink(Protocol):
    """What a connection reports to: its owner."""

    def on_message(self, payload: bytes, binary: bool, now: float) -> None: ...

    def on_close(self, code: int) -> None: ...


class WsConn(asyncio.Protocol):
    """One client connection. ``now`` handed to the sink is ``time.monotonic()`` at the read."""

    def __init__(self, sink: Sink, host: str, port: int, path: str, subprotocol: str | None) -> None:
        self.sink = sink
        key = base64.b64encode(os.urandom(16)).decode()
        lines = [
            f"GET {path} HTTP/1.1",
            f"Host: {host}:{port}",
            "Upgrade: websocket",
            "Connection: Upgrade",
            f"Sec-WebSocket-Key: {key}",
            "Sec-WebSocket-Version: 13",
        ]
        if subprotocol:
            lines.append(f"Sec-WebSocket-Protocol: {subprotocol}")
        self._request = ("\r\n".join(lines) + "\r\n\r\n").encode()
        self._buf = bytearray()
        self._upgraded = False
        self._frag: bytearray | None = None
        self._frag_binary = False
        self._close_sent = False
        self.transport: asyncio.Transport | None = None
        self.opened: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        self.closed: asyncio.Future[int] = asyncio.get_running_loop().create_future()
        self.close_code: int | None = None

    # --- asyncio.Protocol ------------------------------------------------------------------------------
    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = cast(asyncio.Transport, transport)  # uvloop's transports are not subclasses
        self.transport.write(self._request)

    def data_received(self, data: bytes) -> None:
        now = time.monotonic()
        buf = self._buf
        buf += data
        if not self._upgraded:
            end = buf.find(b"\r\n\r\n")
            if end < 0:
                if len(buf) > _MAX_HEADER:
                    self._fail(HandshakeError("handshake response too long"))
                return
            status = bytes(buf[: buf.find(b"\r\n")])
            del buf[: end + 4]
            if not status.startswith(b"HTTP/1.1 101"):
                self._fail(HandshakeError(status.decode("latin-1")))
                return
            self._upgraded = True
            if not self.opened.done():
                self.opened.set_result(None)
        self._parse(now)

    def connection_lost(self, exc: Exception | None) -> None:
        code = self.close_code if self.close_code is not None else 1006
        self.close_code = code
        if not self.opened.done():
            self.opened.set_exception(exc or ConnectionError("connection closed during the handshake"))
            self.opened.exception()  # retrieved: the waiter re-raises it
        if not self.closed.done():
            self.closed.set_result(code)
        self.sink.on_close(code)

    # --- Framing --------------------------------------------------------------------------------------
    def _parse(self, now: float) -> None:
        buf = self._buf
        n = len(buf)
        pos = 0
        sink = self.sink
        while n - pos >= 2:
            b0 = buf[pos]
            b1 = buf[pos + 1]
            length = b1 & 0x7F
            head = pos + 2
            if length == 126:
                if n - pos < 4:
                    break
                length = (buf[pos + 2] << 8) | buf[pos + 3]
                head = pos + 4
            elif length == 127:
                if n - pos < 10:
                    break
                length = int.from_bytes(buf[pos + 2 : pos + 10], "big")
                head = pos + 10
            mask = b""
            if b1 & 0x80:  # servers must not mask, but tolerate it
                mask = bytes(buf[head : head + 4])
                head += 4
            end = head + length
            if end > n:
                break
            payload = bytes(buf[head:end])
            if mask:
                payload = apply_mask(payload, mask)
            pos = end
            opcode = b0 & 0x0F
            fin = b0 & 0x80
            if opcode == 1 or opcode == 2:
                if fin:
                    sink.on_message(payload, opcode == 2, now)
                else:
                    self._frag = bytearray(payload)
                    self._frag_binary = opcode == 2
            elif opcode == 0:
                if self._frag is not None:
                    self._frag += payload
                    if fin:
                        whole, self._frag = bytes(self._frag), None
                        sink.on_message(whole, self._frag_binary, now)
            elif opcode == 9:
                self._write(0xA, payload)
            elif opcode == 8:
                self.close_code = struct.unpack("!H", payload[:2])[0] if len(payload) >= 2 else 1005
                if not self._close_sent:
                    self._write(0x8, payload[:2])
                    self._close_sent = True
                if self.transport is not None:
                    self.transport.close()
                break
        if pos:
            del buf[:pos]

    def _write(self, opcode: int, payload: bytes) -> None:
        transport = self.transport
        if transport is None or transport.is_closing():
            return
        n = len(payload)
        if n < 126:
            header = bytes((0x80 | opcode, 0x80 | n))
        elif n < 65536:
            header = struct.pack("!BBH", 0x80 | opcode, 0x80 | 126, n)
        else:
            header = struct.pack("!BBQ", 0x80 | opcode, 0x80 | 127, n)
        mask = random.getrandbits(32).to_bytes(4, "big")
        transport.write(header + mask + apply_mask(payload, mask))

    def _fail(self, exc: Exception) -> None:
        if not self.opened.done():
            self.opened.set_exception(exc)
        if self.transport is not None:
            self.transport.abort()

    # --- API ------------------------------------------------------------------------------------------
    def send_text(self, data: bytes) -> None:
        """Send one text frame holding ``data`` (UTF-8 bytes)."""
        self._write(0x1, data)

    def pause_reading(self) -> None:
        if self.transport is not None and not self.transport.is_closing():
            self.transport.pause_reading()

    def resume_reading(self) -> None:
        if self.transport is not None and not self.transport.is_closing():
            self.transport.resume_reading()

    def close(self, code: int = 1000) -> None:
        """Send a close frame and close the transport (without waiting for the server's echo)."""
        if not self._close_sent:
            self._write(0x8, struct.pack("!H", code))
            self._close_sent = True
        if self.transport is not None:
            self.transport.close()

    def abort(self) -> None:
        if self.transport is not None:
            self.transport.abort()


async def connect(
    sink: Sink,
    host: str,
    port: int,
    *,
    path: str = "/ws",
    subprotocol: str | None = "workshop.v1.json",
    local_ip: str | None = None,
    rcvbuf: int | None = None,
    mss: int | None = None,
    timeout: float = 15.0,
) -> WsConn:
    """Open a connection (from ``local_ip``, any 127.0.0.0/8 address) and complete the handshake.

    ``rcvbuf`` (a small ``SO_RCVBUF``) and ``mss`` (``TCP_MAXSEG``, 1460 as on Ethernet) make the
    connection look like one over a real network: on loopback the MSS is 64 KiB and the kernel lets
    the server queue megabytes for a client that stopped reading; with these, about a hundred KiB.
    """
    loop = asyncio.get_running_loop()
    conn = WsConn(sink, host, port, path, subprotocol)
    async with asyncio.timeout(timeout):
        if rcvbuf is None and mss is None:
            local = (local_ip, 0) if local_ip else None
            await loop.create_connection(lambda: conn, host, port, local_addr=local)
        else:
            sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
            try:
                if rcvbuf is not None:
                    sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, rcvbuf)
                if mss is not None:
                    sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_MAXSEG, mss)
                if local_ip:
                    sock.bind((local_ip, 0))
                sock.setblocking(False)
                await loop.sock_connect(sock, (host, port))
            except BaseException:
                sock.close()
                raise
            await loop.create_connection(lambda: conn, sock=sock)
        try:
            await conn.opened
        except BaseException:
            conn.abort()
            raise
    return conn
