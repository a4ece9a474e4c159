/* The own-endpoint check by network namespace, and from_parent.
 *
 * from_parent runs on the tcx egress of a macvlan/ipvlan parent, in the
 * host namespace (magnum_iovisor/dataplane/tcx.py). A container's raw
 * sender with PACKET_QDISC_BYPASS skips its own interface's egress hook and
 * still leaves through the parent, so the parent judges again, with the
 * same policy, connections and reserved groups, whatever a sandbox sent.
 * What it allows was counted on the container's interface (or, for a
 * bypassing sender, is not counted); what it drops is counted as usual.
 *
 * ifindex is unique only within one namespace, and the interface of a
 * macvlan/ipvlan endpoint sits in its sandbox. Once the driver saw it there
 * (plugin/driver.py, _bind_in_sandbox: the namespace does not exist at
 * Join), such an endpoint carries ENDPOINT_IN_SANDBOX and its namespace's
 * cookie (endpoint_netns): a packet claiming its address must come from
 * that namespace. On the parent the namespace is all there is to go by;
 * before the binding the parent takes the address of any local endpoint.
 * to_endpoint keeps the ifindex check alone: a sibling's packet delivered
 * by the macvlan bridge still holds the sibling's socket.
 *
 * Pure helpers: the lookups are in bpf/classifier.c (see bpf/parse.h).
 */
#ifndef MAGNUM_IOVISOR_PARENT_H
#define MAGNUM_IOVISOR_PARENT_H

#include "maps.h"

/* The namespace of a packet's socket. Kernels that refuse the helper in tc
 * programs (magnum_iovisor/dataplane/features.py) get 0: own_endpoint then
 * goes by ifindex alone, and from_parent judges nothing. */
#ifdef HAVE_TC_NETNS_COOKIE
#define skb_netns_cookie(skb) bpf_get_netns_cookie(skb)
#define PARENT_GUARD 1
#else
#define skb_netns_cookie(skb) ((u64)0)
#define PARENT_GUARD 0
#endif

/* Whether the parent judges a packet: only what a sandbox sent. The host's
 * own and forwarded packets (no socket of a sandbox) were judged where they
 * entered the host. */
static __always_inline int from_sandbox(const struct netns_cookie *host,
					u64 cookie)
{
	return !host || cookie != host->cookie;
}

static __always_inline int in_sandbox(const struct endpoint *endpoint)
{
	return endpoint && (endpoint->flags & ENDPOINT_IN_SANDBOX);
}

/* Whether the local endpoint ``src`` sent the packet (``owner``: its
 * endpoint_netns entry; ``cookie``: the namespace of the packet's socket,
 * 0 if it has none). */
static __always_inline int own_endpoint(const struct endpoint *src,
					const struct netns_cookie *owner,
					u32 ifindex, u64 cookie, u8 direction)
{
	if (!src || !src->ifindex)
		return 0;
	if (in_sandbox(src) && cookie && (!owner || owner->cookie != cookie))
		return 0;
	return direction == DIR_FROM_PARENT || src->ifindex == ifindex;
}

/* Whether an allowed packet is counted here (see above). */
static __always_inline int counts_allowed(u8 direction)
{
	return direction != DIR_FROM_PARENT;
}

/* The same for a tracked connection's packet: one bound for an endpoint
 * attached here is counted where it enters that endpoint. */
static __always_inline int counts_tracked(u8 direction, int bound_for_local)
{
	return direction == DIR_TO_ENDPOINT ||
	       (direction == DIR_FROM_ENDPOINT && !bound_for_local);
}

#endif
