import type { SealedColumn } from "../../core/index.ts";

/**
 * The accounts schema's columns sealed under the keyring, for key rotation
 * (`linkflow keys`): account and card numbers, bound to their account's id,
 * and enhanced PII, bound to its customer's id.
 */
export const ACCOUNTS_SEALED_COLUMNS: readonly SealedColumn[] = [
  {
    table: "accounts.financial_accounts",
    id: "id",
    kind: "bytes",
    ciphertext: "number_ciphertext",
    keyId: "key_id",
    aad: (id) => id,
  },
  {
    table: "accounts.customer_enhanced_pii",
    id: "customer_id",
    kind: "bytes",
    ciphertext: "ciphertext",
    keyId: "key_id",
    aad: (id) => id,
  },
];
