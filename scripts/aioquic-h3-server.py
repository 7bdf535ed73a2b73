#!/usr/bin/env python3
"""A small HTTP/3 server on aioquic, the second independent HTTP/3 implementation docs/http3.md checks
connbench against (Caddy's quic-go is the first). It answers every request with 200 and "hello world\\n",
and appends one line per answered request to --log, so that the server's count can be set beside the
client's. Session tickets are kept, as aioquic's examples/http3_server.py keeps them, so that clients
resume and may send 0-RTT.

    python3 -m venv venv && venv/bin/pip install aioquic
    venv/bin/python scripts/aioquic-h3-server.py --cert cert.pem --key key.pem --port 25444 --log h3.log
"""

import argparse
import asyncio

from aioquic.asyncio import serve
from aioquic.asyncio.protocol import QuicConnectionProtocol
from aioquic.h3.connection import H3_ALPN, H3Connection
from aioquic.h3.events import DataReceived, HeadersReceived
from aioquic.quic.configuration import QuicConfiguration
from aioquic.quic.events import ProtocolNegotiated

BODY = b"hello world\n"


class Tickets:
    """Session tickets by label: a ticket is used once."""

    def __init__(self):
        self.tickets = {}

    def add(self, ticket):
        self.tickets[ticket.ticket] = ticket

    def pop(self, label):
        return self.tickets.pop(label, None)


class Http3Server(QuicConnectionProtocol):
    log = None

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.h3 = None
        self.methods = {}

    def quic_event_received(self, event):
        if isinstance(event, ProtocolNegotiated) and event.alpn_protocol in H3_ALPN:
            self.h3 = H3Connection(self._quic)
        if self.h3 is None:
            return
        for h3_event in self.h3.handle_event(event):
            if isinstance(h3_event, HeadersReceived):
                self.methods[h3_event.stream_id] = dict(h3_event.headers).get(b":method", b"GET")
            if isinstance(h3_event, (HeadersReceived, DataReceived)) and h3_event.stream_ended:
                self.answer(h3_event.stream_id)

    def answer(self, stream_id):
        method = self.methods.pop(stream_id, b"GET")
        head_only = method == b"HEAD"
        headers = [(b":status", b"200"), (b"content-length", str(len(BODY)).encode())]
        self.h3.send_headers(stream_id, headers, end_stream=head_only)
        if not head_only:
            self.h3.send_data(stream_id, BODY, end_stream=True)
        self.transmit()
        self.log.write(f"HTTP/3 {method.decode()} 200\n")
        self.log.flush()


async def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--cert", required=True)
    parser.add_argument("--key", required=True)
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=25444)
    parser.add_argument("--log", required=True, help="one line per answered request")
    args = parser.parse_args()
    configuration = QuicConfiguration(alpn_protocols=H3_ALPN, is_client=False)
    configuration.load_cert_chain(args.cert, args.key)
    Http3Server.log = open(args.log, "a")
    tickets = Tickets()
    await serve(
        args.host,
        args.port,
        configuration=configuration,
        create_protocol=Http3Server,
        session_ticket_fetcher=tickets.pop,
        session_ticket_handler=tickets.add,
    )
    await asyncio.Future()


if __name__ == "__main__":
    asyncio.run(main())
