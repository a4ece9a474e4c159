"""The endpoint and policy semantics of ``Dataplane``, in memory."""

from magnum_iovisor.dataplane import layout
from magnum_iovisor import policy

LEARNED = layout.EndpointFlag.LEARNED


class FakeDataplane:
    def __init__(self):
        self.entries = {}        # address -> Endpoint(group, flags, ifindex)
        self.policy_in_force = policy.Policy()
        self.interfaces = {}     # ifname -> ifindex
        self.links = {}          # key -> ifname (tcx links)
        self.link_error = None   # raised by attach_links when set
        self.guards_parent = True  # dataplane/features.py
        self.refuses_bypass = False  # dataplane/bypass.py
        self.bypass_error = None   # raised by refuse_bypass when set

    def endpoints(self):
        return sorted((a, e.group, e.ifindex)
                      for a, e in self.entries.items())

    def endpoint(self, address):
        return self.entries.get(address)

    def tag(self, address, group, ifindex=0):
        self.entries[address] = layout.Endpoint(group, 0, ifindex)

    def untag(self, address):
        return self.entries.pop(address, None) is not None

    def learned(self):
        return {a: e.group for a, e in self.entries.items()
                if e.flags & LEARNED}

    def learn(self, groups):
        held = []
        for address, group in sorted(groups.items()):
            known = self.entries.get(address)
            if known is not None and not known.flags & LEARNED:
                held.append(address)
            else:
                self.entries[address] = layout.Endpoint(group, LEARNED, 0)
        return held

    def forget(self, addresses):
        gone = [a for a in addresses
                if a in self.entries and self.entries[a].flags & LEARNED]
        for address in gone:
            del self.entries[address]
        return gone

    def attach(self, ifname, address, group, netns=None, sandbox_side=None):
        index = self.interfaces.setdefault(ifname, len(self.interfaces) + 1)
        self.entries[address] = layout.Endpoint(group, 0, index)
        return index

    def detach(self, ifname, netns=None):
        index = self.interfaces.pop(ifname, None)
        gone = [a for a, e in self.entries.items() if e.ifindex == index]
        for address in gone:
            del self.entries[address]
        return gone

    def attach_links(self, ifname, addresses, group, key):
        if self.link_error is not None:
            raise self.link_error
        self.links[key] = ifname
        for address in addresses:
            index = self.attach(ifname, address, group)
        return index

    def bind(self, addresses, netns):
        self.bound_to = getattr(self, 'bound_to', {})
        bound = [a for a in addresses if a in self.entries]
        self.bound_to.update((a, netns) for a in bound)
        return bound

    def attach_parent(self, ifname):
        self.links['parent@' + ifname] = ifname

    def detach_parent(self, ifname):
        return self.links.pop('parent@' + ifname, None) is not None

    def refuse_bypass(self):
        if self.bypass_error:
            raise self.bypass_error
        self.refuses_bypass = True

    def allow_bypass(self):
        was, self.refuses_bypass = self.refuses_bypass, False
        return was

    def detach_links(self, key):
        return self.links.pop(key, None) is not None

    def linked(self, key):
        return key in self.links

    def tags(self):
        """{address: group} of this host's own entries."""
        return {a: e.group for a, e in self.entries.items()
                if not e.flags & LEARNED}

    def replace_policy(self, new):
        upserts, removals = new.diff(self.policy_in_force)
        self.policy_in_force = new
        return upserts, removals
