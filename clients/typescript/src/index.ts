// The FasterClaw facade's client: every operation of openapi/openapi.json as a function
// named after its operationId, the request and response types, and the shared `client`
// (set its `baseUrl` and `Authorization` header with `client.setConfig`).
export * from './generated/index.js';
export { client } from './generated/client.gen.js';
