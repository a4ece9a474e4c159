/* The policy lookup keys. User space compiles the rules into protocols
 * entries (and, for a protocol with many port rules, policy trie entries)
 * with every precedence already resolved (magnum_iovisor/dataplane/
 * compile.py), so the classifier only finds the entry and the port's run.
 */
#ifndef MAGNUM_IOVISOR_POLICY_H
#define MAGNUM_IOVISOR_POLICY_H

#include <uapi/linux/in.h>

#include "maps.h"

/* The destination port rules speak of, in network byte order: tcp and udp
 * only (a non-first fragment has 0). */
static __always_inline u16 rule_port(const struct flow *flow)
{
	return (flow->proto == IPPROTO_TCP ||
		flow->proto == IPPROTO_UDP) ? flow->dport : 0;
}

static __always_inline void policy_key_of(struct policy_key *key, u16 src,
					  u16 dst, const struct flow *flow)
{
	key->prefixlen = POLICY_KEY_BITS;
	key->src = src;
	key->dst = dst;
	key->proto = flow->proto;
	key->pad = 0;
	key->port = rule_port(flow);
}

/* The verdict of ``entry`` (not PROTOCOL_IN_TRIE) for ``port`` (host
 * order), or NULL: no rule. */
static __always_inline struct verdict *port_verdict(
	struct protocol_policy *entry, u16 port)
{
#pragma unroll
	for (int i = 0; i < PORT_RUNS_MAX; i++) {
		if (i >= entry->runs || port < entry->run[i].low)
			break;
		if (port <= entry->run[i].high)
			return &entry->run[i].verdict;
	}
	return entry->flags & PROTOCOL_NO_REST ? NULL : &entry->rest;
}

#endif
