// The generated client against a running facade, called the way the web app calls it:
// register, subscribe (the Stripe stand-in pays the Checkout), create, list, read, and a
// body-less POST whose refusal comes back as {"error": "..."}.
//
// FASTERCLAW_API_URL names the facade and STRIPE_SIM_URL the Stripe stand-in; the Rust
// integration test `clients::the_typescript_client_drives_a_running_facade` sets both.
import assert from 'node:assert/strict';
import { test } from 'node:test';

import {
  client,
  getAuthMe,
  getBillingSubscription,
  getInstances,
  getInstancesById,
  postAuthRegister,
  postBillingCheckout,
  postInstances,
  postInstancesByIdStart,
} from '../dist/index.js';

const api = process.env.FASTERCLAW_API_URL;
const stripe = process.env.STRIPE_SIM_URL;

test('register, subscribe, create and list through the generated client', async (t) => {
  assert.ok(api && stripe, 'set FASTERCLAW_API_URL and STRIPE_SIM_URL (the Rust test does)');
  client.setConfig({ baseUrl: api });

  const email = `ts-${Date.now()}@example.com`;
  const registered = await postAuthRegister({
    body: { email, password: 'a good password', name: 'Grace' },
  });
  assert.equal(registered.response.status, 201, JSON.stringify(registered.error));
  const { accessToken, user } = registered.data;
  assert.equal(user.email, email);
  client.setConfig({ baseUrl: api, headers: { Authorization: `Bearer ${accessToken}` } });

  const me = await getAuthMe();
  assert.equal(me.data.id, user.id);

  const checkout = await postBillingCheckout({ body: { plan: 'starter' } });
  assert.equal(checkout.response.status, 200, JSON.stringify(checkout.error));
  const session = new URL(checkout.data.url).pathname.split('/').pop();
  const paid = await fetch(`${stripe}/_sim/checkout/sessions/${session}/complete`, { method: 'POST' });
  assert.equal(paid.status, 200);
  const subscription = await getBillingSubscription();
  assert.equal(subscription.data.subscription?.status, 'ACTIVE');
  assert.equal(subscription.data.subscription?.plan, 'starter');
  assert.equal(subscription.data.usage.instanceLimit, 2);

  const created = await postInstances({
    body: { name: 'TypeScript bot', telegramBotToken: '7123456789:AAHk3mZ9xQ2vR7tY1uW4pL8sN6dF0gJ5bC3e' },
  });
  assert.equal(created.response.status, 201, JSON.stringify(created.error));
  assert.equal(created.data.telegramBotToken, '7123456789...bC3e');

  const list = await getInstances();
  assert.deepEqual(list.data.map((i) => i.id), [created.data.id]);
  const one = await getInstancesById({ path: { id: created.data.id } });
  assert.equal(one.data.name, 'TypeScript bot');

  // Body-less, as the web app sends start: refused (it is not STOPPED), readably.
  const start = await postInstancesByIdStart({ path: { id: created.data.id } });
  assert.equal(start.response.status, 400);
  assert.equal(typeof start.error.error, 'string');
});
