#!/usr/bin/env python3
"""Keystroke-to-screen latency through ssh and a delaying TCP relay (the bench's `latency` case).

    keylat.py --addr ADDR --delay-ms D --keys N --mode echo|wizard -- SSH_ARGV...

A relay on 127.0.0.1 forwards to ADDR:22 and holds every chunk D ms in each direction (this kernel
has no netem), so the round trip gains 2·D ms. SSH_ARGV (an `ssh -tt -p {port} ...` command line;
`{port}` is replaced by the relay's port) runs in a pseudo-terminal of 160x48. `echo` times a byte
through a remote `cat` (the floor: network, sshd, pty); `wizard` waits for the wizard's first screen
to settle and times Down/Up arrows until the first byte of the redraw comes back and until the
redraw is complete (no byte for 100 ms, minus those 100 ms). Prints one JSON object. Bounded: at
most N keys, 3 s per key, 60 s for the first screen; only ADDR (a test host) is ever connected to.
"""
import argparse
import asyncio
import fcntl
import json
import os
import pty
import select
import signal
import statistics
import struct
import sys
import termios
import threading
import time


def relay(addr, delay, ready):
    """Serve one port on 127.0.0.1 in a thread; each accepted connection goes to addr:22."""

    async def pump(reader, writer):
        queue = asyncio.Queue()

        async def send():
            while True:
                due, data = await queue.get()
                if data is None:
                    break
                wait = due - time.monotonic()
                if wait > 0:
                    await asyncio.sleep(wait)
                writer.write(data)
                await writer.drain()
            writer.close()

        sender = asyncio.ensure_future(send())
        try:
            while True:
                data = await reader.read(65536)
                if not data:
                    break
                queue.put_nowait((time.monotonic() + delay, data))
        finally:
            queue.put_nowait((0, None))
            await sender

    async def handle(cr, cw):
        try:
            tr, tw = await asyncio.open_connection(addr, 22)
        except OSError:
            cw.close()
            return
        await asyncio.gather(pump(cr, tw), pump(tr, cw), return_exceptions=True)

    async def main():
        server = await asyncio.start_server(handle, "127.0.0.1", 0)
        ready.append(server.sockets[0].getsockname()[1])
        async with server:
            await server.serve_forever()

    asyncio.run(main())


def read_until(fd, pred, timeout):
    """Read from fd until pred(buffer) or timeout; returns the buffer."""
    buf = b""
    end = time.monotonic() + timeout
    while time.monotonic() < end and not pred(buf):
        r, _, _ = select.select([fd], [], [], 0.05)
        if r:
            try:
                buf += os.read(fd, 65536)
            except OSError:
                break
    return buf


def drain_quiet(fd, quiet, limit):
    """Read until nothing came for `quiet` s (or `limit` s passed); returns (bytes, time of the
    last byte or None)."""
    n, last = 0, None
    end = time.monotonic() + limit
    while time.monotonic() < end:
        r, _, _ = select.select([fd], [], [], quiet)
        if not r:
            break
        try:
            chunk = os.read(fd, 65536)
        except OSError:
            break
        if not chunk:
            break
        n += len(chunk)
        last = time.monotonic()
    return n, last


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--addr", required=True)
    ap.add_argument("--delay-ms", type=float, default=25.0)
    ap.add_argument("--keys", type=int, default=20)
    ap.add_argument("--mode", choices=("echo", "wizard"), required=True)
    ap.add_argument("--ready", default="1. Playbook")
    ap.add_argument("argv", nargs=argparse.REMAINDER)
    a = ap.parse_args()
    argv = a.argv[1:] if a.argv[:1] == ["--"] else a.argv
    ports = []
    threading.Thread(target=relay, args=(a.addr, a.delay_ms / 1000.0, ports), daemon=True).start()
    for _ in range(100):
        if ports:
            break
        time.sleep(0.01)
    argv = [x.replace("{port}", str(ports[0])) for x in argv]

    pid, fd = pty.fork()
    if pid == 0:
        os.environ["TERM"] = "xterm-256color"
        os.execvp(argv[0], argv)
    fcntl.ioctl(fd, termios.TIOCSWINSZ, struct.pack("HHHH", 48, 160, 0, 0))
    first, done, sizes = [], [], []
    try:
        if a.mode == "echo":
            buf = read_until(fd, lambda b: b"READY" in b, 60)
            if b"READY" not in buf:
                raise SystemExit(f"keylat: no READY from the remote cat: {buf[-300:]!r}")
            drain_quiet(fd, 0.3, 5)
            for _ in range(a.keys):
                t0 = time.monotonic()
                os.write(fd, b"x")
                got = read_until(fd, lambda b: b"x" in b, 3)
                if b"x" in got:
                    first.append((time.monotonic() - t0) * 1000)
                drain_quiet(fd, 0.05, 1)
        else:
            want = a.ready.encode()
            buf = read_until(fd, lambda b: want in b, 60)
            if want not in buf:
                raise SystemExit(f"keylat: the wizard's first screen did not show {a.ready!r}: {buf[-300:]!r}")
            drain_quiet(fd, 0.5, 10)
            for i in range(a.keys):
                key = b"\x1b[B" if i % 2 == 0 else b"\x1b[A"
                t0 = time.monotonic()
                os.write(fd, key)
                r, _, _ = select.select([fd], [], [], 3)
                if not r:
                    continue
                t1 = time.monotonic()
                n = len(os.read(fd, 65536))
                more, last = drain_quiet(fd, 0.1, 3)
                first.append((t1 - t0) * 1000)
                done.append(((last or t1) - t0) * 1000)
                sizes.append(n + more)
    finally:
        try:
            os.kill(pid, signal.SIGHUP)
            time.sleep(0.2)
            os.kill(pid, signal.SIGKILL)
        except ProcessLookupError:
            pass
        try:
            os.waitpid(pid, 0)
        except ChildProcessError:
            pass

    def stats(xs):
        if not xs:
            return None
        return {"median": round(statistics.median(xs), 1), "min": round(min(xs), 1), "max": round(max(xs), 1), "n": len(xs)}

    json.dump({"mode": a.mode, "added_rtt_ms": 2 * a.delay_ms, "first_byte_ms": stats(first),
               "screen_done_ms": stats(done), "bytes_per_key": stats(sizes)}, sys.stdout)
    print()


if __name__ == "__main__":
    main()
