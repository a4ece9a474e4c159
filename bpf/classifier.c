/* tc classifiers (direct action) for an endpoint's interface.
 *
 * from_endpoint sees what the container sends, to_endpoint what it receives.
 * Default deny: only ARP passes unchecked; IPv4 needs an allow rule for its
 * (source group, destination group) pair; every other ethertype is dropped.
 * The map lookups live here because bcc rewrites them only in this file.
 */
#include <uapi/linux/bpf.h>
#include <uapi/linux/pkt_cls.h>

#include "parse.h"
#include "tables.h"

static __always_inline int tracing(struct __sk_buff *skb)
{
	return skb->cb[TRACE_CB_MAGIC] == TRACE_MAGIC;
}

/* What a traced packet got: its groups, the drop reason (0: passed). */
static __always_inline int traced(struct __sk_buff *skb, int verdict,
				  u8 reason, struct pair *pair, u32 rule)
{
	skb->cb[TRACE_CB_GROUPS] = (u32)pair->src << 16 | pair->dst;
	skb->cb[TRACE_CB_REASON] = reason;
	skb->cb[TRACE_CB_RULE] = rule;
	return verdict;
}

static __always_inline int drop(struct __sk_buff *skb, u8 reason,
				u8 direction, struct packet *pkt,
				struct pair *pair)
{
	if (tracing(skb))
		return traced(skb, TC_ACT_SHOT, reason, pair,
			      reason == DROP_DENY_RULE);

	struct drop_event ev = {
		.saddr = pkt->saddr,
		.daddr = pkt->daddr,
		.src_group = pair->src,
		.dst_group = pair->dst,
		.ethertype = pkt->ethertype,
		.reason = reason,
		.direction = direction,
		.ifindex = skb->ifindex,
		.len = skb->len,
	};
	u32 index = reason;
	struct counter *dropped = drops.lookup(&index);

	if (dropped) {   /* per CPU: no other writer */
		dropped->packets += 1;
		dropped->bytes += skb->len;
	}
	drop_events.ringbuf_output(&ev, sizeof(ev), 0);
	return TC_ACT_SHOT;
}

static __always_inline void count(u64 *packets, u64 *bytes, u32 len)
{
	__sync_fetch_and_add(packets, 1);
	__sync_fetch_and_add(bytes, len);
}

static __always_inline int classify(struct __sk_buff *skb, u8 direction)
{
	struct packet pkt = {};
	struct pair pair = {};

	if (parse_packet(skb, &pkt) < 0)
		return drop(skb, DROP_MALFORMED, direction, &pkt, &pair);
	if (pkt.ethertype == ETH_P_ARP)
		return TC_ACT_OK;
	if (pkt.ethertype != ETH_P_IP)
		return drop(skb, DROP_ETHERTYPE, direction, &pkt, &pair);

	struct endpoint *src = endpoints.lookup(&pkt.saddr);
	struct endpoint *dst = endpoints.lookup(&pkt.daddr);
	pair.src = src ? src->group : GROUP_UNCLASSIFIED;
	pair.dst = dst ? dst->group : GROUP_UNCLASSIFIED;

	if (direction == DIR_FROM_ENDPOINT) {
		if (!src || src->ifindex != skb->ifindex)
			return drop(skb, DROP_SPOOFED_SOURCE, direction, &pkt,
				    &pair);
		/* decided once, where it enters the destination endpoint */
		if (dst && dst->ifindex)
			return TC_ACT_OK;
	}

	struct rule *rule = policy.lookup(&pair);
	if (!rule && tracing(skb))
		return drop(skb, DROP_NO_RULE, direction, &pkt, &pair);
	if (!rule) {
		struct counter zero = {};
		struct counter *denied_pair = denied.lookup_or_try_init(&pair,
									&zero);
		if (denied_pair)
			count(&denied_pair->packets, &denied_pair->bytes,
			      skb->len);
		return drop(skb, DROP_NO_RULE, direction, &pkt, &pair);
	}
	if (!tracing(skb))
		count(&rule->packets, &rule->bytes, skb->len);
	if (rule->action != ACTION_ALLOW)
		return drop(skb, DROP_DENY_RULE, direction, &pkt, &pair);
	if (tracing(skb))
		return traced(skb, TC_ACT_OK, 0, &pair, 1);
	return TC_ACT_OK;
}

int from_endpoint(struct __sk_buff *skb)
{
	return classify(skb, DIR_FROM_ENDPOINT);
}

int to_endpoint(struct __sk_buff *skb)
{
	return classify(skb, DIR_TO_ENDPOINT);
}
