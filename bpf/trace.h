/* Traced test runs (iovisor-policy trace, magnum_iovisor/telemetry/trace.py).
 *
 * A BPF_PROG_TEST_RUN whose skb->cb[TRACE_CB_MAGIC] holds TRACE_MAGIC (no
 * real packet can carry it: tc hands classifiers a zeroed cb) is decided by
 * the same group and policy lookups as traffic, as a new connection, but
 * nothing is counted, tracked or reported; what was decided goes back to
 * user space in the other cb words.
 */
#ifndef MAGNUM_IOVISOR_TRACE_H
#define MAGNUM_IOVISOR_TRACE_H

#include <uapi/linux/bpf.h>

#include "maps.h"

static __always_inline int tracing(struct __sk_buff *skb)
{
	return skb->cb[TRACE_CB_MAGIC] == TRACE_MAGIC;
}

static __always_inline int traced(struct __sk_buff *skb, int verdict,
				  u8 reason, u16 src_group, u16 dst_group,
				  u32 rule_plus_one, u32 audited)
{
	skb->cb[TRACE_CB_GROUPS] = (u32)src_group << 16 | dst_group;
	skb->cb[TRACE_CB_REASON] = reason;
	skb->cb[TRACE_CB_RULE] = rule_plus_one;
	skb->cb[TRACE_CB_AUDITED] = audited;
	return verdict;
}

#endif
