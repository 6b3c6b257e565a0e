import type { LinkPolicy } from "../../dsl/index.ts";

/**
 * When the next reminder is due, strictly after `after`: the earliest of the
 * "every N" series counted from when the link was sent and the fixed offsets
 * before expiry. None once the maximum count is reached or nothing falls
 * before expiry.
 */
export function nextReminderAt(
  policy: LinkPolicy["reminders"],
  sentAt: number,
  expireAt: number,
  sent: number,
  after: number,
): number | undefined {
  if (policy.maxCount !== undefined && sent >= policy.maxCount) return undefined;
  const candidates: number[] = [];
  if (policy.everyMs && policy.everyMs > 0) {
    const k = Math.floor((after - sentAt) / policy.everyMs) + 1;
    candidates.push(sentAt + Math.max(1, k) * policy.everyMs);
  }
  for (const b of policy.beforeExpiryMs) candidates.push(expireAt - b);
  const valid = candidates.filter((t) => t > after && t > sentAt && t < expireAt);
  return valid.length > 0 ? Math.min(...valid) : undefined;
}
