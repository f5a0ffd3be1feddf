import assert from 'node:assert/strict';
import { existsSync } from 'node:fs';
import { after, before, describe, test } from 'node:test';

import { chromium, type Browser, type Page } from 'playwright-core';

import { OutboxDispatcher } from '../../src/dispatcher/index.js';
import { startHttpServer, type HttpServerHandle } from '../../src/http/index.js';
import { createPublisher } from '../../src/publisher/index.js';
import type { Publisher } from '../../src/publisher/contract.js';
import { openStore } from './helpers.js';
import { WebhookReceiver } from './webhook-receiver.js';

const CHROMIUM = '/usr/bin/chromium';
const TOKEN = 'dashboard-e2e-token-5f1c';

async function until(condition: () => boolean | Promise<boolean>, what: string, ms = 10_000) {
  const deadline = Date.now() + ms;
  while (!(await condition())) {
    if (Date.now() > deadline) {
      throw new Error(`timed out waiting until ${what}`);
    }

    await new Promise((resolve) => setTimeout(resolve, 50));
  }
}

async function figure(page: Page, id: string): Promise<number> {
  const text = (await page.textContent(`#${id}`)) ?? '';

  return Number(text.replace(/,/g, ''));
}

describe('the dashboard in headless Chromium, against a running dispatcher', () => {
  let opened: Awaited<ReturnType<typeof openStore>>;
  let receiver: WebhookReceiver;
  let publisher: Publisher;
  let dispatcher: OutboxDispatcher;
  let http: HttpServerHandle;
  let browser: Browser;
  let page: Page;
  const foreignRequests: string[] = [];
  const pageErrors: string[] = [];

  before(async () => {
    assert.ok(existsSync(CHROMIUM), `${CHROMIUM} is missing: apt-get install -y chromium`);
    opened = await openStore();
    receiver = new WebhookReceiver();
    publisher = createPublisher(await receiver.start());
    dispatcher = new OutboxDispatcher({
      store: opened.store,
      publisher,
      concurrency: 4,
      pollIntervalMs: 200,
      statsIntervalMs: 300,
      maxAttempts: 3,
    });
    await dispatcher.start();
    http = await startHttpServer({
      dispatcher,
      store: opened.store,
      publisher,
      port: 0,
      token: TOKEN,
      statsIntervalMs: 300,
      sampleIntervalMs: 300,
    });
    browser = await chromium.launch({
      executablePath: CHROMIUM,
      args: ['--headless', '--no-sandbox', '--disable-background-networking', '--disable-gpu'],
    });
    page = await browser.newPage();
    page.on('request', (request) => {
      if (!request.url().startsWith(http.url)) {
        foreignRequests.push(request.url());
      }
    });
    page.on('pageerror', (error) => pageErrors.push(error.message));
    await page.goto(http.url);
  });

  after(async () => {
    await browser?.close();
    await dispatcher?.stop();
    await http?.close();
    await publisher?.close();
    await receiver?.stop();
    await opened?.dispose();
  });

  test('the page loads and shows the running dispatcher and its closed breaker', async () => {
    await page.locator('#state', { hasText: /^running$/ }).waitFor();

    assert.equal(await page.textContent('#breaker'), 'closed');
    assert.equal(await page.textContent('#store-state'), 'reachable');
    assert.ok((await page.locator('#limiter tbody tr').count()) > 3, 'limiter figures shown');
  });

  test('the figures and the throughput chart move while events flow', async () => {
    const before = await figure(page, 'delivered-total');
    const seen = new Set<number>();
    for (let batch = 0; batch < 10; batch += 1) {
      await opened.insert(
        Array.from({ length: 30 }, (_, i) => ({ type: 'order.created', payload: { batch, i } })),
      );
      seen.add(await figure(page, 'delivered-total'));
      await new Promise((resolve) => setTimeout(resolve, 150));
    }

    await until(async () => (await figure(page, 'delivered-total')) >= before + 300, '300 shown');
    seen.add(await figure(page, 'delivered-total'));
    assert.ok(seen.size >= 3, `the delivered figure moved: ${[...seen].join(', ')}`);
    const points = await page.getAttribute(
      '#chart-throughput polyline[data-series="delivered"]',
      'points',
    );
    const heights = (points ?? '').split(' ').map((point) => Number(point.split(',')[1]));
    assert.ok(
      heights.some((y) => y < 100),
      `the delivered line rises above the baseline: ${points}`,
    );
    assert.ok(
      (await page.locator('#types tbody tr[data-type="order.created"]').count()) === 1,
      'the type is listed',
    );
  });

  test('an action without the token is refused, and the event stays dead', async () => {
    const [id] = await opened.insert([{ type: 'invoice.sent', payload: { poison: true } }]);
    const row = page.locator(`#dead tbody tr[data-id="${id}"]`);
    await row.waitFor({ timeout: 10_000 });
    assert.match((await row.locator('td.error').textContent()) ?? '', /400/);

    await row.locator('button.replay').click();
    await page.locator('#message', { hasText: 'Authorization' }).waitFor();
    assert.equal(await page.getAttribute('#message', 'class'), 'error');
    assert.equal((await opened.store.listDead()).length, 1);
  });

  test('replaying a dead event from the page delivers it', async () => {
    const [dead] = await opened.store.listDead();
    assert.ok(dead);
    await page.fill('#token', TOKEN);
    await page.click('#token-form button[type="submit"]');
    receiver.acceptPoison = true;

    await page.locator(`#dead tbody tr[data-id="${dead.id}"] button.replay`).click();
    await until(() => receiver.delivered.includes(dead.id), 'the replayed event is delivered');
    await page.locator(`#dead tbody tr[data-id="${dead.id}"]`).waitFor({ state: 'detached' });
    assert.match((await page.textContent('#message')) ?? '', /Requeued 1/);
  });

  test('pausing a type from the page holds its events pending until resumed', async () => {
    const typeRow = () => page.locator('#types tbody tr[data-type="order.created"]');
    await typeRow().getByRole('button', { name: 'Pause' }).click();
    await until(async () => (await opened.store.listPaused()).includes('order.created'), 'paused');
    const [id] = await opened.insert([{ type: 'order.created', payload: { held: true } }]);
    await until(async () => {
      const cells = await typeRow().locator('td').allTextContents();

      return cells[1] === '1' && cells[6] === 'paused';
    }, 'the held event shows as pending on the page');
    assert.equal(receiver.delivered.includes(String(id)), false);

    await typeRow().getByRole('button', { name: 'Resume' }).click();
    await until(() => receiver.delivered.includes(String(id)), 'the held event is delivered');
  });

  test("the metrics counted the real dispatcher's deliveries and dead letters", async () => {
    const text = await (await fetch(`${http.url}/metrics`)).text();
    const value = (series: string) =>
      Number(
        text
          .split('\n')
          .find((line) => line.startsWith(`${series} `))
          ?.split(' ')[1],
      );

    assert.ok(value('outbox_events_delivered_total{type="order.created",publisher="http"}') >= 301);
    assert.equal(
      value('outbox_events_dead_lettered_total{type="invoice.sent",publisher="http"}'),
      1,
    );
    assert.ok(value('outbox_publish_duration_seconds_count{publisher="http"}') >= 302);
    assert.equal(value('outbox_dispatcher_running'), 1);
  });

  test('the page fetched nothing from elsewhere and raised no script error', () => {
    assert.deepEqual(foreignRequests, []);
    assert.deepEqual(pageErrors, []);
  });
});
