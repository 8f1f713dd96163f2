import core from './001_core.sql';
import tables from './002_tables.sql';
import partitionMaintenance from './003_partition_maintenance.sql';
import dbaViews from './004_dba_views.sql';
import sampling from './005_sampling.sql';
import optimizer from './007_optimizer.sql';
import workloadSamples from './008_workload_samples.sql';
import partitionSetIsolation from './009_partition_set_isolation.sql';
import sqlApiComments from './010_sql_api_comments.sql';
import settings from './011_settings.sql';
import designMaintenanceObjects from './012_design_maintenance_objects.sql';

export interface Migration {
  version: number;
  name: string;
  sql: string;
}

/** Every migration, in order. A new one is a new NNN_name.sql file listed here; applied ones never change. */
export const MIGRATIONS: readonly Migration[] = [
  { version: 1, name: '001_core', sql: core },
  { version: 2, name: '002_tables', sql: tables },
  { version: 3, name: '003_partition_maintenance', sql: partitionMaintenance },
  { version: 4, name: '004_dba_views', sql: dbaViews },
  { version: 5, name: '005_sampling', sql: sampling },
  { version: 7, name: '007_optimizer', sql: optimizer },
  { version: 8, name: '008_workload_samples', sql: workloadSamples },
  { version: 9, name: '009_partition_set_isolation', sql: partitionSetIsolation },
  { version: 10, name: '010_sql_api_comments', sql: sqlApiComments },
  { version: 11, name: '011_settings', sql: settings },
  { version: 12, name: '012_design_maintenance_objects', sql: designMaintenanceObjects },
];
