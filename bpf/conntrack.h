/* Connection tracking helpers. An entry is keyed by the flow as the side
 * that opened it sent it; a packet belongs to it when its own flow or its
 * reversed flow is the key (or, for ICMP errors, the quoted flow is).
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

/* The clock of conn->expires: CLOCK_MONOTONIC to within a tick, which is
 * all an expiry needs, and half the cost of bpf_ktime_get_ns() here
 * (bench/classifier.py prints both). */
static __always_inline u64 ct_now(void)
{
	return bpf_ktime_get_coarse_ns();
}

static __always_inline u64 ct_timeout(u8 proto)
{
	return proto == IPPROTO_TCP ? CT_TCP_TIMEOUT_NS : CT_OTHER_TIMEOUT_NS;
}

/* Push the expiry out, writing the shared entry only now and then. */
static __always_inline void ct_refresh(struct conn *conn, u8 proto, u64 now)
{
	u64 expires = now + ct_timeout(proto);
	if (expires > conn->expires + CT_REFRESH_NS)
		conn->expires = expires;
}

#endif
