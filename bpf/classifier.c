/* tc classifiers (direct action) for an endpoint's interface.
 *
 * from_endpoint sees what the container sends, to_endpoint what it receives.
 * Each packet is decided once: where it leaves its endpoint, unless its
 * destination is an endpoint of this host, then where it enters that one.
 * A packet of a tracked connection (either way, or an ICMP error about it)
 * passes; any other needs an allow rule for (source group, destination
 * group, protocol, destination port) and, when allowed, opens a connection.
 * ARP passes when its sender is the sending endpoint; IPv6 neighbour
 * discovery passes; every other ethertype is dropped. to_endpoint accepts
 * only packets addressed to its own endpoint (so no IP broadcast or
 * multicast reaches a container).
 * The map lookups live here because bcc rewrites them only in this file;
 * the headers hold the pure parts, one concept each.
 */
#include <uapi/linux/bpf.h>
#include <uapi/linux/pkt_cls.h>

#include "parse.h"
#include "policy.h"
#include "conntrack.h"
#include "events.h"
#include "trace.h"
#include "audit.h"
#include "parent.h"
#include "tables.h"

static __always_inline u64 state_get(u32 index)
{
	u64 *value = state.lookup(&index);
	return value ? *value : 0;
}

static __always_inline void lose_event(void)
{
	u32 zero = 0;
	u64 *lost = events_lost.lookup(&zero);
	if (lost)
		*lost += 1;
}

static __always_inline int audited(u8 reason, u16 src_group, u16 dst_group)
{
	if (!audit_applies(reason))
		return 0;
	u32 all = AUDIT_ALL, src = src_group, dst = dst_group;
	return audit_on(audit.lookup(&all), audit.lookup(&src),
			audit.lookup(&dst));
}

static __always_inline int drop(struct __sk_buff *skb, u8 reason,
				u8 direction, struct packet *pkt,
				u16 src_group, u16 dst_group)
{
	int pass = audited(reason, src_group, dst_group);
	int verdict = pass ? TC_ACT_OK : TC_ACT_SHOT;
	if (tracing(skb))
		return traced(skb, verdict, reason, src_group, dst_group, 0,
			      pass);
	u32 index = reason;
	struct counter *dropped = pass ? would_drop.lookup(&index) :
		drops.lookup(&index);
	if (dropped) {            /* this CPU's: no atomics needed */
		dropped->packets += 1;
		dropped->bytes += skb->len;
	}
	u64 now = bpf_ktime_get_ns();
	if (pass)
		audit_flows.update(&pkt->flow, &now);
	if (now > state_get(STATE_LISTEN_UNTIL))
		return verdict;           /* nobody listens */
	u32 zero = 0;
	struct budget *budget = event_budget.lookup(&zero);
	if (!budget || !take_token(budget, now)) {
		lose_event();
		return verdict;
	}
	struct drop_event ev = {
		.src_group = src_group,
		.dst_group = dst_group,
		.ethertype = pkt->ethertype,
		.reason = reason,
		.direction = direction,
		.ifindex = skb->ifindex,
		.len = skb->len,
		.proto = pkt->flow.proto,
		.audited = pass,
		.dport = bpf_ntohs(pkt->flow.dport),
	};
	__builtin_memcpy(ev.saddr, pkt->flow.saddr, sizeof(ev.saddr));
	__builtin_memcpy(ev.daddr, pkt->flow.daddr, sizeof(ev.daddr));
	if (drop_events.ringbuf_output(&ev, sizeof(ev), 0) < 0)
		lose_event();
	return verdict;
}

static __always_inline void count(u32 rule, u32 len)
{
	struct counter *counter = counters.lookup(&rule);
	if (counter) {            /* this CPU's: no atomics needed */
		counter->packets += 1;
		counter->bytes += len;
	}
}

/* An address's group: its endpoint's, else its longest CIDR prefix's,
 * else the world. */
static __always_inline u16 group_of(struct endpoint *known, u32 *addr)
{
	if (known)
		return known->group;
	struct prefix_key key = { .prefixlen = ADDR_WORDS * 32 };
	__builtin_memcpy(key.addr, addr, sizeof(key.addr));
	struct prefix_group *found = prefixes.lookup(&key);
	return found ? found->group : GROUP_WORLD;
}

static __always_inline struct verdict *decide(u16 src, u16 dst,
					      struct flow *flow)
{
	struct pair pair = { .src = src, .dst = dst };
	struct verdict *found = pairs.lookup(&pair);
	if (found)
		return found;
	struct protocol_key key = { .src = src, .dst = dst,
				    .proto = flow->proto };
	struct protocol_policy *entry = protocols.lookup(&key);
	if (!entry) {
		key.proto = 0;    /* the pair's rules for every protocol */
		entry = protocols.lookup(&key);
		return entry ? port_verdict(entry, 0) : NULL;
	}
	if (entry->flags & PROTOCOL_IN_TRIE) {
		struct policy_key trie_key;
		policy_key_of(&trie_key, src, dst, flow);
		return policy.lookup(&trie_key);
	}
	return port_verdict(entry, bpf_ntohs(rule_port(flow)));
}

/* ``conn``, the entry of ``key`` (or NULL), if alive and still allowed by
 * the policy (checked again, with where its ends are, when the generation
 * moved on). */
static __always_inline struct conn *alive(struct conn *conn,
					  struct flow *key, u64 now,
					  u64 generation)
{
	if (!conn)
		return NULL;
	if (ct_dead(conn, now)) {
		conntrack.delete(key);
		return NULL;
	}
	if (conn->generation == (u32)generation)
		return conn;
	struct flow opened;
	int reversed = conn->flags & CONN_OPENED_BY_HIGH;
	if (reversed)
		reverse_flow(&opened, key);
	else
		__builtin_memcpy(&opened, key, sizeof(opened));
	struct address src, dst;
	__builtin_memcpy(src.addr, opened.saddr, sizeof(src.addr));
	__builtin_memcpy(dst.addr, opened.daddr, sizeof(dst.addr));
	struct endpoint *from = endpoints.lookup(&src);
	struct endpoint *to = endpoints.lookup(&dst);
	struct verdict *verdict = decide(group_of(from, opened.saddr),
					 group_of(to, opened.daddr), &opened);
	if (!verdict || verdict->action != ACTION_ALLOW) {
		conntrack.delete(key);
		return NULL;
	}
	conn->rule = verdict->rule;
	conn->flags = conn_flags(reversed, from && from->ifindex,
				 to && to->ifindex);
	conn->generation = (u32)generation;
	return conn;
}

/* A traced test run: the policy's verdict for a new connection. */
static __always_inline int trace(struct __sk_buff *skb, struct packet *pkt,
				 struct endpoint *src, struct endpoint *dst)
{
	u16 src_group = group_of(src, pkt->flow.saddr);
	u16 dst_group = group_of(dst, pkt->flow.daddr);
	struct verdict *verdict = decide(src_group, dst_group, &pkt->flow);
	u8 reason = !verdict ? DROP_NO_RULE :
		verdict->action != ACTION_ALLOW ? DROP_DENY_RULE : 0;
	int pass = reason && audited(reason, src_group, dst_group);
	return traced(skb, reason && !pass ? TC_ACT_SHOT : TC_ACT_OK, reason,
		      src_group, dst_group, verdict ? verdict->rule + 1 : 0,
		      pass);
}

static __always_inline struct conn *tracked(struct flow *key, u64 now,
					    u64 generation)
{
	return alive(conntrack.lookup(key), key, now, generation);
}

/* The connection ``pkt`` (whose entry key is ``key``, ``reversed`` or not,
 * and whose entry is ``entry``) belongs to; *to_low: whether the packet
 * goes toward the key's low end. */
static __always_inline struct conn *connection(struct packet *pkt,
					       struct flow *key, int reversed,
					       struct conn *entry, u64 now,
					       u64 generation, int *to_low)
{
	struct conn *conn = alive(entry, key, now, generation);
	*to_low = reversed;
	/* an echo reply answers a request its destination sent */
	if (conn && pkt->kind == KIND_ECHO_REPLY &&
	    !reversed == !(conn->flags & CONN_OPENED_BY_HIGH))
		return NULL;
	if (conn || pkt->kind != KIND_ICMP_ERROR)
		return conn;
	/* an error goes back to the sender of the packet it quotes */
	struct flow inner;
	*to_low = !ct_key(&inner, &pkt->inner);
	return tracked(&inner, now, generation);
}

/* own_endpoint (bpf/parent.h) with its lookups */
static __always_inline int sent_by(struct __sk_buff *skb,
				   struct endpoint *src, struct packet *pkt,
				   u8 direction)
{
	struct netns_cookie *owner = NULL;
	u64 cookie = 0;

	/* without a socket (the kernel's own ARP, ICMP) no namespace tells */
	if (in_sandbox(src) && skb->sk) {
		owner = endpoint_netns.lookup((struct address *)pkt->flow.saddr);
		cookie = skb_netns_cookie(skb);
	}
	return own_endpoint(src, owner, skb->ifindex, cookie, direction);
}

static __always_inline int classify(struct __sk_buff *skb, u8 direction)
{
	struct packet pkt = {};

	if (parse_packet(skb, &pkt) < 0)
		return drop(skb, DROP_MALFORMED, direction, &pkt, 0, 0);
	if (pkt.ethertype == ETH_P_ARP) {
		/* an ARP probe (sender 0.0.0.0) claims nothing */
		if (direction != DIR_TO_ENDPOINT && pkt.flow.saddr[3]) {
			struct endpoint *sender = endpoints.lookup(
				(struct address *)pkt.flow.saddr);
			if (!sent_by(skb, sender, &pkt, direction))
				return drop(skb, DROP_SPOOFED_SOURCE,
					    direction, &pkt, 0, 0);
		}
		return TC_ACT_OK;
	}
	if (pkt.ethertype != ETH_P_IP && pkt.ethertype != ETH_P_IPV6)
		return drop(skb, DROP_ETHERTYPE, direction, &pkt, 0, 0);
	if (pkt.kind == KIND_ND)
		return TC_ACT_OK;

	int from = direction != DIR_TO_ENDPOINT;
	struct endpoint *src = NULL, *dst = NULL;
	/* each end's entry is looked up where it is needed: the source's where
	 * it leaves (spoofing), the destination's where it enters (its own),
	 * the other only for a new connection */
	if (from || tracing(skb))
		src = endpoints.lookup((struct address *)pkt.flow.saddr);
	if (!from || tracing(skb))
		dst = endpoints.lookup((struct address *)pkt.flow.daddr);
	if (tracing(skb))
		return trace(skb, &pkt, src, dst);
	if (from) {
		if (!sent_by(skb, src, &pkt, direction))
			return drop(skb, DROP_SPOOFED_SOURCE, direction, &pkt,
				    src ? src->group : 0, 0);
	} else if (!dst || dst->ifindex != skb->ifindex) {
		return drop(skb, DROP_NOT_OURS, direction, &pkt, 0,
			    dst ? dst->group : 0);
	}

	u64 generation = state_get(STATE_GENERATION);
	struct flow key;
	int reversed = ct_key(&key, &pkt.flow);
	struct conn *entry = conntrack.lookup(&key);
	/* bound for an endpoint here (as of this generation: none moved since)
	 * it is decided where it enters that one */
	if (entry && direction == DIR_FROM_ENDPOINT &&
	    entry->generation == (u32)generation &&
	    bound_for_local(entry, reversed))
		return TC_ACT_OK;
	u64 now = ct_now();
	int to_low = 0;
	struct conn *conn = connection(&pkt, &key, reversed, entry, now,
				       generation, &to_low);
	if (conn) {
		if (counts_tracked(direction, bound_for_local(conn, to_low)))
			count(conn->rule, skb->len);
		ct_refresh(conn, pkt.flow.proto, now);
		return TC_ACT_OK;
	}
	if (from) {
		dst = endpoints.lookup((struct address *)pkt.flow.daddr);
		/* decided once, where it enters the destination endpoint */
		if (direction == DIR_FROM_ENDPOINT && dst && dst->ifindex)
			return TC_ACT_OK;
	} else {
		src = endpoints.lookup((struct address *)pkt.flow.saddr);
	}

	struct pair pair = {
		.src = group_of(src, pkt.flow.saddr),
		.dst = group_of(dst, pkt.flow.daddr),
	};
	struct verdict *verdict = decide(pair.src, pair.dst, &pkt.flow);
	if (!verdict) {
		struct counter *denied_pair = denied.lookup(&pair);
		if (denied_pair) {
			denied_pair->packets += 1;
			denied_pair->bytes += skb->len;
		} else {
			struct counter first = { 1, skb->len };
			denied.update(&pair, &first);
		}
		return drop(skb, DROP_NO_RULE, direction, &pkt, pair.src,
			    pair.dst);
	}
	if (verdict->action != ACTION_ALLOW || counts_allowed(direction))
		count(verdict->rule, skb->len);
	if (verdict->action != ACTION_ALLOW)
		return drop(skb, DROP_DENY_RULE, direction, &pkt, pair.src,
			    pair.dst);
	if (pkt.kind == KIND_PLAIN) {
		struct conn opened = {
			.expires = now + ct_timeout(pkt.flow.proto),
			.rule = verdict->rule,
			.generation = (u32)generation,
			.flags = conn_flags(reversed, src && src->ifindex,
					    dst && dst->ifindex),
		};
		conntrack.update(&key, &opened);
	}
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

int from_parent(struct __sk_buff *skb)
{
	u32 zero = 0;

	if (!PARENT_GUARD ||
	    !from_sandbox(host_netns.lookup(&zero), skb_netns_cookie(skb)))
		return TC_ACT_OK;
	return classify(skb, DIR_FROM_PARENT);
}

/* The connection clock for user space (Dataplane.ct_clock), by test run:
 * what ct_now() reads, and its ticks a second. Attached nowhere. */
int ct_clock(struct __sk_buff *skb)
{
	u64 now = ct_now();

	skb->cb[CLOCK_CB_LOW] = (u32)now;
	skb->cb[CLOCK_CB_HIGH] = now >> 32;
	skb->cb[CLOCK_CB_HZ] = CT_HZ;
	return TC_ACT_OK;
}
