"""Which announced endpoints every reader accepts, and why the rest not.

Each host claims its routed subnets; a claim is held when it overlaps no
claim of another host made earlier (ZooKeeper's creation order, the same on
every reader), and refused otherwise. An endpoint is accepted when it lies
in a subnet its own host holds; otherwise it is refused, with the subnet
and host it collides with when there is one. Held subnets of different
hosts never overlap, so no address is ever accepted for two hosts.

``ClaimBook`` is kept incrementally: a host's endpoints changing costs that
change (against its host's few subnets); only a change of subnets, which is
rare, looks at every claim.
"""

import bisect
import dataclasses
import ipaddress
import socket


@dataclasses.dataclass(frozen=True)
class Claim:
    order: tuple            # (creation zxid, host): earlier first
    subnet: object          # an ip_network
    host: str


def network_of(address):
    return ipaddress.ip_network(address)


def _ip(address):
    """A plain (canonical) address as an ip_address, cheaply for IPv4."""
    if ':' in address:
        return ipaddress.IPv6Address(address)
    return ipaddress.IPv4Address(socket.inet_pton(socket.AF_INET, address))


def _inside(address, subnet):
    """Whether an address or prefix (text) lies within ``subnet``."""
    if '/' in address:
        network = ipaddress.ip_network(address)
        return network.version == subnet.version and network.subnet_of(
            subnet)
    ip = _ip(address)
    return ip.version == subnet.version and ip in subnet


def _touches(address, subnet):
    if '/' in address:
        return _overlap(ipaddress.ip_network(address), subnet)
    ip = _ip(address)
    return ip.version == subnet.version and ip in subnet


def _net_key(network):
    return network.version, network


def _overlap(a, b):
    return a.version == b.version and a.overlaps(b)


class _Held:
    """Held claims, searchable for overlaps in O(prefix lengths + log n).

    Two prefixes overlap when one contains the other: a claim's supernets
    are looked up by (version, length, network), the subnets it contains
    are a range of the held ones sorted by first address. Of several
    rivals the earliest held is named, as a linear search in holding
    order would.
    """

    def __init__(self):
        self._by_prefix = {}     # (version, prefixlen, network int) -> i
        self._lengths = {4: set(), 6: set()}
        self._starts = {4: [], 6: []}   # sorted [(first, last, i)]
        self._claims = []

    def add(self, claim):
        net = claim.subnet
        first = int(net.network_address)
        index = len(self._claims)
        self._claims.append(claim)
        self._by_prefix[net.version, net.prefixlen, first] = index
        self._lengths[net.version].add(net.prefixlen)
        bisect.insort(self._starts[net.version],
                      (first, int(net.broadcast_address), index))

    def first_overlap(self, claim):
        net = claim.subnet
        host = claim.host
        first = int(net.network_address)
        last = int(net.broadcast_address)
        bits = net.max_prefixlen
        found = []
        for length in self._lengths[net.version]:
            if length <= net.prefixlen:
                mask = ((1 << bits) - 1) ^ ((1 << (bits - length)) - 1)
                index = self._by_prefix.get(
                    (net.version, length, first & mask))
                if index is not None:
                    found.append(index)
        starts = self._starts[net.version]
        at = bisect.bisect_left(starts, (first, -1, -1))
        while at < len(starts) and starts[at][0] <= last:
            if starts[at][1] <= last:
                found.append(starts[at][2])
            at += 1
        rivals = sorted(i for i in found if self._claims[i].host != host)
        return self._claims[rivals[0]] if rivals else None


class ClaimBook:
    def __init__(self):
        self._claims = {}        # host -> {subnet: Claim}
        self._held = {}          # host -> [subnet], held
        self.refused_claims = {}  # (host, subnet) -> reason
        self._announced = {}     # host -> {address: Endpoint}
        self._legacy = set()     # hosts seen in the layout before hosts/
        self.accepted = {}       # address -> Endpoint
        self.refused = {}        # (host, address) -> reason

    # -- subnets ----------------------------------------------------------

    def set_subnets(self, host, claims):
        """Replace ``host``'s claims: {subnet (ip_network): order}.

        Returns the changes to ``accepted``: {address: Endpoint or None}.
        """
        new = {s: Claim(order, s, host) for s, order in claims.items()}
        if new == self._claims.get(host, {}):
            return {}
        if new:
            self._claims[host] = new
        else:
            self._claims.pop(host, None)
        before = {h: list(s) for h, s in self._held.items()}
        self._decide()
        changes = {}
        moved = [h for h in set(before) | set(self._held)
                 if before.get(h, []) != self._held.get(h, [])]
        # legacy endpoints have no claims of their own: any newly held
        # subnet may refuse some; and a refusal's reason names the holder
        others = (self._legacy | {h for h, _ in self.refused}
                  if moved else set())
        for h in sorted(set(moved) | others):
            changes.update(self._recheck(h))
        return changes

    def _decide(self):
        held, refused = {}, {}
        winners = _Held()
        everyone = sorted((c for claims in self._claims.values()
                           for c in claims.values()),
                          key=lambda c: (c.order, _net_key(c.subnet)))
        for claim in everyone:
            rival = winners.first_overlap(claim)
            if rival is None:
                winners.add(claim)
                held.setdefault(claim.host, []).append(claim.subnet)
            else:
                refused[claim.host, str(claim.subnet)] = (
                    'subnet %s of host %s overlaps %s, held by host %s'
                    % (claim.subnet, claim.host, rival.subnet, rival.host))
        self._held = {h: sorted(s, key=_net_key) for h, s in held.items()}
        self.refused_claims = refused

    def held(self, host):
        return list(self._held.get(host, []))

    def every_held(self, but=None):
        """Every subnet a host other than ``but`` holds (ip_networks)."""
        held = self._held      # replaced whole by _decide, never changed
        return sorted((s for host, subnets in held.items() if host != but
                       for s in subnets), key=_net_key)

    # -- endpoints --------------------------------------------------------

    def set_endpoints(self, host, endpoints, legacy=False):
        """Replace what ``host`` announces: {address: Endpoint}.

        ``legacy``: read from the layout before this one, which has no
        claims: accepted unless in another host's held subnet or already
        accepted for another host. Returns the changes to ``accepted``.
        """
        changes = {}
        if legacy:
            self._legacy.add(host)
        elif host in self._legacy:
            # the host was upgraded: what it announces now replaces all
            self._legacy.discard(host)
            for address in self._announced.pop(host, {}):
                changes.update(self._judge(host, address, None))
        old = self._announced.get(host, {})
        if endpoints:
            self._announced[host] = dict(endpoints)
        else:
            self._announced.pop(host, None)
        for address in set(old) | set(endpoints):
            if old.get(address) != endpoints.get(address):
                changes.update(self._judge(host, address,
                                           endpoints.get(address)))
        return changes

    def announcement(self, host, address):
        """What ``host`` announces for ``address`` (accepted or not)."""
        return self._announced.get(host, {}).get(address)

    def forget_host(self, host):
        changes = self.set_endpoints(host, {})
        changes.update(self.set_subnets(host, {}))
        return changes

    def _recheck(self, host):
        changes = {}
        for address, endpoint in self._announced.get(host, {}).items():
            changes.update(self._judge(host, address, endpoint))
        return changes

    def _judge(self, host, address, endpoint):
        """Accept or refuse one announcement; the change to ``accepted``."""
        self.refused.pop((host, address), None)
        current = self.accepted.get(address)
        if endpoint is None:
            if current is not None and current.host == host:
                del self.accepted[address]
                return {address: None}
            return {}
        reason = self.reason(endpoint)
        if reason is None:
            if current != endpoint:
                self.accepted[address] = endpoint
                return {address: endpoint}
            return {}
        self.refused[host, address] = reason
        if current is not None and current.host == host:
            del self.accepted[address]
            return {address: None}
        return {}

    def reason(self, endpoint):
        """Why ``endpoint`` is refused, or None."""
        address = endpoint.address
        if endpoint.host in self._legacy:
            return self._legacy_reason(endpoint)
        for subnet in self._held.get(endpoint.host, []):
            if _inside(address, subnet):
                return None
        for other, subnets in self._held.items():
            for subnet in subnets:
                if other != endpoint.host and _touches(address, subnet):
                    return ('%s (group %d) announced by host %s %s %s, '
                            'held by host %s' % (
                                endpoint.address, endpoint.group,
                                endpoint.host, 'overlaps'
                                if '/' in endpoint.address else 'is in',
                                subnet, other))
        mine = self._held.get(endpoint.host)
        return ('%s (group %d) announced by host %s is outside its subnets '
                '(%s)' % (endpoint.address, endpoint.group, endpoint.host,
                          ', '.join(map(str, mine)) if mine else
                          'it holds none'))

    def _legacy_reason(self, endpoint):
        for other, subnets in self._held.items():
            for subnet in subnets:
                if other != endpoint.host and _touches(endpoint.address,
                                                       subnet):
                    return ('%s (group %d) announced by host %s (old layout) '
                            'is in %s, held by host %s' % (
                                endpoint.address, endpoint.group,
                                endpoint.host, subnet, other))
        holder = self.accepted.get(endpoint.address)
        if holder is not None and holder.host != endpoint.host:
            return ('%s (group %d) announced by host %s (old layout) is '
                    'announced by host %s already' % (
                        endpoint.address, endpoint.group, endpoint.host,
                        holder.host))
        return None

    def problems(self):
        """Every refusal: {key: reason}, claims and endpoints alike."""
        found = {('subnet',) + k: v for k, v in self.refused_claims.items()}
        found.update((('endpoint',) + k, v) for k, v in self.refused.items())
        return found
