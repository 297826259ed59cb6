#!/usr/bin/env python3
"""An independent QUIC client (aioquic) for interop tests: fetches files over hq-interop.

Usage: aioquic_hq_get.py HOST PORT --ca ROOT [--cert CHAIN --key KEY] PATH=OUT...
Exit status: 0 all fetched; 2 the handshake or connection failed (reason on stderr);
3 a stream was reset (file not served).
"""
import argparse
import asyncio
import sys

from aioquic.asyncio import connect
from aioquic.asyncio.protocol import QuicConnectionProtocol
from aioquic.quic.configuration import QuicConfiguration
from aioquic.quic.events import ConnectionTerminated, StreamDataReceived, StreamReset


class Client(QuicConnectionProtocol):
    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.waiters = {}
        self.buffers = {}
        self.terminated = None

    def get(self, path):
        stream_id = self._quic.get_next_available_stream_id()
        self._quic.send_stream_data(stream_id, f"GET {path}\r\n".encode(), end_stream=True)
        future = self._loop.create_future()
        self.waiters[stream_id] = future
        self.buffers[stream_id] = bytearray()
        self.transmit()
        return future

    def quic_event_received(self, event):
        if isinstance(event, StreamDataReceived):
            self.buffers[event.stream_id] += event.data
            if event.end_stream:
                self.waiters[event.stream_id].set_result(bytes(self.buffers[event.stream_id]))
        elif isinstance(event, StreamReset):
            self.waiters[event.stream_id].set_exception(RuntimeError(f"stream reset, code {event.error_code}"))
        elif isinstance(event, ConnectionTerminated):
            self.terminated = f"connection terminated: error 0x{event.error_code:x} {event.reason_phrase}"
            for waiter in self.waiters.values():
                if not waiter.done():
                    waiter.set_exception(ConnectionError(self.terminated))


async def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("host")
    parser.add_argument("port", type=int)
    parser.add_argument("--ca", required=True)
    parser.add_argument("--cert")
    parser.add_argument("--key")
    parser.add_argument("--server-name", default="localhost")
    parser.add_argument("fetches", nargs="+", help="PATH=OUTFILE")
    args = parser.parse_args()

    configuration = QuicConfiguration(alpn_protocols=["hq-interop"], is_client=True, server_name=args.server_name,
                                      idle_timeout=10.0, max_data=64 << 20, max_stream_data=32 << 20)
    configuration.load_verify_locations(cafile=args.ca)
    if args.cert:
        configuration.load_cert_chain(args.cert, args.key)
    try:
        async with connect(args.host, args.port, configuration=configuration, create_protocol=Client,
                           wait_connected=True) as client:
            pairs = [fetch.split("=", 1) for fetch in args.fetches]
            results = await asyncio.wait_for(asyncio.gather(*(client.get(path) for path, _ in pairs),
                                                            return_exceptions=True), timeout=60)
            status = 0
            for (path, out), result in zip(pairs, results):
                if isinstance(result, ConnectionError):
                    print(result, file=sys.stderr)
                    return 2
                if isinstance(result, Exception):
                    print(f"{path}: {result}", file=sys.stderr)
                    status = 3
                    continue
                with open(out, "wb") as handle:
                    handle.write(result)
            return status
    except (ConnectionError, asyncio.TimeoutError) as error:
        print(f"connection failed: {error!r}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(asyncio.run(main()))
