/* Packet parsing with no map access.
 *
 * bcc rewrites map method calls (endpoints.lookup(), ...) only in the main
 * source file, so headers hold layouts, declarations and pure helpers.
 */
#ifndef MAGNUM_IOVISOR_PARSE_H
#define MAGNUM_IOVISOR_PARSE_H

#include <uapi/linux/if_ether.h>
#include <uapi/linux/ip.h>

struct packet {
	u16 ethertype;           /* host byte order; 0 when too short */
	u32 saddr;               /* network byte order; IPv4 only */
	u32 daddr;
};

/* Returns 0 when the headers that the ethertype calls for are all there. */
static __always_inline int parse_packet(struct __sk_buff *skb,
					struct packet *pkt)
{
	void *data = (void *)(long)skb->data;
	void *data_end = (void *)(long)skb->data_end;
	struct ethhdr *eth = data;
	struct iphdr *ip = (void *)(eth + 1);

	if ((void *)(eth + 1) > data_end)
		return -1;
	pkt->ethertype = ntohs(eth->h_proto);
	if (pkt->ethertype != ETH_P_IP)
		return 0;
	if ((void *)(ip + 1) > data_end)
		return -1;
	pkt->saddr = ip->saddr;
	pkt->daddr = ip->daddr;
	return 0;
}

#endif
