import { makeMemoryRetention } from "../support/retention-stores.js";
import { retentionStoreConformance } from "./retention-store-conformance.js";

retentionStoreConformance("memory", makeMemoryRetention, {
  tiers: true,
  tombstones: true,
  perResultExpiry: true,
  bulkExpiry: false,
  ebbResults: true,
});
