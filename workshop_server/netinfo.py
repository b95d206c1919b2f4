"""This machine's addresses on the local network, so that phones get links they can open.

A workshop server often runs on the organiser's laptop: phones in the room reach it by the laptop's
address on the venue's Wi-Fi, never by ``127.0.0.1`` or ``localhost``. The addresses are read from the
network interfaces (``SIOCGIFADDR``); nothing is sent on the network.
"""

from __future__ import annotations

import contextlib
import functools
import ipaddress
import socket
import struct
import sys

__all__ = ["lan_addresses", "phone_hint"]

_SIOCGIFADDR = 0x8915
#: Interfaces of containers and virtual machines on this machine (Docker's bridges, compose networks,
#: libvirt, VirtualBox, Kubernetes' CNI...): no phone reaches their addresses.
_VIRTUAL_INTERFACES = (
    "docker",
    "br-",
    "veth",
    "virbr",
    "vboxnet",
    "vmnet",
    "lxcbr",
    "lxdbr",
    "podman",
    "cni",
    "flannel",
    "cali",
    "weave",
    "kube",
)


def _interface_addresses() -> list[str]:
    if not sys.platform.startswith("linux"):  # pragma: no cover - other systems: the host name only
        with contextlib.suppress(OSError):
            return [info[4][0] for info in socket.getaddrinfo(socket.gethostname(), None, socket.AF_INET)]
        return []
    import fcntl

    found: list[str] = []
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as probe:
        for _index, name in socket.if_nameindex():
            if name.startswith(_VIRTUAL_INTERFACES):
                continue
            request = struct.pack("256s", name.encode()[:15])
            try:
                answer = fcntl.ioctl(probe.fileno(), _SIOCGIFADDR, request)
            except OSError:  # no IPv4 address on this interface
                continue
            found.append(socket.inet_ntoa(answer[20:24]))
    return found


@functools.lru_cache(maxsize=1)
def lan_addresses() -> tuple[str, ...]:
    """IPv4 addresses other machines may reach this one by: private ranges first, no loopback or
    link-local addresses, no container bridges' default range (172.17.0.0/16)."""
    usable: list[ipaddress.IPv4Address] = []
    for text in _interface_addresses():
        try:
            address = ipaddress.IPv4Address(text)
        except ValueError:
            continue
        if address.is_loopback or address.is_link_local or address.is_unspecified:
            continue
        if address in ipaddress.IPv4Network("172.17.0.0/16"):
            continue
        if address not in usable:
            usable.append(address)
    usable.sort(key=lambda a: (not a.is_private, a.packed))
    return tuple(str(a) for a in usable)


def phone_hint(host: str, port: int, public_url: str | None) -> list[str]:
    """The lines ``make run`` prints about how phones reach the server."""
    if public_url is not None:
        return [f"Phones join at {public_url} (WORKSHOP_PUBLIC_URL)."]
    wildcard = host in {"0.0.0.0", "::", ""}
    if not wildcard:
        if host in {"127.0.0.1", "localhost", "::1"}:
            return [
                f"Phones cannot open {host}: to let phones on this network join, run "
                f"`WORKSHOP_HOST=0.0.0.0 make run` (links and QR codes then use this machine's address)."
            ]
        return [f"Phones join at http://{host}:{port} if they can reach {host}."]
    addresses = lan_addresses()
    if not addresses:
        return [
            "No network address found on this machine: set WORKSHOP_PUBLIC_URL=http://<its address>:"
            f"{port} so that links and QR codes work on phones."
        ]
    lines = [f"Phones on the same network join at http://{addresses[0]}:{port} (links and QR codes use it)."]
    if len(addresses) > 1:
        others = ", ".join(f"http://{a}:{port}" for a in addresses[1:])
        lines.append(f"This machine is also reachable at {others}; set WORKSHOP_PUBLIC_URL to choose one.")
    return lines
