import {
  FailedPreconditionError,
  isSealedText,
  type Keyring,
  openText,
  type SealedColumn,
  sealText,
} from "../../core/index.ts";
import type { ResponseCodec } from "../grpc/index.ts";
import { sealedSecretCodec } from "../grpc/index.ts";

/** What a subscription's sealed secret is bound to. */
export const webhookSecretAad = (subscriptionId: string) => `whsec:${subscriptionId}`;

/**
 * The notifications schema's columns sealed under the keyring, for key
 * rotation (`linkflow keys`): each webhook subscription's signing secret and
 * the one it replaced during a rotation's overlap.
 */
export const NOTIFICATIONS_SEALED_COLUMNS: readonly SealedColumn[] = ["secret", "previous_secret"].map(
  (column) => ({
    table: "notifications.webhook_subscriptions",
    id: "id",
    kind: "text" as const,
    column,
    aad: webhookSecretAad,
  }),
);

/**
 * Webhook signing secrets at rest. They must be readable to sign, so they are
 * sealed under the keyring (bound to their subscription) rather than hashed.
 * Without a keyring (a development node) they are kept as they are.
 */
export class SubscriptionSecrets {
  constructor(private readonly keyring: Keyring | undefined) {}

  /** What to store for `secret` in the subscription's row. */
  toColumn(subscriptionId: string, secret: string): string {
    return this.keyring ? sealText(this.keyring, secret, webhookSecretAad(subscriptionId)) : secret;
  }

  /** The secret a stored column holds (sealed, or plain from a node without a keyring). */
  fromColumn(subscriptionId: string, stored: string): string {
    if (!isSealedText(stored)) return stored;
    if (!this.keyring) throw new Error("a webhook secret is sealed but this node has no encryption keyring");
    return openText(this.keyring, stored, webhookSecretAad(subscriptionId));
  }

  /** How a response that shows a secret once is kept for idempotent replays. */
  replayCodec<T extends { subscription?: { id: string } | undefined; secret: string }>(
    codec: ResponseCodec<T>,
  ): ResponseCodec<T> {
    return sealedSecretCodec(codec, {
      keyring: this.keyring,
      field: "secret",
      aad: (m) => `whsec-replay:${m.subscription?.id ?? ""}`,
      shownOnce: () =>
        new FailedPreconditionError(
          "webhook_secret_shown_once",
          "an earlier request with this idempotency key made the secret, and a secret is shown only once; rotate it to get a new one",
        ),
    });
  }
}
