import { MemoryBackend } from "../../src/backends/memory/memory-backend.js";
import { makeMemoryRetention } from "../support/retention-stores.js";
import { retentionStoreConformance } from "./retention-store-conformance.js";

retentionStoreConformance("memory", makeMemoryRetention, new MemoryBackend().retentionCapabilities);
