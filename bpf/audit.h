/* Audit mode (iovisor-policy audit on|off [GROUP], magnum_iovisor/dataplane/
 * audit.py): a packet the policy would drop passes when audit mode is on for
 * every group (audit[AUDIT_ALL]) or for its source or destination group.
 * It is counted in would_drop (by reason) instead of drops, its drop event
 * says audited, and its flow is remembered in audit_flows so that turning
 * audit off can cut the connections it let open. Only policy verdicts are
 * audited: spoofed, malformed, foreign or non-IP packets are always dropped.
 */
#ifndef MAGNUM_IOVISOR_AUDIT_H
#define MAGNUM_IOVISOR_AUDIT_H

#include "maps.h"

static __always_inline int audit_applies(u8 reason)
{
	return reason == DROP_NO_RULE || reason == DROP_DENY_RULE;
}

/* the audit map's entries for every group, the source's, the destination's */
static __always_inline int audit_on(const u32 *all, const u32 *src,
				    const u32 *dst)
{
	return (all && *all) || (src && *src) || (dst && *dst);
}

#endif
