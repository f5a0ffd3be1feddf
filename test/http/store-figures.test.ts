import assert from 'node:assert/strict';
import { describe, test } from 'node:test';

import { StoreFigures } from '../../src/http/store-figures.js';
import { openStore, StatusSource } from './helpers.js';

describe('the store figures', () => {
  test('list the types handled between two readings, and let go of the dispatcher', async () => {
    const opened = await openStore();
    const source = new StatusSource();
    const figures = new StoreFigures(opened.store, source, 60_000);
    try {
      await figures.start();
      await opened.insert([{ type: 'invoice.sent', payload: {} }]);
      source.emit('event:delivered', { event: { type: 'order.created' }, durationMs: 1 });
      source.emit('event:dead', { event: { id: '7' }, reason: 'unreadable row' });
      await figures.refresh(true);

      assert.deepEqual(figures.snapshot.types, ['invoice.sent', 'order.created']);
      assert.equal(figures.snapshot.stats?.byType['order.created'], undefined);
    } finally {
      figures.stop();
      await opened.dispose();
    }

    assert.equal(source.listenerCount('event:delivered'), 0);
    assert.equal(source.listenerCount('event:retry'), 0);
    assert.equal(source.listenerCount('event:dead'), 0);
  });
});
