#!/usr/bin/env python3
"""Garbage for the fault suite's garbage-flood scenario (scripts/faults.sh).

Sends COUNT hostile datagrams from 127.0.0.1 (a configured NAS, so they get past the
client check) alternately to the auth and accounting ports: random octets of any length,
RADIUS headers with lying lengths and any code, Access-Requests with a forged or without
a Message-Authenticator, Accounting-Requests with a forged Request Authenticator. Prints
how many the kernel took.

Usage: faults-flood.py AUTH_PORT ACCT_PORT COUNT
"""
import os
import random
import socket
import struct
import sys


def attr(typ, value):
    return bytes([typ, len(value) + 2]) + value


def packet(rng, kind):
    if kind == 0:
        return os.urandom(rng.randrange(0, 5000))
    if kind == 1:
        body = os.urandom(rng.randrange(0, 200))
        head = struct.pack("!BBH", rng.randrange(256), rng.randrange(256), rng.randrange(65536))
        return head + os.urandom(16) + body
    name = attr(1, b"user%06d" % rng.randrange(1, 3000))
    if kind == 2:
        code, attrs = 1, attr(80, os.urandom(16)) + name + attr(2, os.urandom(16))
    elif kind == 3:
        code, attrs = 1, name + attr(2, os.urandom(16))
    else:
        status = attr(40, struct.pack("!I", rng.choice([1, 2, 3])))
        code, attrs = 4, status + name + attr(44, b"garbage")
    head = struct.pack("!BBH", code, rng.randrange(256), 20 + len(attrs))
    return head + os.urandom(16) + attrs


def main():
    auth, acct, total = (int(a) for a in sys.argv[1:4])
    rng = random.Random(13)
    s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    sent = 0
    for i in range(total):
        port = auth if i % 2 == 0 else acct
        try:
            s.sendto(packet(rng, rng.randrange(5)), ("127.0.0.1", port))
            sent += 1
        except OSError:
            pass
    print(sent)


if __name__ == "__main__":
    main()
