import { describe, expect, it } from "vitest";
import { call } from "../../services/grpc/index.ts";
import { useApiStack } from "../api/harness.ts";
import { acceptedTerms } from "../console/fixtures.ts";

const h = useApiStack();

describe("the evidence kept with a customer's acceptance", () => {
  it("a browser that sends no User-Agent still completes the step; the acceptance records the address and that no browser was named", async () => {
    // HttpCustomer sends no User-Agent header at all, as privacy tools and some embedded browsers do.
    const { customerId } = await acceptedTerms(h, h.a, "no-agent@example.com");
    const { acceptances } = await call(h.accounts, "listDocumentAcceptances", {
      businessId: h.a.businessId,
      customerId,
      documentId: "",
    });
    expect(acceptances.length).toBe(2);
    for (const a of acceptances) {
      expect(a.userAgent).toBe("(not sent)");
      expect(a.ip).toMatch(/^(::ffff:)?127\.0\.0\.1$/);
    }
  });
});
