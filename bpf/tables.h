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

BPF_TABLE_PINNED("hash", u32, struct endpoint, endpoints, ENDPOINTS_MAX,
		 PIN_DIR "/endpoints", BPF_F_NO_PREALLOC);
BPF_TABLE_PINNED("hash", struct pair, struct rule, policy, RULES_MAX,
		 PIN_DIR "/policy", BPF_F_NO_PREALLOC);
BPF_TABLE_PINNED("lru_hash", struct pair, struct counter, denied, DENIED_MAX,
		 PIN_DIR "/denied");
/* drops: per-CPU packets and bytes dropped, indexed by enum drop_reason */
BPF_TABLE_PINNED("percpu_array", u32, struct counter, drops,
		 DROP_REASONS_MAX, PIN_DIR "/drops");

/* bcc's BPF_RINGBUF_OUTPUT, pinned so that any process can read drop events */
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
