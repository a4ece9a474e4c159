/* Map layouts shared with user space.
 *
 * magnum_iovisor/dataplane/layout.py mirrors every struct and constant here
 * exactly once; tests/functional/test_classifier.py (LayoutTest) checks the
 * two agree.
 */
#ifndef MAGNUM_IOVISOR_MAPS_H
#define MAGNUM_IOVISOR_MAPS_H

/* reserved groups (magnum_iovisor/policy.py RESERVED) */
#define GROUP_WORLD 0
#define GROUP_UNKNOWN 65533
#define GROUP_NODES 65534
#define GROUP_HOST 65535

/* addresses: IPv6, or IPv4 mapped (::ffff:a.b.c.d), in network byte order;
 * u32 words so that the IPv4 word stores are aligned */
#define ADDR_WORDS 4

enum action {
	ACTION_DENY = 0,
	ACTION_ALLOW = 1,
};

enum drop_reason {
	DROP_NO_RULE = 1,        /* default deny: no rule matches */
	DROP_DENY_RULE = 2,      /* a deny rule matches */
	DROP_SPOOFED_SOURCE = 3, /* source (IP or ARP sender) is not the
				  * sending endpoint's address */
	DROP_ETHERTYPE = 4,      /* neither IPv4, IPv6 nor ARP */
	DROP_MALFORMED = 5,      /* too short for its headers, or IPv6
				  * extension headers we do not walk */
	DROP_NOT_OURS = 6,       /* to_endpoint: not addressed to this
				  * interface's endpoint (incl. broadcast,
				  * multicast) */
};
#define DROP_REASONS_MAX 8       /* entries of the drops map (index: reason) */

enum direction {
	DIR_FROM_ENDPOINT = 0,   /* the endpoint is the packet's source */
	DIR_TO_ENDPOINT = 1,     /* the endpoint is the packet's destination */
	DIR_FROM_PARENT = 2,     /* a container's packet on its parent's egress
				  * (bpf/parent.h) */
};

/* endpoint and prefix flags; the classifiers read only IN_SANDBOX */
enum endpoint_flag {
	ENDPOINT_LEARNED = 1 << 0, /* written by the cluster registry sync */
	ENDPOINT_RESERVED = 1 << 1, /* written by dataplane/reserved.py */
	ENDPOINT_IN_SANDBOX = 1 << 2, /* local, its interface in its sandbox:
				       * see endpoint_netns (bpf/parent.h) */
};

/* endpoints: one address -> endpoint (exact match, checked first) */
struct address {
	u32 addr[ADDR_WORDS];
};

struct endpoint {
	u16 group;
	u16 flags;               /* enum endpoint_flag */
	u32 ifindex;             /* 0: not attached on this host (remote or external) */
};

/* prefixes: LPM trie of CIDR groups, checked when no endpoint matches;
 * prefixlen counts from the start of the 128-bit (mapped) address */
struct prefix_key {
	u32 prefixlen;
	u32 addr[ADDR_WORDS];
};

struct prefix_group {
	u16 group;
	u16 flags;               /* enum endpoint_flag */
};

/* protocols: hash compiled by user space from the rules of every pair that
 * is not one entry of pairs (magnum_iovisor/dataplane/compile.py), keyed
 * by (src, dst, protocol); protocol 0 holds the pair's rules for every
 * protocol. Each value holds the verdicts already resolved, with every
 * precedence: the runs of destination ports (host byte order, disjoint,
 * ascending) that port rules decide, and the verdict of every other port
 * (rest). A (pair, protocol) whose port rules resolve into more runs than
 * PORT_RUNS_MAX has PROTOCOL_IN_TRIE instead, and its verdicts in policy. */
#define PORT_RUNS_MAX 8

enum protocol_flag {
	PROTOCOL_NO_REST = 1 << 0,  /* no rule for the other ports: no rule */
	PROTOCOL_IN_TRIE = 1 << 1,  /* decided by the policy trie */
};

struct protocol_key {
	u16 src;
	u16 dst;
	u32 proto;               /* IPPROTO_*; 0: the pair's every-protocol rules */
};

struct verdict {
	u32 action;              /* enum action */
	u32 rule;                /* index into counters and rules */
};

struct port_run {
	u16 low;                 /* destination ports low..high, host order */
	u16 high;
	struct verdict verdict;
};

struct protocol_policy {
	struct verdict rest;     /* ports in no run, and port-less protocols */
	u16 runs;                /* run[0..runs) in use */
	u16 flags;               /* enum protocol_flag */
	u32 pad;
	struct port_run run[PORT_RUNS_MAX];
};

/* policy: LPM trie, for a (pair, protocol) of PROTOCOL_IN_TRIE only. A
 * lookup uses the full key (POLICY_KEY_BITS); entries are (src, dst,
 * proto) [40 bits] for the rest and a port prefix [48 + n] for each
 * aligned block of a run. */
#define POLICY_KEY_BITS 64

struct policy_key {
	u32 prefixlen;
	u16 src;
	u16 dst;
	u8 proto;                /* IPPROTO_* */
	u8 pad;
	u16 port;                /* destination port, network byte order */
};

/* pairs: the verdict of a (src, dst) pair whose only rule is one for every
 * protocol, the common case; its rule is not in rules. Such a pair has no
 * entries in protocols, and is looked up first. */

/* rules: rule index -> the rule as written (user space only), for the
 * rules compiled into protocols (and policy) */
struct rule_def {
	u16 src;
	u16 dst;
	u8 action;               /* enum action */
	u8 proto;                /* 0: any */
	u16 port_low;            /* 0, 0: all ports */
	u16 port_high;
	u16 pad;
};

/* counters (per CPU, by rule index) and denied (per CPU, by pair) */
struct counter {
	u64 packets;
	u64 bytes;
};

struct pair {
	u16 src;
	u16 dst;
};

/* conntrack: LRU hash. The key is the flow with its lower end first
 * (bpf/conntrack.h, ct_key), so that both directions find the entry in one
 * lookup; flags say which end opened it. ICMP echo uses (identifier, 0) as
 * ports: a reply is its request reversed. */
struct flow {
	u32 saddr[ADDR_WORDS];
	u32 daddr[ADDR_WORDS];
	u16 sport;               /* network byte order */
	u16 dport;
	u8 proto;
	u8 pad[3];
};

enum conn_flag {
	CONN_OPENED_BY_HIGH = 1 << 0, /* the opener sent the key reversed */
	CONN_LOW_LOCAL = 1 << 1,  /* the key's saddr end is an endpoint attached
				   * here (its to_endpoint counts what it gets) */
	CONN_HIGH_LOCAL = 1 << 2, /* the same for the daddr end */
};

struct conn {
	u64 expires;             /* jiffies (ticks, CT_HZ a second): ct_now() */
	u32 rule;                /* the allow rule the flow is counted in */
	u32 generation;          /* policy generation it was last checked at */
	u8 flags;                /* enum conn_flag, as of that generation */
	u8 pad[7];
};

/* in seconds; conntrack.h counts them in ticks (CT_TICKS) */
#define CT_TCP_TIMEOUT_S 3600
#define CT_OTHER_TIMEOUT_S 60
/* an entry's expiry is rewritten at most this often, so that established
 * packets rarely write to a shared cache line */
#define CT_REFRESH_S 1

/* state: array of u64, written by user space */
enum state_index {
	STATE_GENERATION = 0,    /* bumped on every policy or group change */
	STATE_LISTEN_UNTIL = 1,  /* drop events only before this ktime (ns) */
	STATE_ENTRIES = 2,
};

/* drop events: per-CPU token bucket, and lost events (per CPU) */
#define EVENTS_PER_SEC 1000
#define EVENTS_BURST 100

struct budget {
	u64 stamp;               /* ktime of the last refill */
	u64 tokens;
};

struct drop_event {
	u32 saddr[ADDR_WORDS];      /* IPv4 mapped for IPv4 and ARP */
	u32 daddr[ADDR_WORDS];
	u16 src_group;
	u16 dst_group;
	u16 ethertype;           /* host byte order */
	u8 reason;               /* enum drop_reason */
	u8 direction;            /* enum direction */
	u32 ifindex;
	u32 len;
	u8 proto;
	u8 audited;              /* 1: passed by audit mode (bpf/audit.h) */
	u16 dport;               /* host byte order */
};

/* traced test runs (bpf/trace.h): the skb->cb words */
#define TRACE_MAGIC 0x74726163   /* "trac" */
enum trace_cb {
	TRACE_CB_MAGIC = 0,
	TRACE_CB_GROUPS = 1,     /* src group << 16 | dst group */
	TRACE_CB_REASON = 2,     /* enum drop_reason, 0: passes by policy */
	TRACE_CB_RULE = 3,       /* rule index + 1, 0: no rule matched */
	TRACE_CB_AUDITED = 4,    /* 1: a policy drop audit mode lets pass */
};

/* ct_clock's test runs (classifier.c): the skb->cb words */
enum clock_cb {
	CLOCK_CB_LOW = 0,        /* ct_now(), low 32 bits */
	CLOCK_CB_HIGH = 1,       /* ct_now(), high 32 bits */
	CLOCK_CB_HZ = 2,         /* CT_HZ: its ticks a second */
};

/* audit mode (bpf/audit.h): audit[group] or audit[AUDIT_ALL] non-zero;
 * audit_flows: flows passed by audit (value: ktime), as their sender sent
 * them */
#define AUDIT_ALL 65536
#define AUDIT_ENTRIES 65537
#define AUDIT_FLOWS_MAX 65536

/* host_netns: [0] -> the host's network namespace (bpf/parent.h);
 * endpoint_netns: address -> the namespace of a local endpoint whose
 * interface sits in its sandbox (macvlan/ipvlan); the own-endpoint check
 * compares it, as ifindex is only unique within one namespace */
struct netns_cookie {
	u64 cookie;
};

#endif
