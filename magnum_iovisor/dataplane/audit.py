"""Audit mode in the pinned maps (bpf/audit.h).

Turning audit off (for a group or for all) takes effect on the next packet:
the classifiers read the audit map on every policy drop. Connections are
the subtle part: audit never opens one for the flow it lets through, but
the other side's answer may be allowed by a rule of its own and open one
in the reverse direction, which the audited side's packets would then ride.
So ``switch_off`` deletes every tracked connection whose flow (either way)
audit let through, twice, ``SETTLE_SECONDS`` apart, for answers that were in
flight the first time.
"""

import time

from magnum_iovisor.dataplane import layout

SETTLE_SECONDS = 1.0
ALL = None       # the "group" of global audit mode


def _index(group):
    return layout.AUDIT_ALL if group is ALL else group


def groups(maps):
    """(global on, [groups in audit mode])."""
    found = {index for (index,), (value,) in maps['audit'].items(plain=True)
             if value}
    return (layout.AUDIT_ALL in found,
            sorted(found - {layout.AUDIT_ALL}))


def switch_on(maps, group=ALL):
    maps['audit'].set((_index(group),), (1,))


def _reversed(flow):
    saddr, daddr, sport, dport, proto, pad = flow
    return (daddr, saddr, dport, sport, proto, pad)


def purge(maps):
    """Forget the connections audit let open; return how many."""
    audited = {flow for flow, _ in maps['audit_flows'].items()}
    if not audited:
        return 0
    cut = [flow for flow, _ in maps['conntrack'].items()
           if flow in audited or _reversed(flow) in audited]
    maps['conntrack'].delete_many(cut)
    return len(cut)


def switch_off(maps, bump_generation, group=ALL, settle=SETTLE_SECONDS):
    """Enforce again; return the connections cut."""
    maps['audit'].set((_index(group),), (0,))
    bump_generation()
    cut = purge(maps)
    if settle:
        time.sleep(settle)
        cut += purge(maps)
    still_on, some = groups(maps)
    if not still_on and not some:
        maps['audit_flows'].delete_many(
            [flow for flow, _ in maps['audit_flows'].items()])
    return cut
