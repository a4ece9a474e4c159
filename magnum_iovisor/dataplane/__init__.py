"""The dataplane: the only code that touches bcc, bpffs and tc.

``Dataplane`` opens (loading on first use) the pinned maps and programs and
offers the operations the CLI and the Docker driver need.
"""

import contextlib
import gc
import os
import time
import typing

from magnum_iovisor.dataplane import addresses
from magnum_iovisor.dataplane import attach as tc
from magnum_iovisor.dataplane import audit as audit_mode
from magnum_iovisor.dataplane import bypass
from magnum_iovisor.dataplane import events
from magnum_iovisor.dataplane import features
from magnum_iovisor.dataplane import layout
from magnum_iovisor.dataplane import libbpf
from magnum_iovisor.dataplane import loader
from magnum_iovisor.dataplane.pinned import PinnedMap
from magnum_iovisor.dataplane import rulemaps
from magnum_iovisor.dataplane import tcx
from magnum_iovisor.dataplane import writer
from magnum_iovisor import policy as policy_model

BpfError = libbpf.BpfError
AttachError = tc.AttachError

_ACTIONS = {policy_model.Action.ALLOW: layout.Action.ALLOW,
            policy_model.Action.DENY: layout.Action.DENY}
_MODEL_ACTIONS = {v: k for k, v in _ACTIONS.items()}
_MODEL_ACTION_OF = {int(v): k for k, v in _ACTIONS.items()}   # plain ints
PROTOCOLS = getattr(policy_model, 'PROTOCOLS',
                    {'tcp': 6, 'udp': 17, 'icmp': 1, 'icmpv6': 58})
_PROTOCOL_NAMES = {v: k for k, v in PROTOCOLS.items()}
_PORTED = {PROTOCOLS['tcp'], PROTOCOLS['udp']}
LISTEN_SECONDS = 2.0


TC_ACT_OK = 0
CLOCK_FRAME = bytes(14)     # a test run needs an Ethernet header, any will do


class Traced(typing.NamedTuple):
    """What the classifier decided for a traced packet."""
    passed: bool
    src_group: int
    dst_group: int
    reason: typing.Optional[str]    # a drop reason (lower case), or None
    rule: typing.Optional[policy_model.Rule]   # None: no rule matched
    audited: bool                   # a policy drop audit mode lets pass


@contextlib.contextmanager
def _collector_paused():
    """Hold off the cyclic garbage collector over a bulk policy write.

    A 100,000-rule policy makes a million short-lived tuples; each batch
    of them would start a collection that walks every live object again.
    Reference counting still frees them all as they go.
    """
    enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if enabled:
            gc.enable()


MapFull = rulemaps.MapFull


def address_key(address):
    """An IPv4 or IPv6 address (text) as the endpoints map key."""
    return (addresses.packed(address),)


def rule_key(rule):
    """(src, dst, proto number or 0, low, high) of a valid policy.Rule."""
    src, dst, _, protocol, ports = rule
    low, high = ports or (0, 0)
    return (src, dst, PROTOCOLS[protocol] if protocol else 0, low, high)


def _key(src, dst, protocol, ports, label):
    where = 'rule %s' % (label,)
    policy_model.check_group(src, where)
    policy_model.check_group(dst, where)
    if protocol is None:
        proto = 0
    elif protocol in PROTOCOLS:
        proto = PROTOCOLS[protocol]
    else:
        raise policy_model.PolicyError('%s: protocol %r is not one of %s' % (
            where, protocol, ', '.join(sorted(PROTOCOLS))))
    if ports is None:
        return (src, dst, proto, 0, 0)
    low, high = ports
    if proto not in _PORTED:
        raise policy_model.PolicyError(
            '%s: ports need protocol tcp or udp' % where)
    if not 1 <= low <= high <= 65535:
        raise policy_model.PolicyError(
            '%s: ports %r are not 1 <= low <= high <= 65535'
            % (where, ports))
    return (src, dst, proto, low, high)


def model_rule(key, action):
    src, dst, proto, low, high = key
    extra = {}
    if proto:
        extra['protocol'] = _PROTOCOL_NAMES[proto]
    if low:
        extra['ports'] = (low, high)
    return policy_model.Rule(src, dst, _MODEL_ACTIONS[action], **extra)


class Dataplane:
    def __init__(self, conf):
        """``conf`` is the [dataplane] option group."""
        self.pin_dir = conf.pin_dir
        self.version, self.compiled = loader.ensure_loaded(conf)
        # whether from_parent judges anything on this kernel
        self.guards_parent = features.tc_netns_cookie()
        self.maps = {
            name: PinnedMap(loader.map_pin(self.pin_dir, name), *types,
                            percpu=name in layout.PERCPU_MAPS)
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

    def _installed(self):
        """{rule key: (index, action)} of the rules in force.

        The action is the plain int of a layout.Action.
        """
        return rulemaps.read(self.maps).installed()

    def rule_index(self, rule):
        """The counters index of ``rule`` (a policy.Rule), or None."""
        found = self._installed().get(rule_key(rule))
        return found[0] if found else None

    def generation(self):
        """The value bump_generation last wrote (policy or group change)."""
        return self.maps['state'].get((layout.StateIndex.GENERATION,)).value

    @writer.exclusive
    def bump_generation(self):
        """Make the classifiers check established flows again.

        Under the writer lock: a read-modify-write, so that no bump of
        another process is lost (each one moves the generation on by one).
        A fresh state map starts from the clock, so that connections
        pinned from before never match it by chance.
        """
        state = self.maps['state']
        key = (layout.StateIndex.GENERATION,)
        old = state.get(key).value
        new = ((old + 1) if old else (time.monotonic_ns() | 1)) & 0xffffffff
        state.set(key, (new,))
        return new

    def rules(self):
        """[(policy.Rule, packets, bytes)] sorted by rule, summed over CPUs."""
        installed = self._installed()
        counters = self.maps['counters']
        result = []
        for key, (index, action) in sorted(installed.items()):
            per_cpu = counters.get((index,))
            result.append((model_rule(key, action),
                           sum(c.packets for c in per_cpu),
                           sum(c.bytes for c in per_cpu)))
        return result

    def rule_counters(self):
        """[(src, dst, protocol, ports, policy.Action, packets, bytes)].

        What ``rules()`` says in plain tuples, unsorted, for scrapes:
        protocol a name or None, ports (low, high) or None.
        """
        packets, nbytes = self.maps['counters'].summed_columns()
        names, actions = _PROTOCOL_NAMES, _MODEL_ACTION_OF
        return [(src, dst, names.get(proto), (low, high) if low else None,
                 actions[action], packets[index], nbytes[index])
                for (src, dst, proto, low, high), (index, action)
                in self._installed().items()]

    def policy(self):
        return policy_model.Policy([model_rule(key, action)
                                    for key, (_, action)
                                    in sorted(self._installed().items())])

    def denied(self):
        """[(src, dst, packets, bytes)] of pairs dropped for having no rule."""
        return sorted((*pair, sum(c.packets for c in per_cpu),
                       sum(c.bytes for c in per_cpu))
                      for pair, per_cpu in self.maps['denied'].items())

    @writer.exclusive
    def set_rule(self, src, dst, action, protocol=None, ports=None):
        """Write one rule; its counters, if it exists, carry on."""
        action = policy_model.check_action(action, 'action')
        key = _key(src, dst, protocol, ports, '%s>%s' % (src, dst))
        in_force = rulemaps.read(self.maps)
        wanted = {k: a for k, (_, a) in in_force.installed().items()}
        wanted[key] = _ACTIONS[action]
        self._apply(in_force, wanted)

    @writer.exclusive
    def remove_rule(self, src, dst, protocol=None, ports=None):
        """Return False when there was no such rule."""
        key = _key(src, dst, protocol, ports, '%s>%s' % (src, dst))
        in_force = rulemaps.read(self.maps)
        installed = in_force.installed()
        if key not in installed:
            return False
        wanted = {k: a for k, (_, a) in installed.items() if k != key}
        self._apply(in_force, wanted)
        return True

    @writer.exclusive
    def replace_policy(self, new):
        """Make the maps hold exactly ``new``; all or nothing.

        Counters of rules that stay are kept. Every packet sees either the
        old or the new verdict while the entries change, never a mix that
        allows more than both. Returns (upserts, removals): the keys
        (src, dst, proto, low, high) of the rules written and removed.
        """
        protocols, actions = {None: 0, **PROTOCOLS}, _ACTIONS
        with _collector_paused():
            # the model validated every rule already
            wanted = {(src, dst, 0, 0, 0) if protocol is None else
                      (src, dst, protocols[protocol], *(ports or (0, 0))):
                      actions[action]
                      for (src, dst, protocol, ports), action in new.items()}
            return self._apply(rulemaps.read(self.maps), wanted)

    def _apply(self, in_force, wanted):
        """Write what differs; return the keys (changed, removed)."""
        with _collector_paused():
            write = rulemaps.plan(self.maps, in_force, wanted)
            if write is None:
                return [], []
            try:
                write.run()
            finally:
                self.bump_generation()
        return write.changed, write.removed

    # -- endpoints and prefixes -----------------------------------------------

    def endpoints(self):
        """[(address or prefix, group, ifindex)]; ifindex 0: not local."""
        return sorted([(addresses.text(addr), value.group, value.ifindex)
                       for (addr,), value
                       in self.maps['endpoints'].items()]
                      + [(prefix, group, 0)
                         for prefix, group, _ in self.prefixes()])

    def prefixes(self):
        """[(prefix, group, flags)] of the CIDR groups."""
        return sorted((addresses.prefix_text(length, addr), value.group,
                       value.flags)
                      for (length, addr), value
                      in self.maps['prefixes'].items())

    def endpoint_counts(self):
        """{'endpoints' or 'prefixes': {kind: n}}.

        Kinds: local (endpoints only), learned, reserved, tagged (by hand).
        """
        def kind(value):
            if value.flags & layout.EndpointFlag.LEARNED:
                return 'learned'
            if value.flags & layout.EndpointFlag.RESERVED:
                return 'reserved'
            return 'local' if getattr(value, 'ifindex', 0) else 'tagged'
        counts = {}
        for name, kinds in (('endpoints', ('local', 'learned', 'reserved',
                                           'tagged')),
                            ('prefixes', ('learned', 'reserved', 'tagged'))):
            found = dict.fromkeys(kinds, 0)
            for _, value in self.maps[name].items():
                found[kind(value)] += 1
            counts[name] = found
        return counts

    def endpoint(self, address):
        """The entry of ``address`` (group, flags, ifindex), or None."""
        return self.maps['endpoints'].get(address_key(address))

    def entry(self, address):
        """The entry of an address or CIDR prefix, or None."""
        name, key = self._where(address)
        return self.maps[name].get(key)

    @staticmethod
    def _where(address):
        """('endpoints', key) or ('prefixes', key) for address or CIDR."""
        if addresses.is_prefix(address):
            length, raw, _, full = addresses.network(address)
            if not full:
                return 'prefixes', (length, raw)
            address = address.split('/')[0]
        return 'endpoints', address_key(address)

    def tag(self, address, group, ifindex=0, flags=0):
        """Put an address or CIDR prefix in ``group``.

        ``ifindex`` 0: not on this host (prefixes never are).
        """
        policy_model.check_group(group, 'group')
        name, key = self._where(address)
        if name == 'prefixes':
            if ifindex:
                raise ValueError('%s: a prefix is no endpoint of an '
                                 'interface' % address)
            self.maps[name].set(key, (group, flags))
        else:
            self.maps[name].set(key, (group, flags, ifindex))
        self.bump_generation()

    def untag(self, address):
        """Return False when the address or prefix was not known."""
        name, key = self._where(address)
        gone = self.maps[name].delete(key)
        if name == 'endpoints':
            self.maps['endpoint_netns'].delete(key)
        if gone:
            self.bump_generation()
        return gone

    is_prefix = staticmethod(addresses.is_prefix)

    def reserved(self):
        """{address or prefix: group} written by dataplane/reserved.py."""
        return self._flagged(layout.EndpointFlag.RESERVED)

    def _flagged(self, flag):
        found = {addresses.text(addr): value.group
                 for (addr,), value in self.maps['endpoints'].items()
                 if value.flags & flag}
        found.update((addresses.prefix_text(length, addr), value.group)
                     for (length, addr), value
                     in self.maps['prefixes'].items()
                     if value.flags & flag)
        return found

    def learned(self):
        """{address or prefix: group} learned from the registry."""
        return self._flagged(layout.EndpointFlag.LEARNED)

    def learn(self, groups):
        """Tag remote endpoints or prefixes ``{address: group}`` as learned.

        Entries attached on this host or tagged by hand keep theirs.
        Returns the addresses left alone that way.
        """
        writes = {'endpoints': [], 'prefixes': []}
        held = []
        for address, group in sorted(groups.items()):
            policy_model.check_group(group, 'group')
            name, key = self._where(address)
            known = self.maps[name].get(key)
            if (known is not None
                    and not known.flags & layout.EndpointFlag.LEARNED):
                held.append(address)
                continue
            value = (group, layout.EndpointFlag.LEARNED)
            writes[name].append((key, value if name == 'prefixes'
                                 else value + (0,)))
        for name, items in writes.items():
            self.maps[name].set_many(items)
        if any(writes.values()):
            self.bump_generation()
        return held

    def forget(self, addresses_):
        """Remove the learned entries of ``addresses_``; others stay."""
        gone = []
        for address in addresses_:
            name, key = self._where(address)
            known = self.maps[name].get(key)
            if (known is not None
                    and known.flags & layout.EndpointFlag.LEARNED
                    and self.maps[name].delete(key)):
                gone.append(address)
        if gone:
            self.bump_generation()
        return gone

    def attach(self, ifname, address, group, netns=None, sandbox_side=None):
        """Enforce on ``ifname``, the interface of endpoint ``address``.

        A second address on the same interface joins the same endpoint.
        """
        policy_model.check_group(group, 'group')
        if sandbox_side is None:
            sandbox_side = netns is not None
        index = tc.ifindex(ifname, netns)
        if sandbox_side:
            self._own(address, group, index, tc.netns_cookie(netns))
        else:
            self.maps['endpoints'].set(address_key(address), (group, 0, index))
        self.bump_generation()
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
            self.maps['endpoint_netns'].delete(key)
        if gone:
            self.bump_generation()
        return [addresses.text(addr) for (addr,), _ in gone]

    # -- connections ----------------------------------------------------------

    def connections(self):
        """The tracked flows, as their openers sent them.

        [(source, sport, destination, dport, proto, rule index)], ports in
        host order.
        """
        now, hz = self._clock()
        # what the classifiers take for dead (bpf/conntrack.h, ct_dead)
        latest = now + (layout.CT_TCP_TIMEOUT_S + layout.CT_REFRESH_S) * hz
        flows = []
        for f, c in self.maps['conntrack'].items():
            if not now < c.expires <= latest:
                continue
            saddr, daddr, sport, dport = f[:4]
            if c.flags & layout.ConnFlag.OPENED_BY_HIGH:
                saddr, daddr, sport, dport = daddr, saddr, dport, sport
            flows.append((addresses.text(saddr), _ntohs(sport),
                          addresses.text(daddr), _ntohs(dport), f[4],
                          c.rule))
        return sorted(flows)

    def ct_clock(self):
        """The connection table's clock (jiffies) as the classifiers read it.

        Conn.expires counts it; ``ct_hz()`` ticks make a second.
        """
        return self._clock()[0]

    def ct_hz(self):
        """Ticks a second of ``ct_clock()``, as the classifiers count them."""
        return self._clock()[1]

    def _clock(self):
        ctx = libbpf.SkBuff()
        libbpf.test_run(self.programs['ct_clock'], CLOCK_FRAME, ctx=ctx)
        cb = ctx.cb
        return (cb[layout.ClockCb.HIGH] << 32 | cb[layout.ClockCb.LOW],
                cb[layout.ClockCb.HZ])

    def attach_links(self, ifname, addresses_, group, key):
        """Enforce on ``ifname`` (host namespace) with tcx links.

        For an interface about to be moved into a sandbox: the links stay
        on it (see ``tcx``). Raises ``tcx.Unsupported`` on old kernels.
        ``bind`` it to its sandbox's namespace once it is there.
        """
        policy_model.check_group(group, 'group')
        index = tc.ifindex(ifname)
        # links first: until the entries exist they drop all it sends
        tcx.attach(self.pin_dir, self.programs, index, key)
        for address in addresses_:
            self.maps['endpoints'].set(address_key(address), (group, 0, index))
        self.bump_generation()
        return index

    def bind(self, addresses_, netns):
        """Bind local endpoints' addresses to the namespace ``netns``.

        From now on only packets of that namespace may claim them
        (bpf/parent.h). Returns those bound (local endpoints only).
        """
        cookie = tc.netns_cookie(netns)
        bound = []
        for address in addresses_:
            known = self.endpoint(address)
            if known is None or not known.ifindex:
                continue
            self._own(address, known.group, known.ifindex, cookie)
            bound.append(address)
        return bound

    def bound(self, address):
        """The netns cookie ``address`` is bound to, or None."""
        found = self.maps['endpoint_netns'].get(address_key(address))
        return found.cookie if found is not None else None

    def _own(self, address, group, index, cookie):
        key = address_key(address)
        # the cookie before the flag that makes the classifiers ask for it
        self.maps['endpoint_netns'].set(key, (cookie,))
        self.maps['endpoints'].set(
            key, (group, layout.EndpointFlag.IN_SANDBOX, index))

    def attach_parent(self, ifname):
        """Enforce on what containers send past their own interface."""
        self.maps['host_netns'].set((0,), (tc.netns_cookie(),))
        tcx.attach(self.pin_dir, self.programs, tc.ifindex(ifname),
                   tcx.parent_key(ifname), tcx.PARENT_HOOKS)

    def detach_parent(self, ifname):
        return tcx.detach(self.pin_dir, tcx.parent_key(ifname))

    def detach_links(self, key):
        return tcx.detach(self.pin_dir, key)

    def refuse_bypass(self):
        """PACKET_QDISC_BYPASS refused outside the host's namespace."""
        bypass.attach(self.pin_dir)

    def allow_bypass(self):
        return bypass.detach(self.pin_dir)

    @property
    def refuses_bypass(self):
        return bypass.attached(self.pin_dir)

    def linked(self, key):
        return tcx.attached(self.pin_dir, key)

    # -- observation ----------------------------------------------------------

    def listen(self, seconds=LISTEN_SECONDS):
        """Have the classifiers make drop events for ``seconds``."""
        until = time.clock_gettime_ns(time.CLOCK_MONOTONIC) + int(
            seconds * 1e9)
        self.maps['state'].set((layout.StateIndex.LISTEN_UNTIL,), (until,))

    def events_lost(self):
        """Drop events not delivered (rate limit or full ring), all CPUs."""
        return sum(v.value for v in self.maps['events_lost'].get((0,)))

    def writing_policy(self):
        """Hold the policy write lock across a read-decide-write."""
        return writer.policy_writer(self.pin_dir)

    # -- audit mode -----------------------------------------------------------

    def audit(self):
        """(audit on for every group, [groups in audit mode])."""
        return audit_mode.groups(self.maps)

    def set_audit(self, on, group=None):
        """Audit mode on or off, for every group (None) or one group.

        Off returns the connections it cut (those audit let open);
        on returns 0.
        """
        if group is not None:
            policy_model.check_group(group, 'group')
        if on:
            audit_mode.switch_on(self.maps, group)
            return 0
        return audit_mode.switch_off(self.maps, self.bump_generation, group)

    def would_drop(self):
        """{reason: (packets, bytes)} audit mode let pass.

        The packets the policy would have dropped.
        """
        return self._by_reason('would_drop')

    def drops(self):
        """{reason name (lower case): (packets, bytes)} dropped so far."""
        return self._by_reason('drops')

    def _by_reason(self, name):
        result = {}
        for reason in layout.DropReason:
            per_cpu = self.maps[name].get((reason.value,))
            result[reason.name.lower()] = (
                sum(c.packets for c in per_cpu), sum(c.bytes for c in per_cpu))
        return result

    def watch_drops(self, on_drop, should_stop):
        events.watch(self.events_fd, on_drop, should_stop, self.listen)

    def trace(self, packet):
        """Classify ``packet`` as the first packet of a new connection.

        The pinned to_endpoint program runs on it through BPF_PROG_TEST_RUN
        with the trace mark (bpf/trace.h): the groups and the verdict come
        from enforcement's own lookups, nothing is counted, tracked or
        reported.
        """
        ctx = libbpf.SkBuff()
        ctx.cb[layout.TraceCb.MAGIC] = layout.TRACE_MAGIC
        verdict, _ = libbpf.test_run(self.programs['to_endpoint'], packet,
                                     ctx=ctx)
        groups = ctx.cb[layout.TraceCb.GROUPS]
        reason = ctx.cb[layout.TraceCb.REASON]
        rule = None
        index = ctx.cb[layout.TraceCb.RULE]
        if index:
            rule = next((model_rule(key, action) for key, (i, action)
                         in self._installed().items() if i == index - 1),
                        None)
        return Traced(passed=verdict == TC_ACT_OK, src_group=groups >> 16,
                      dst_group=groups & 0xffff,
                      reason=layout.DropReason(reason).name.lower()
                      if reason else None, rule=rule,
                      audited=bool(ctx.cb[layout.TraceCb.AUDITED]))

    def test_run(self, program, packet, repeat=1):
        """Run a program on ``packet`` in the kernel: (verdict, ns/run)."""
        return libbpf.test_run(self.programs[program], packet, repeat)


def _ntohs(value):
    return ((value & 0xff) << 8) | (value >> 8)
