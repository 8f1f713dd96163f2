import type { TableActivity } from '../../functions/optimizer/catalog.ts';

/** A table's activity counters with nothing counted yet (the unit fixtures of the optimizer). */
export function noActivity(): TableActivity {
  return {
    seq_scan: 0,
    seq_tup_read: 0,
    idx_scan: 0,
    idx_tup_fetch: 0,
    n_tup_ins: 0,
    n_tup_upd: 0,
    n_tup_del: 0,
    n_live_tup: 0,
    n_dead_tup: 0,
  };
}
