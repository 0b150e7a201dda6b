"""The TCP sockets a server process listens on, read from /proc: what the loopback-only tests assert."""
from __future__ import annotations

import os
from pathlib import Path

_V4_MAPPED = "0000000000000000FFFF0000"


def _v4(addr_hex: str) -> str:
    return ".".join(str(int(addr_hex[i:i + 2], 16)) for i in (6, 4, 2, 0))


def listening(pid: int) -> set[tuple[str, int]]:
    """(address, port) of every TCP socket the process listens on (IPv4 and IPv6; an IPv6 socket bound to a
    v4-mapped address, as gRPC binds 127.0.0.1, reads ``::ffff:127.0.0.1``)."""
    inodes = set()
    for fd in Path(f"/proc/{pid}/fd").iterdir():
        try:
            target = os.readlink(fd)
        except OSError:  # closed while the folder was listed: a busy server opens and closes files all along
            continue
        if target.startswith("socket:["):
            inodes.add(target[8:-1])
    found = set()
    for table in ("/proc/net/tcp", "/proc/net/tcp6"):
        for line in Path(table).read_text().splitlines()[1:]:
            fields = line.split()
            local, state, inode = fields[1], fields[3], fields[9]
            if state != "0A" or inode not in inodes:  # 0A: LISTEN
                continue
            addr_hex, port_hex = local.split(":")
            if len(addr_hex) == 8:
                addr = _v4(addr_hex)
            elif addr_hex.startswith(_V4_MAPPED):
                addr = "::ffff:" + _v4(addr_hex[len(_V4_MAPPED):])
            else:
                addr = "::" if set(addr_hex) == {"0"} else addr_hex
            found.add((addr, int(port_hex, 16)))
    return found
