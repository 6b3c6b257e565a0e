import { createHash } from "node:crypto";
import type { BankLinkProvider as ProviderName } from "../../dsl/index.ts";

/** A bank account a provider linked: what the accounts service needs to store it. */
export interface LinkedBankAccount {
  provider: ProviderName;
  providerAccountId: string;
  routingNumber: string;
  accountNumber: string;
  accountType: "checking" | "savings";
  nameOnAccount: string;
}

/** Why a provider could not link: the waterfall moves on for `unsupported`/`unavailable`, stops for `credentials`. */
export class BankLinkError extends Error {
  constructor(
    readonly reason: "unsupported" | "unavailable" | "credentials",
    message: string,
  ) {
    super(message);
    this.name = "BankLinkError";
  }
}

/** A bank-link provider (Plaid, Finicity). */
export interface BankLinkProvider {
  readonly name: ProviderName;
  link(institution: string, username: string, password: string): Promise<LinkedBankAccount>;
}

/** Test institutions offered on the page, with which provider supports each. */
export const SANDBOX_INSTITUTIONS: { id: string; name: string; providers: ProviderName[] }[] = [
  { id: "ins_platypus", name: "First Platypus Bank", providers: ["plaid", "finicity"] },
  { id: "ins_tartan", name: "Tartan Bank", providers: ["finicity"] },
  { id: "ins_gingham", name: "Gingham Credit Union", providers: ["plaid"] },
];

/**
 * The providers' sandboxes: credentials `user_good` / `pass_good` link a
 * checking account; `user_down` makes the provider unavailable; an
 * institution a provider does not support makes it move aside.
 */
class SandboxProvider implements BankLinkProvider {
  constructor(readonly name: ProviderName) {}

  async link(institution: string, username: string, password: string): Promise<LinkedBankAccount> {
    const ins = SANDBOX_INSTITUTIONS.find((i) => i.id === institution);
    if (!ins?.providers.includes(this.name)) {
      throw new BankLinkError("unsupported", `${this.name} does not support this bank`);
    }
    if (username === "user_down") throw new BankLinkError("unavailable", `${this.name} is not reachable`);
    if (username !== "user_good" || password !== "pass_good") {
      throw new BankLinkError("credentials", "The bank did not accept this username and password");
    }
    const digits = createHash("sha256")
      .update(`${this.name}:${institution}:${username}`)
      .digest()
      .readUInt32BE(0);
    return {
      provider: this.name,
      providerAccountId: `${this.name}_${institution}_${digits.toString(36)}`,
      routingNumber: "011000015",
      accountNumber: `0000${String(digits).padStart(10, "0").slice(-8)}`,
      accountType: "checking",
      nameOnAccount: ins.name,
    };
  }
}

export const sandboxProviders: Record<ProviderName, BankLinkProvider> = {
  plaid: new SandboxProvider("plaid"),
  finicity: new SandboxProvider("finicity"),
};

/** Tries the providers in order until one links the account (the "waterfall"). */
export async function linkViaWaterfall(
  providers: BankLinkProvider[],
  institution: string,
  username: string,
  password: string,
): Promise<LinkedBankAccount> {
  let last: BankLinkError | undefined;
  for (const p of providers) {
    try {
      return await p.link(institution, username, password);
    } catch (err) {
      if (!(err instanceof BankLinkError)) throw err;
      if (err.reason === "credentials") throw err;
      // "Temporarily unavailable" tells the customer more than "not supported" by a later provider.
      if (last?.reason !== "unavailable") last = err;
    }
  }
  throw last ?? new BankLinkError("unsupported", "No provider can link this bank");
}
