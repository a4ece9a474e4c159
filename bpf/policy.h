/* The policy lookup key. User space compiles the rules into the policy LPM
 * trie (magnum_iovisor/dataplane/compile.py) with every precedence already
 * resolved, so the classifier makes one longest-prefix lookup per new flow.
 */
#ifndef MAGNUM_IOVISOR_POLICY_H
#define MAGNUM_IOVISOR_POLICY_H

#include <uapi/linux/in.h>

#include "maps.h"

static __always_inline void policy_key_of(struct policy_key *key, u16 src,
					  u16 dst, const struct flow *flow)
{
	key->prefixlen = POLICY_KEY_BITS;
	key->src = src;
	key->dst = dst;
	key->proto = flow->proto;
	key->pad = 0;
	key->port = (flow->proto == IPPROTO_TCP ||
		     flow->proto == IPPROTO_UDP) ? flow->dport : 0;
}

#endif
