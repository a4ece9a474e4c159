/* Packet parsing with no map access.
 *
 * bcc rewrites map method calls (endpoints.lookup(), ...) only in the main
 * source file, so headers hold layouts, declarations and pure helpers.
 *
 * IPv6 extension headers: hop-by-hop, routing and destination options are
 * walked (at most IPV6_EXT_MAX of them); a fragment header is walked too,
 * and a non-first fragment (IPv4 or IPv6) has no ports: it is classified
 * with ports 0. Any other header chain (too many extension headers, or one
 * cut short) is malformed and dropped.
 */
#ifndef MAGNUM_IOVISOR_PARSE_H
#define MAGNUM_IOVISOR_PARSE_H

#include <uapi/linux/if_ether.h>
#include <uapi/linux/in.h>
#include <uapi/linux/ip.h>
#include <uapi/linux/ipv6.h>

#include "maps.h"

#define IPV6_EXT_MAX 4
#define NEXTHDR_HOP 0
#define NEXTHDR_ROUTING 43
#define NEXTHDR_FRAGMENT 44
#define NEXTHDR_DEST 60
#define ICMP_ECHOREPLY 0
#define ICMP_DEST_UNREACH 3
#define ICMP_ECHO 8
#define ICMP_TIME_EXCEEDED 11
#define ICMP_PARAMETERPROB 12
#define ICMPV6_DEST_UNREACH 1
#define ICMPV6_PARAMPROB 4
#define ICMPV6_ECHO_REQUEST 128
#define ICMPV6_ECHO_REPLY 129
#define ICMPV6_ND_FIRST 133      /* router solicitation .. redirect: 133-137 */
#define ICMPV6_ND_LAST 137

enum packet_kind {
	KIND_PLAIN = 0,          /* a flow of its own */
	KIND_ECHO_REPLY = 1,     /* only ever a reply: its flow is reversed */
	KIND_ICMP_ERROR = 2,     /* belongs to the flow in inner */
	KIND_ND = 3,             /* IPv6 neighbour discovery */
};

struct packet {
	u16 ethertype;           /* host byte order; 0 when too short */
	u8 kind;                 /* enum packet_kind */
	u8 pad;
	struct flow flow;        /* IPv4/IPv6: as sent; ARP: sender in saddr */
	struct flow inner;       /* KIND_ICMP_ERROR: the flow it is about */
};

struct ports {
	u16 source;
	u16 dest;
};

static __always_inline void map_ipv4(u32 *to, u32 addr)
{
	to[0] = 0;
	to[1] = 0;
	to[2] = bpf_htonl(0xffff);
	to[3] = addr;
}

static __always_inline void copy_ipv6(u32 *to, struct in6_addr *from)
{
	to[0] = from->in6_u.u6_addr32[0];
	to[1] = from->in6_u.u6_addr32[1];
	to[2] = from->in6_u.u6_addr32[2];
	to[3] = from->in6_u.u6_addr32[3];
}

static __always_inline int is_echo_reply(u8 proto, u8 type)
{
	return (proto == IPPROTO_ICMP && type == ICMP_ECHOREPLY) ||
	       (proto == IPPROTO_ICMPV6 && type == ICMPV6_ECHO_REPLY);
}

/* Ports (or the ICMP echo identifier) of the L4 header at l4; the ICMP type
 * in *type. Returns -1 when the header is cut short. */
static __always_inline int parse_l4(void *l4, void *data_end, u8 proto,
				    struct flow *flow, u8 *type)
{
	if (proto == IPPROTO_TCP || proto == IPPROTO_UDP) {
		struct ports *ports = l4;
		if ((void *)(ports + 1) > data_end)
			return -1;
		flow->sport = ports->source;
		flow->dport = ports->dest;
	} else if (proto == IPPROTO_ICMP || proto == IPPROTO_ICMPV6) {
		u8 *icmp = l4;
		if ((void *)(icmp + 8) > data_end)
			return -1;
		*type = icmp[0];
		/* a request is (id, 0), so that a reply, (0, id), reversed
		 * is its request's flow */
		if ((proto == IPPROTO_ICMP && *type == ICMP_ECHO) ||
		    (proto == IPPROTO_ICMPV6 && *type == ICMPV6_ECHO_REQUEST))
			flow->sport = *(u16 *)(icmp + 4);
		else if (is_echo_reply(proto, *type))
			flow->dport = *(u16 *)(icmp + 4);
	}
	return 0;
}

static __always_inline int is_icmp_error(u8 proto, u8 type)
{
	if (proto == IPPROTO_ICMP)
		return type == ICMP_DEST_UNREACH ||
		       type == ICMP_TIME_EXCEEDED ||
		       type == ICMP_PARAMETERPROB;
	return proto == IPPROTO_ICMPV6 && type >= ICMPV6_DEST_UNREACH &&
	       type <= ICMPV6_PARAMPROB;
}

/* The offending packet quoted in an ICMP error: its header plus 8 bytes. */
static __always_inline int parse_inner(void *at, void *data_end, u8 proto,
				       struct flow *inner)
{
	u8 type = 0;

	if (proto == IPPROTO_ICMP) {
		struct iphdr *ip = at;
		if ((void *)(ip + 1) > data_end || ip->ihl < 5)
			return -1;
		map_ipv4(inner->saddr, ip->saddr);
		map_ipv4(inner->daddr, ip->daddr);
		inner->proto = ip->protocol;
		if (parse_l4(at + ip->ihl * 4, data_end, inner->proto, inner,
			     &type) < 0)
			return -1;
	} else {
		struct ipv6hdr *ip6 = at;
		if ((void *)(ip6 + 1) > data_end)
			return -1;
		copy_ipv6(inner->saddr, &ip6->saddr);
		copy_ipv6(inner->daddr, &ip6->daddr);
		inner->proto = ip6->nexthdr;
		if (parse_l4(ip6 + 1, data_end, inner->proto, inner, &type) < 0)
			return -1;
	}
	return 0;
}

static __always_inline int parse_ipv4(void *l3, void *data_end,
				      struct packet *pkt)
{
	struct iphdr *ip = l3;
	u8 type = 0;

	if ((void *)(ip + 1) > data_end || ip->ihl < 5)
		return -1;
	map_ipv4(pkt->flow.saddr, ip->saddr);
	map_ipv4(pkt->flow.daddr, ip->daddr);
	pkt->flow.proto = ip->protocol;
	if (ip->frag_off & bpf_htons(0x1fff))   /* not the first fragment */
		return 0;
	void *l4 = l3 + ip->ihl * 4;
	if (parse_l4(l4, data_end, ip->protocol, &pkt->flow, &type) < 0)
		return -1;
	if (is_echo_reply(ip->protocol, type)) {
		pkt->kind = KIND_ECHO_REPLY;
	} else if (is_icmp_error(ip->protocol, type)) {
		if (parse_inner(l4 + 8, data_end, IPPROTO_ICMP, &pkt->inner) == 0)
			pkt->kind = KIND_ICMP_ERROR;
	}
	return 0;
}

static __always_inline int parse_ipv6(void *l3, void *data_end,
				      struct packet *pkt)
{
	struct ipv6hdr *ip6 = l3;
	u8 type = 0;

	if ((void *)(ip6 + 1) > data_end)
		return -1;
	copy_ipv6(pkt->flow.saddr, &ip6->saddr);
	copy_ipv6(pkt->flow.daddr, &ip6->daddr);
	u8 next = ip6->nexthdr;
	void *at = ip6 + 1;

#pragma unroll
	for (int i = 0; i < IPV6_EXT_MAX; i++) {
		u8 *ext = at;
		if (next != NEXTHDR_HOP && next != NEXTHDR_ROUTING &&
		    next != NEXTHDR_DEST && next != NEXTHDR_FRAGMENT)
			break;
		if ((void *)(ext + 8) > data_end)
			return -1;
		if (next == NEXTHDR_FRAGMENT) {
			next = ext[0];
			at = ext + 8;
			if ((*(u16 *)(ext + 2)) & bpf_htons(0xfff8)) {
				pkt->flow.proto = next;   /* no ports */
				return 0;
			}
			continue;
		}
		next = ext[0];
		at = ext + (ext[1] + 1) * 8;
	}
	if (next == NEXTHDR_HOP || next == NEXTHDR_ROUTING ||
	    next == NEXTHDR_DEST || next == NEXTHDR_FRAGMENT)
		return -1;
	pkt->flow.proto = next;
	if (parse_l4(at, data_end, next, &pkt->flow, &type) < 0)
		return -1;
	if (next != IPPROTO_ICMPV6)
		return 0;
	if (type >= ICMPV6_ND_FIRST && type <= ICMPV6_ND_LAST)
		pkt->kind = KIND_ND;
	else if (is_echo_reply(next, type))
		pkt->kind = KIND_ECHO_REPLY;
	else if (is_icmp_error(next, type) &&
		 parse_inner(at + 8, data_end, IPPROTO_ICMPV6, &pkt->inner) == 0)
		pkt->kind = KIND_ICMP_ERROR;
	return 0;
}

/* ARP for IPv4 over Ethernet: the sender's protocol address in saddr. */
static __always_inline int parse_arp(void *l3, void *data_end,
				     struct packet *pkt)
{
	u8 *arp = l3;
	if ((void *)(arp + 28) > data_end)
		return -1;
	u32 spa = 0;
	__builtin_memcpy(&spa, arp + 14, 4);
	map_ipv4(pkt->flow.saddr, spa);
	return 0;
}

/* Returns 0 when the headers that the ethertype calls for are all there. */
static __always_inline int parse_packet(struct __sk_buff *skb,
					struct packet *pkt)
{
	void *data = (void *)(long)skb->data;
	void *data_end = (void *)(long)skb->data_end;
	struct ethhdr *eth = data;

	if ((void *)(eth + 1) > data_end)
		return -1;
	pkt->ethertype = bpf_ntohs(eth->h_proto);
	if (pkt->ethertype == ETH_P_IP)
		return parse_ipv4(eth + 1, data_end, pkt);
	if (pkt->ethertype == ETH_P_IPV6)
		return parse_ipv6(eth + 1, data_end, pkt);
	if (pkt->ethertype == ETH_P_ARP)
		return parse_arp(eth + 1, data_end, pkt);
	return 0;
}

#endif
