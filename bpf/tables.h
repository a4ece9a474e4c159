/* The pinned maps. Sizes and the pin directory come from the loader's cflags
 * (see magnum_iovisor/dataplane/loader.py); a map already pinned there is
 * reused, so every process shares one set of maps.
 */
#ifndef MAGNUM_IOVISOR_TABLES_H
#define MAGNUM_IOVISOR_TABLES_H

#include "maps.h"

#ifndef BPF_F_NO_PREALLOC
#define BPF_F_NO_PREALLOC (1U << 0)
#endif

BPF_TABLE_PINNED("hash", struct address, struct endpoint, endpoints,
		 ENDPOINTS_MAX, PIN_DIR "/endpoints", BPF_F_NO_PREALLOC);
BPF_TABLE_PINNED("lpm_trie", struct prefix_key, struct prefix_group,
		 prefixes, PREFIXES_MAX, PIN_DIR "/prefixes",
		 BPF_F_NO_PREALLOC);
/* protocols, pairs, then policy: bcc pins in this order, so loader.py can
 * tell an earlier version's pins (pairs without protocols, policy without
 * pairs) from a half-made set. A (pair, protocol) entry needs a rule of
 * its own, so RULES_MAX entries always do. */
BPF_TABLE_PINNED("hash", struct protocol_key, struct protocol_policy,
		 protocols, RULES_MAX, PIN_DIR "/protocols");
BPF_TABLE_PINNED("hash", struct pair, struct verdict, pairs, RULES_MAX,
		 PIN_DIR "/pairs");
BPF_TABLE_PINNED("lpm_trie", struct policy_key, struct verdict, policy,
		 POLICY_ENTRIES_MAX, PIN_DIR "/policy", BPF_F_NO_PREALLOC);
BPF_TABLE_PINNED("hash", u32, struct rule_def, rules, RULES_MAX,
		 PIN_DIR "/rules", BPF_F_NO_PREALLOC);
BPF_TABLE_PINNED("percpu_array", u32, struct counter, counters, RULES_MAX,
		 PIN_DIR "/counters");
BPF_TABLE_PINNED("lru_percpu_hash", struct pair, struct counter, denied,
		 DENIED_MAX, PIN_DIR "/denied");
BPF_TABLE_PINNED("lru_hash", struct flow, struct conn, conntrack,
		 CONNTRACK_MAX, PIN_DIR "/conntrack");
BPF_TABLE_PINNED("array", u32, u64, state, STATE_ENTRIES,
		 PIN_DIR "/state");
BPF_TABLE_PINNED("percpu_array", u32, struct budget, event_budget, 1,
		 PIN_DIR "/event_budget");
BPF_TABLE_PINNED("percpu_array", u32, u64, events_lost, 1,
		 PIN_DIR "/events_lost");
/* drops: per-CPU packets and bytes dropped, indexed by enum drop_reason */
BPF_TABLE_PINNED("percpu_array", u32, struct counter, drops,
		 DROP_REASONS_MAX, PIN_DIR "/drops");
/* audit mode (bpf/audit.h) */
BPF_TABLE_PINNED("array", u32, u32, audit, AUDIT_ENTRIES, PIN_DIR "/audit");
BPF_TABLE_PINNED("percpu_array", u32, struct counter, would_drop,
		 DROP_REASONS_MAX, PIN_DIR "/would_drop");
BPF_TABLE_PINNED("lru_hash", struct flow, u64, audit_flows, AUDIT_FLOWS_MAX,
		 PIN_DIR "/audit_flows");
BPF_TABLE_PINNED("array", u32, struct netns_cookie, host_netns, 1,
		 PIN_DIR "/host_netns");
BPF_TABLE_PINNED("hash", struct address, struct netns_cookie, endpoint_netns,
		 ENDPOINTS_MAX, PIN_DIR "/endpoint_netns", BPF_F_NO_PREALLOC);

/* bcc's BPF_RINGBUF_OUTPUT takes no pin path (bcc 0.26), so its struct is
 * written out here with the "maps/ringbuf:PATH" section bcc's loader pins */
struct drop_events_table_t {
	int key;
	u32 leaf;
	int (*ringbuf_output)(void *, u64, u64);
	void *(*ringbuf_reserve)(u64);
	void (*ringbuf_discard)(void *, u64);
	void (*ringbuf_submit)(void *, u64);
	u32 max_entries;
};
__attribute__((section("maps/ringbuf:" PIN_DIR "/drop_events")))
struct drop_events_table_t drop_events = { .max_entries = EVENTS_BYTES };

#endif
