import type { IndexRecommendation } from './advisor.ts';
import type { SettingRecommendation } from './settings.ts';

/**
 * The recommendations the optimizer gives, as an optimize run's result and the report carry them: an
 * index to build, a setting to change, an auto-created index to drop.
 */

/** An index recommendation as the result carries it. */
export type PublicIndexRecommendation = Omit<IndexRecommendation, 'candidate'>;

export interface DropRecommendation {
  kind: 'drop_index';
  index: string;
  reason: string;
  detail: string;
  /** DROP statement, run with --apply (or auto_index_creation). */
  definition: string;
}

export type Recommendation = PublicIndexRecommendation | SettingRecommendation | DropRecommendation;
