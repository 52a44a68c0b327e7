import { defineConfig } from '@hey-api/openapi-ts';

// The client the web app calls: fetch-based, one function per operation named after
// its operationId (postAuthLogin, getInstancesById, ...), as the original's was.
// OPENAPI_TS_OUTPUT generates elsewhere, for the drift check of the test command.
export default defineConfig({
  input: '../../openapi/openapi.json',
  output: { path: process.env.OPENAPI_TS_OUTPUT ?? 'src/generated' },
  plugins: ['@hey-api/client-fetch', '@hey-api/typescript', '@hey-api/sdk'],
});
