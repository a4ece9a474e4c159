/* Drop event rate limit: a token bucket per CPU (EVENTS_PER_SEC, bursts of
 * EVENTS_BURST). Events are only made while a reader has set
 * STATE_LISTEN_UNTIL into the future (magnum_iovisor/dataplane/events.py).
 */
#ifndef MAGNUM_IOVISOR_EVENTS_H
#define MAGNUM_IOVISOR_EVENTS_H

#include "maps.h"

#define NS_PER_TOKEN (1000000000ULL / EVENTS_PER_SEC)

static __always_inline int take_token(struct budget *budget, u64 now)
{
	u64 earned = (now - budget->stamp) / NS_PER_TOKEN;
	if (earned) {
		budget->tokens += earned;
		if (budget->tokens > EVENTS_BURST)
			budget->tokens = EVENTS_BURST;
		budget->stamp += earned * NS_PER_TOKEN;
		if (now - budget->stamp > NS_PER_TOKEN)
			budget->stamp = now;
	}
	if (!budget->tokens)
		return 0;
	budget->tokens--;
	return 1;
}

#endif
