import { makeMemoryRetention } from "../support/retention-stores.js";
import { retentionStoreConformance } from "./retention-store-conformance.js";

retentionStoreConformance("memory", makeMemoryRetention);
