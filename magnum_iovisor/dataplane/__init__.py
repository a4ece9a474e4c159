"""The dataplane: the only code that touches bcc, bpffs and tc.

``Dataplane`` opens (loading on first use) the pinned maps and programs and
offers the operations the CLI and the Docker driver need.
"""

import ipaddress
import os
import socket

from magnum_iovisor.dataplane import attach as tc
from magnum_iovisor.dataplane import events
from magnum_iovisor.dataplane import layout
from magnum_iovisor.dataplane import libbpf
from magnum_iovisor.dataplane import loader
from magnum_iovisor.dataplane.pinned import PinnedMap
from magnum_iovisor import policy as policy_model

BpfError = libbpf.BpfError
AttachError = tc.AttachError

_ACTIONS = {policy_model.Action.ALLOW: layout.Action.ALLOW,
            policy_model.Action.DENY: layout.Action.DENY}


def address_key(address):
    """An IPv4 address (text) as the endpoints map key."""
    try:
        value = int(ipaddress.IPv4Address(address))
    except ValueError:
        raise ValueError('%r is not an IPv4 address' % (address,))
    return layout.EndpointKey(socket.htonl(value))


class Dataplane:
    def __init__(self, conf):
        """``conf`` is the [dataplane] option group."""
        self.pin_dir = conf.pin_dir
        self.version, self.compiled = loader.ensure_loaded(conf)
        self.maps = {
            name: PinnedMap(loader.map_pin(self.pin_dir, name), *types)
            for name, types in layout.MAPS.items()}
        prog_dir = loader.program_dir(self.pin_dir, self.version)
        self.programs = {name: libbpf.obj_get(os.path.join(prog_dir, name))
                         for name in layout.PROGRAMS}
        self.events_fd = libbpf.obj_get(
            loader.map_pin(self.pin_dir, layout.EVENTS_MAP))

    def close(self):
        for pinned in self.maps.values():
            pinned.close()
        for fd in (*self.programs.values(), self.events_fd):
            os.close(fd)
        self.programs = {}

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()

    # -- policy ---------------------------------------------------------------

    def rules(self):
        """[(policy.Rule, packets, bytes)] sorted by pair."""
        rows = []
        for pair, rule in self.maps['policy'].items():
            action = (policy_model.Action.ALLOW
                      if rule.action == layout.Action.ALLOW
                      else policy_model.Action.DENY)
            rows.append((policy_model.Rule(pair.src, pair.dst, action),
                         rule.packets, rule.bytes))
        return sorted(rows, key=lambda row: row[0])

    def policy(self):
        return policy_model.Policy(rule for rule, _, _ in self.rules())

    def denied(self):
        """[(src, dst, packets, bytes)] of pairs dropped for having no rule."""
        return sorted((p.src, p.dst, c.packets, c.bytes)
                      for p, c in self.maps['denied'].items())

    def set_rule(self, src, dst, action):
        self.replace_policy(policy_model.Policy(
            [r for r in self.policy().rules if r.pair != (src, dst)]
            + [policy_model.Rule(src, dst, policy_model.Action(action))]))

    def remove_rule(self, src, dst):
        """Return False when there was no such rule."""
        current = self.policy()
        if current.action(src, dst) is None:
            return False
        self.replace_policy(policy_model.Policy(
            r for r in current.rules if r.pair != (src, dst)))
        return True

    def replace_policy(self, new):
        """Make the map hold exactly ``new``; all or nothing.

        Counters of rules that stay are kept. Removals are applied before
        additions so no transient state allows more than both policies.
        Returns (upserts, removals) as applied.
        """
        policy_map = self.maps['policy']
        before = {(p.src, p.dst): v for p, v in policy_map.items()}
        current = policy_model.Policy(
            policy_model.Rule(p[0], p[1], policy_model.Action.ALLOW
                              if v.action == layout.Action.ALLOW
                              else policy_model.Action.DENY)
            for p, v in before.items())
        upserts, removals = new.diff(current)
        writes = []
        for rule in upserts:
            old = before.get(rule.pair)
            writes.append((layout.Pair(*rule.pair), layout.Rule(
                action=_ACTIONS[rule.action],
                packets=old.packets if old else 0,
                bytes=old.bytes if old else 0)))
        try:
            policy_map.delete_many([layout.Pair(*p) for p in removals])
            policy_map.set_many(writes)
        except BpfError:
            self._restore(before, [r.pair for r in upserts] + removals)
            raise
        return upserts, removals

    def _restore(self, before, pairs):
        policy_map = self.maps['policy']
        for pair in pairs:
            key = layout.Pair(*pair)
            if pair in before:
                policy_map.set(key, before[pair])
            else:
                policy_map.delete(key)

    # -- endpoints ------------------------------------------------------------

    def endpoints(self):
        """[(address, group, ifindex)]; ifindex 0 for tagged addresses."""
        return sorted((events.address(k.addr), v.group, v.ifindex)
                      for k, v in self.maps['endpoints'].items())

    def tag(self, address, group, ifindex=0):
        policy_model.check_group(group, 'group')
        self.maps['endpoints'].set(address_key(address),
                                   layout.Endpoint(group=group,
                                                   ifindex=ifindex))

    def untag(self, address):
        """Return False when the address was not known."""
        return self.maps['endpoints'].delete(address_key(address))

    def learned(self):
        """{address: group} of the entries learned from the registry."""
        return {events.address(k.addr): v.group
                for k, v in self.maps['endpoints'].items()
                if v.flags & layout.EndpointFlag.LEARNED}

    def learn(self, groups):
        """Tag remote endpoints ``{address: group}`` as learned.

        Addresses attached on this host or tagged by hand keep their entry.
        Returns the addresses left alone that way.
        """
        endpoints = self.maps['endpoints']
        writes, held = [], []
        for address, group in sorted(groups.items()):
            policy_model.check_group(group, 'group')
            key = address_key(address)
            known = endpoints.get(key)
            if (known is not None
                    and not known.flags & layout.EndpointFlag.LEARNED):
                held.append(address)
                continue
            writes.append((key, layout.Endpoint(
                group=group, flags=layout.EndpointFlag.LEARNED)))
        endpoints.set_many(writes)
        return held

    def forget(self, addresses):
        """Remove the learned entries of ``addresses``; others stay."""
        endpoints = self.maps['endpoints']
        gone = []
        for address in addresses:
            key = address_key(address)
            known = endpoints.get(key)
            if (known is not None
                    and known.flags & layout.EndpointFlag.LEARNED
                    and endpoints.delete(key)):
                gone.append(address)
        return gone

    def attach(self, ifname, address, group, netns=None, sandbox_side=None):
        """Enforce on ``ifname``, the interface of endpoint ``address``."""
        policy_model.check_group(group, 'group')
        key = address_key(address)
        index = tc.ifindex(ifname, netns)
        self.maps['endpoints'].set(key, layout.Endpoint(group=group,
                                                        ifindex=index))
        tc.attach(ifname, self.programs, netns, sandbox_side)
        return index

    def detach(self, ifname, netns=None):
        """Stop enforcing on ``ifname`` and forget its endpoint(s)."""
        index = tc.detach(ifname, netns)
        if index is None:
            return []
        gone = [(k, v) for k, v in self.maps['endpoints'].items()
                if v.ifindex == index]
        for key, _ in gone:
            self.maps['endpoints'].delete(key)
        return [events.address(k.addr) for k, _ in gone]

    # -- observation ----------------------------------------------------------

    def watch_drops(self, on_drop, should_stop):
        events.watch(self.events_fd, on_drop, should_stop)

    def test_run(self, program, packet, repeat=1):
        """Run a program on ``packet`` in the kernel: (verdict, ns/run)."""
        return libbpf.test_run(self.programs[program], packet, repeat)
