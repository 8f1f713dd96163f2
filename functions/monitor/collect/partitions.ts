/**
 * The partition sets' health from round trip 1's partitioned tables: the managed ones
 * (dgm.partition_config, round trip 2's `managed`), else every partitioned table.
 */
import type { PruningSet } from '../pruning.ts';
import type { PartitionSetHealth, PartitionStats } from '../snapshot.ts';
import { iso, type Json, list, minOrNull, num, numOrNull, str } from './values.ts';

export interface PartitionReading {
  partitions: PartitionStats;
  /** The sets reported, as pruning measures them. */
  pruneSets: PruningSet[];
}

export function readPartitions(cat: Json, rt2: Json): PartitionReading {
  const managed = (rt2.managed as Json[] | undefined) ?? null;
  const managedOids = new Map((managed ?? []).filter((m) => m.oid != null).map((m) => [str(m.oid), m]));
  const allSets = list(cat.partitions).map((p) => ({ raw: p, managed: managedOids.has(str(p.oid)) }));
  const sets = managed ? allSets.filter((s) => s.managed) : allSets;
  const partitionSets: PartitionSetHealth[] = sets.map(({ raw, managed: isManaged }) => ({
    parent: { schema: str(raw.schema), name: str(raw.name) },
    managed: isManaged,
    partitionInterval: isManaged ? str(managedOids.get(str(raw.oid))?.interval) || null : null,
    partitions: num(raw.partitions),
    totalBytes: num(raw.totalBytes),
    minBytes: num(raw.minBytes),
    maxBytes: num(raw.maxBytes),
    medianBytes: num(raw.medianBytes),
    avgBytes: Math.round(num(raw.avgBytes)),
    defaultPartitions: num(raw.defaultPartitions),
    defaultRows: numOrNull(raw.defaultRows),
    newestBound: iso(raw.newestBound),
    aheadDays: raw.aheadDays == null ? null : Math.round(num(raw.aheadDays) * 100) / 100,
  }));
  return {
    partitions: {
      available: true,
      sets: partitionSets,
      defaultRowsTotal: partitionSets.reduce((a, s) => a + (s.defaultRows ?? 0), 0),
      minAheadDays: minOrNull(partitionSets.filter((s) => s.managed || !managed).map((s) => s.aheadDays)),
    },
    pruneSets: sets.map(({ raw }) => ({
      parent: { schema: str(raw.schema), name: str(raw.name) },
      leaves: (raw.leaves as Array<[string, string]>) ?? [],
      partitions: num(raw.partitions),
    })),
  };
}
