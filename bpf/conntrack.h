/* Connection tracking helpers. An entry is keyed by its flow with the lower
 * end (address, then port, compared as u32 and u16 words) as source: a
 * packet of either direction (or, for ICMP errors, the quoted flow) finds
 * it in one lookup; conn->flags says which end opened it.
 */
#ifndef MAGNUM_IOVISOR_CONNTRACK_H
#define MAGNUM_IOVISOR_CONNTRACK_H

#include <uapi/linux/in.h>

#include "maps.h"

static __always_inline void reverse_flow(struct flow *to,
					 const struct flow *from)
{
#pragma unroll
	for (int i = 0; i < ADDR_WORDS; i++) {
		to->saddr[i] = from->daddr[i];
		to->daddr[i] = from->saddr[i];
	}
	to->sport = from->dport;
	to->dport = from->sport;
	to->proto = from->proto;
	to->pad[0] = to->pad[1] = to->pad[2] = 0;
}

/* Whether ``flow`` goes from its higher end to its lower one. */
static __always_inline int high_to_low(const struct flow *flow)
{
#pragma unroll
	for (int i = 0; i < ADDR_WORDS; i++)
		if (flow->saddr[i] != flow->daddr[i])
			return flow->saddr[i] > flow->daddr[i];
	return flow->sport > flow->dport;
}

/* The entry key of ``flow``; returns whether it is ``flow`` reversed. */
static __always_inline int ct_key(struct flow *key, const struct flow *flow)
{
	if (high_to_low(flow)) {
		reverse_flow(key, flow);
		return 1;
	}
	__builtin_memcpy(key, flow, sizeof(*key));
	key->pad[0] = key->pad[1] = key->pad[2] = 0;
	return 0;
}

/* The flags of an entry whose opener sent it ``reversed`` (or not), with
 * its opener's and its destination's ends attached here or not. */
static __always_inline u8 conn_flags(int reversed, int src_local,
				     int dst_local)
{
	int low_local = reversed ? dst_local : src_local;
	int high_local = reversed ? src_local : dst_local;
	return (reversed ? CONN_OPENED_BY_HIGH : 0) |
	       (low_local ? CONN_LOW_LOCAL : 0) |
	       (high_local ? CONN_HIGH_LOCAL : 0);
}

/* Whether a packet of ``conn`` going toward its key's low end
 * (``to_low``) or high end is bound for an endpoint attached here. */
static __always_inline int bound_for_local(const struct conn *conn, int to_low)
{
	return conn->flags & (to_low ? CONN_LOW_LOCAL : CONN_HIGH_LOCAL);
}

/* Ticks a second of the connection clock: the running kernel's CONFIG_HZ,
 * which the loader reads from its config (dataplane/features.py) and passes
 * as -DCT_HZ, else the kernel headers' own. */
#ifndef CT_HZ
#define CT_HZ CONFIG_HZ
#endif
#define CT_TICKS(seconds) ((u64)(seconds) * CT_HZ)

/* The clock of conn->expires: jiffies, the kernel's tick (4 ms at HZ 250),
 * which is all an expiry needs. Every tracked packet reads it once, and
 * bpf_jiffies64() costs 1-2 ns here against 19-20 ns for
 * bpf_ktime_get_coarse_ns(), the clock before (bench/classifier.py,
 * clock_costs). */
static __always_inline u64 ct_now(void)
{
	return bpf_jiffies64();
}

static __always_inline u64 ct_timeout(u8 proto)
{
	return proto == IPPROTO_TCP ? CT_TICKS(CT_TCP_TIMEOUT_S) :
		CT_TICKS(CT_OTHER_TIMEOUT_S);
}

/* Whether ``conn`` is dead at ``now``: expired, or expiring later than
 * this clock ever writes (now + the TCP timeout + the refresh interval).
 * Entries pinned by versions before jiffies hold CLOCK_MONOTONIC ns, far
 * larger: they would look alive for ever and never be refreshed. */
static __always_inline int ct_dead(const struct conn *conn, u64 now)
{
	return conn->expires < now ||
	       conn->expires > now + CT_TICKS(CT_TCP_TIMEOUT_S + CT_REFRESH_S);
}

/* Push the expiry out, writing the shared entry only now and then. */
static __always_inline void ct_refresh(struct conn *conn, u8 proto, u64 now)
{
	u64 expires = now + ct_timeout(proto);
	if (expires > conn->expires + CT_TICKS(CT_REFRESH_S))
		conn->expires = expires;
}

#endif
