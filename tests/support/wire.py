"""Webhook deliveries as raw HTTP/1.1 bytes, for load and storm tests that drive many keep-alive
connections with asyncio streams (cheaper than an HTTP client, so the server is what is measured)."""

from __future__ import annotations

import asyncio

from service.webhooks.verify import connect_signature


def signed_connect_request(port: int, body: bytes, secret: str, user_agent: str | None = None) -> bytes:
    """A complete `POST /webhooks/connect` carrying `body`, signed with the partner secret."""
    agent = f"User-Agent: {user_agent}\r\n" if user_agent else ""
    head = (
        f"POST /webhooks/connect HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\nContent-Type: application/json\r\n"
        f"{agent}X-Finicity-Signature: {connect_signature(body, secret)}\r\nContent-Length: {len(body)}\r\n\r\n"
    )
    return head.encode() + body


async def read_response(reader: asyncio.StreamReader) -> tuple[int, bytes]:
    """Status and body of the next response on a keep-alive connection."""
    head = await reader.readuntil(b"\r\n\r\n")
    status = int(head[9:12])
    length = 0
    for line in head.split(b"\r\n"):
        if line.lower().startswith(b"content-length:"):
            length = int(line.split(b":", 1)[1])
    return status, (await reader.readexactly(length) if length else b"")
