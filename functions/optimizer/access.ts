import type {
  ColumnRef,
  IndexExpression,
  Literal,
  Operation,
  PredicateKind,
  RawPredicate,
  RelationOccurrence,
  StatementAnalysis,
} from './analyze.ts';
import type { Catalog, TableInfo } from './catalog.ts';

/** One condition on a column of one table occurrence. */
export interface AccessPredicate {
  column: string;
  /** An expression on the column (lower(), a cast, a jsonb path): an expression index serves it. */
  expression?: IndexExpression;
  kind: PredicateKind;
  operator: string;
  literals?: Literal[];
  params: number[];
  /** The value is written into the statement (`NOT flag`), not a constant of one sample. */
  fixed?: boolean;
}

export interface AccessOrderItem {
  /** The column, or the one column the expression reads. */
  column: string;
  /** ORDER BY an expression of the column. */
  expression?: IndexExpression;
  direction: 'asc' | 'desc';
  nulls: 'first' | 'last' | 'default';
  /** `col <-> value`: a nearest-neighbour order, which a GiST index on the column returns. */
  distance?: boolean;
}

/** How a statement reads one table: what an index on it could serve. */
export interface TableAccess {
  table: TableInfo;
  occurrence: number;
  predicates: AccessPredicate[];
  order?: { items: AccessOrderItem[]; limit: boolean };
  /**
   * OR conditions on this table: per group its arms, per arm its predicates. One index per arm, used
   * together through a BitmapOr, serves the group (optimizer/or-bundles.ts).
   */
  orGroups: AccessPredicate[][][];
  /** Columns compared with a column of another table (nested-loop lookups). */
  joinColumns: string[];
  /** Every column of this table the statement mentions (a SELECT), for covering indexes. */
  columns: Set<string>;
  /** The statement needs all columns (`*`), or is not a SELECT: no covering index. */
  allColumns: boolean;
  /**
   * Columns whose equality constant differs between the statement's literal samples (sample-constants.ts):
   * no partial index on one of their values.
   */
  varying?: Set<string>;
  /**
   * Expressions (as rendered) that another literal sample of the statement writes with other constants
   * (sample-constants.ts): one value of many, no expression index on it.
   */
  varyingExpressions?: Set<string>;
}

/** What a $n stands for: a value compared with a column, or a LIMIT/OFFSET. */
export type ParamContext =
  | { role: 'value'; table: TableInfo; column: string; kind: PredicateKind; operator: string }
  | { role: 'limit' | 'offset' };

export interface ResolvedStatement {
  operation: Operation;
  accesses: TableAccess[];
  /** Every table the statement names (resolved). */
  tables: TableInfo[];
  /** The table an INSERT, UPDATE or DELETE writes. */
  writes?: TableInfo;
  /** Columns an UPDATE sets. */
  setColumns: string[];
  /** Table names the catalog does not know (CTE-less views, dropped tables, other databases). */
  unresolved: string[];
  params: Record<number, ParamContext>;
  maxParam: number;
  notes: string[];
}

/** Binds an analysis to the catalog: each column reference to the table occurrence it belongs to. */
export function resolveStatement(analysis: StatementAnalysis, catalog: Catalog): ResolvedStatement {
  const tableOf = new Map<number, TableInfo>();
  const unresolved: string[] = [];
  for (const occ of analysis.relations) {
    const t = catalog.lookup(occ.schema, occ.name);
    if (t) tableOf.set(occ.id, t);
    else unresolved.push(occ.schema ? `${occ.schema}.${occ.name}` : occ.name);
  }
  const occurrence = (ref: ColumnRef, scopeId: number): RelationOccurrence | undefined => {
    for (
      let s = analysis.scopes[scopeId];
      s;
      s = s.parent === undefined ? undefined : analysis.scopes[s.parent]
    ) {
      const occs = s.relations.map((id) => analysis.relations[id]!);
      let found: RelationOccurrence[];
      if (ref.qualifier) {
        found = occs.filter((o) =>
          o.alias
            ? o.alias === ref.qualifier
            : o.name === ref.qualifier && (!ref.schema || o.schema === ref.schema),
        );
      } else {
        found = occs.filter((o) => tableOf.get(o.id)?.columns.some((c) => c.name === ref.column));
        // A single unresolvable table in scope: the column can only be its own.
        if (found.length === 0 && occs.length === 1 && !tableOf.has(occs[0]!.id)) found = occs;
      }
      if (found.length === 1) return found[0];
      if (found.length > 1) return undefined;
    }
    return undefined;
  };

  const accesses = new Map<number, TableAccess>();
  const accessFor = (occ: RelationOccurrence): TableAccess | undefined => {
    const table = tableOf.get(occ.id);
    if (!table) return undefined;
    let a = accesses.get(occ.id);
    if (!a) {
      a = {
        table,
        occurrence: occ.id,
        predicates: [],
        orGroups: [],
        joinColumns: [],
        columns: new Set(),
        allColumns: analysis.operation !== 'select',
      };
      accesses.set(occ.id, a);
    }
    return a;
  };
  for (const occ of analysis.relations) accessFor(occ);

  const params: Record<number, ParamContext> = {};
  for (const [n, role] of Object.entries(analysis.paramRoles)) params[Number(n)] = { role };
  const toAccess = (p: RawPredicate): AccessPredicate => ({
    column: p.column.column,
    kind: p.kind,
    operator: p.operator,
    literals: p.literals,
    params: p.params,
    ...(p.expression ? { expression: p.expression } : {}),
    ...(p.fixed ? { fixed: true } : {}),
  });
  const noteParams = (access: TableAccess, p: RawPredicate) => {
    for (const n of p.params) {
      params[n] ??= {
        role: 'value',
        table: access.table,
        column: p.column.column,
        kind: p.kind,
        operator: p.operator,
      };
    }
  };
  /** The access a predicate's column belongs to, when the catalog knows the column there. */
  const accessOf = (p: RawPredicate): TableAccess | undefined => {
    const occ = occurrence(p.column, p.scope);
    const access = occ ? accessFor(occ) : undefined;
    const has = (name: string) => access?.table.columns.some((c) => c.name === name) === true;
    return has(p.column.column) && (p.expression?.others ?? []).every(has) ? access : undefined;
  };
  for (const p of analysis.predicates) {
    const access = accessOf(p);
    if (!access) continue;
    access.predicates.push(toAccess(p));
    noteParams(access, p);
  }
  const notes = [...analysis.notes];
  for (const g of analysis.orGroups) {
    // One table for every arm: a BitmapOr combines scans of one table only.
    const owners = g.arms.flat().map(accessOf);
    const access = owners[0];
    if (!access || owners.some((a) => a !== access)) {
      if (!notes.includes('OR condition')) notes.push('OR condition');
      for (const [i, p] of g.arms.flat().entries()) if (owners[i]) noteParams(owners[i]!, p);
      continue;
    }
    access.orGroups.push(g.arms.map((arm) => arm.map(toAccess)));
    for (const p of g.arms.flat()) noteParams(access, p);
  }
  for (const j of analysis.joins) {
    for (const side of [j.left, j.right]) {
      const occ = occurrence(side, j.scope);
      const access = occ ? accessFor(occ) : undefined;
      if (access && !access.joinColumns.includes(side.column)) access.joinColumns.push(side.column);
    }
  }
  for (const c of analysis.columnRefs) {
    const occ = occurrence(c.ref, c.scope);
    const access = occ ? accessFor(occ) : undefined;
    if (access?.table.columns.some((x) => x.name === c.ref.column)) access.columns.add(c.ref.column);
  }
  for (const star of analysis.stars) {
    for (const id of analysis.scopes[star.scope]?.relations ?? []) {
      const occ = analysis.relations[id]!;
      const matches = !star.qualifier || (occ.alias ?? occ.name) === star.qualifier;
      const access = matches ? accessFor(occ) : undefined;
      if (access) access.allColumns = true;
    }
  }
  for (const o of analysis.orders) {
    const occs = o.items.map((i) => occurrence(i.column, o.scope));
    const first = occs[0];
    // An index can only provide an order that comes from one table.
    if (!first || occs.some((x) => x !== first)) continue;
    const access = accessFor(first);
    if (!access) continue;
    const others = o.items.flatMap((i) => i.expression?.others ?? []);
    if (!others.every((name) => access.table.columns.some((c) => c.name === name))) continue;
    access.order = {
      items: o.items.map((i) => ({
        column: i.column.column,
        ...(i.expression ? { expression: i.expression } : {}),
        direction: i.direction,
        nulls: i.nulls,
        ...(i.distance ? { distance: true } : {}),
      })),
      limit: o.limit,
    };
  }
  const tables = [...new Map([...tableOf.values()].map((t) => [t.oid, t])).values()];
  return {
    operation: analysis.operation,
    accesses: [...accesses.values()],
    tables,
    writes: analysis.writes === undefined ? undefined : tableOf.get(analysis.writes),
    setColumns: analysis.setColumns,
    unresolved,
    params,
    maxParam: analysis.maxParam,
    notes,
  };
}
