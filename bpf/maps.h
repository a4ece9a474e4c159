/* Map layouts shared with user space.
 *
 * magnum_iovisor/dataplane/layout.py mirrors every struct and constant here
 * exactly once; tests/functional/test_layout.py checks the two agree.
 */
#ifndef MAGNUM_IOVISOR_MAPS_H
#define MAGNUM_IOVISOR_MAPS_H

#define GROUP_UNCLASSIFIED 0

enum action {
	ACTION_DENY = 0,
	ACTION_ALLOW = 1,
};

enum drop_reason {
	DROP_NO_RULE = 1,        /* default deny: the pair has no rule */
	DROP_DENY_RULE = 2,      /* the pair has an explicit deny rule */
	DROP_SPOOFED_SOURCE = 3, /* source is not the sending endpoint's address */
	DROP_ETHERTYPE = 4,      /* neither IPv4 nor ARP */
	DROP_MALFORMED = 5,      /* too short for its headers */
};
#define DROP_REASONS_MAX 8       /* entries of the drops map (index: reason) */

enum direction {
	DIR_FROM_ENDPOINT = 0,   /* the endpoint is the packet's source */
	DIR_TO_ENDPOINT = 1,     /* the endpoint is the packet's destination */
};

/* A packet whose skb->cb[TRACE_CB_MAGIC] holds TRACE_MAGIC (only
 * BPF_PROG_TEST_RUN sets it: iovisor-policy trace) gets the same verdict but
 * is neither counted nor reported; the classifier writes what it decided
 * into the other cb words, which the test run hands back.
 */
#define TRACE_MAGIC 0x74726163   /* "trac" */
enum trace_cb {
	TRACE_CB_MAGIC = 0,
	TRACE_CB_GROUPS = 1,     /* src group << 16 | dst group */
	TRACE_CB_REASON = 2,     /* enum drop_reason, 0: passed */
	TRACE_CB_RULE = 3,       /* 1: a rule decided, 0: default deny/no rule */
};

/* endpoint flags; user space only, the classifiers ignore them */
enum endpoint_flag {
	ENDPOINT_LEARNED = 1 << 0, /* written by the cluster registry sync */
};

/* endpoints: IPv4 address (network byte order) -> endpoint */
struct endpoint {
	u16 group;
	u16 flags;               /* enum endpoint_flag */
	u32 ifindex;             /* 0: not attached on this host (remote or external) */
};

/* policy and denied pairs are keyed by the (source, destination) groups */
struct pair {
	u16 src;
	u16 dst;
};

struct rule {
	u32 action;              /* enum action */
	u32 reserved;
	u64 packets;
	u64 bytes;
};

struct counter {
	u64 packets;
	u64 bytes;
};

struct drop_event {
	u32 saddr;               /* network byte order */
	u32 daddr;
	u16 src_group;
	u16 dst_group;
	u16 ethertype;           /* host byte order */
	u8 reason;               /* enum drop_reason */
	u8 direction;            /* enum direction */
	u32 ifindex;
	u32 len;
};

#endif
