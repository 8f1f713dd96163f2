// .sql files are bundled as text: esbuild's text loader in Lambda bundles, bin/sql-loader.mjs for the
// CLI, and the sqlText plugin in vitest.config.ts for tests.
declare module '*.sql' {
  const text: string;
  export default text;
}
