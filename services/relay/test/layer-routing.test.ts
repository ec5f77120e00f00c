import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { LAYER_COMPACT, LAYER_FULL, decodeDeliverEnvelope } from '@studioline/protocol';
import { layerFor, receiverLayer } from '../src/layer-routing.js';
import { LineTable, Member } from '../src/line-table.js';

const FULL = 1 << LAYER_FULL;
const COMPACT = 1 << LAYER_COMPACT;
const BOTH = FULL | COMPACT;

/** The connections a member's frames of `layer` go to, over every gateway. */
function receivers(member: Member, layer: number): number[] {
  return (member.layerTargets[layer] ?? []).flatMap((t) => t.conns).sort((a, b) => a - b);
}

describe('layer routing', () => {
  it('a receiver gets the best layer a sender sends at or below what it asked for', () => {
    assert.equal(layerFor(LAYER_FULL, BOTH), LAYER_FULL);
    assert.equal(layerFor(LAYER_COMPACT, BOTH), LAYER_COMPACT);
    assert.equal(layerFor(LAYER_FULL, COMPACT), LAYER_COMPACT, 'a full-rate receiver hears a mobile sender');
    assert.equal(layerFor(LAYER_COMPACT, FULL), -1, 'a mobile receiver never gets the full layer');
  });

  it('full-rate receivers get full frames, mobile ones compact frames, and each receiver one layer per sender', () => {
    const table = new LineTable((gw) => `ch:${gw}`);
    const a = table.add('L', 4, 'gw1', 1, 'a', false, BOTH, LAYER_FULL)!;
    const b = table.add('L', 4, 'gw2', 2, 'b', false, BOTH, LAYER_FULL)!;
    const m = table.add('L', 4, 'gw2', 3, 'c', false, COMPACT, LAYER_COMPACT)!;
    const old = table.add('L', 4, 'gw1', 4, 'd', false)!; // a peer from before layers: full only

    assert.deepEqual(receivers(a, LAYER_FULL), [2, 4]);
    assert.deepEqual(receivers(a, LAYER_COMPACT), [3]);
    // The mobile sender's compact frames go to everybody: it sends nothing else.
    assert.deepEqual(receivers(m, LAYER_FULL), []);
    assert.deepEqual(receivers(m, LAYER_COMPACT), [1, 2, 4]);
    // The full-only peer cannot reach the mobile one: counted on its frames, never sent full rate.
    assert.deepEqual(receivers(old, LAYER_FULL), [1, 2]);
    assert.deepEqual(old.missed, [1, 0]);
    assert.deepEqual(a.missed, [0, 0]);
    // One DELIVER per gateway and layer, naming that gateway's receivers of the layer.
    const toGw2 = a.layerTargets[LAYER_COMPACT].find((t) => t.gateway === 'gw2')!;
    assert.equal(toGw2.channel, 'ch:gw2');
    assert.deepEqual(decodeDeliverEnvelope(Buffer.concat([toGw2.header, Buffer.from([1, 2, 3])])).conns, [3]);

    // When the mobile peer leaves, a's compact frames go nowhere; membership events still reach every gateway.
    table.remove(m);
    assert.deepEqual(receivers(a, LAYER_COMPACT), []);
    assert.deepEqual(a.targets.map((t) => t.gateway).sort(), ['gw1', 'gw2']);
    assert.equal(b.missed[LAYER_FULL], 0);
  });

  it('a ceiling can step a receiver down and back up, never above what it asked for', () => {
    const table = new LineTable((gw) => gw);
    const a = table.add('L', 3, 'gw', 1, 'a', false, BOTH, LAYER_FULL)!;
    const b = table.add('L', 3, 'gw', 2, 'b', false, BOTH, LAYER_FULL)!;
    const m = table.add('L', 3, 'gw', 3, 'c', false, COMPACT, LAYER_COMPACT)!;
    assert.equal(table.setCeiling(b, LAYER_COMPACT), true);
    assert.deepEqual(receivers(a, LAYER_FULL), []);
    assert.deepEqual(receivers(a, LAYER_COMPACT), [2, 3]);
    assert.equal(table.setCeiling(b, LAYER_FULL), true);
    assert.deepEqual(receivers(a, LAYER_FULL), [2]);
    assert.equal(table.setCeiling(m, LAYER_FULL), false, 'a mobile peer stays compact');
    assert.deepEqual(receivers(a, LAYER_COMPACT), [3]);
  });

  it('a stepped-down receiver keeps the full layer of a sender that sends no compact one (a step down never costs a voice)', () => {
    const table = new LineTable((gw) => gw);
    const old = table.add('L', 3, 'gw', 1, 'old', false, FULL, LAYER_FULL)!;
    const b = table.add('L', 3, 'gw', 2, 'b', false, BOTH, LAYER_FULL)!;
    table.add('L', 3, 'gw', 3, 'm', false, COMPACT, LAYER_COMPACT);
    assert.equal(table.setCeiling(b, LAYER_COMPACT), true);
    assert.deepEqual(receivers(old, LAYER_FULL), [2], 'b still hears the full-only sender');
    assert.equal(receiverLayer({ ceiling: LAYER_COMPACT, wanted: LAYER_FULL }, FULL), LAYER_FULL);
    assert.equal(receiverLayer({ ceiling: LAYER_COMPACT, wanted: LAYER_COMPACT }, FULL), -1, 'a mobile peer still gets none of it');
    assert.equal(table.setCeiling(b, 7), false, 'no such layer: nothing changes');
  });

  it('a re-announced peer keeps the ceiling its gateway stepped it down to', () => {
    const table = new LineTable((gw) => gw);
    const a = table.add('L', 2, 'gw', 1, 'a', false, BOTH, LAYER_FULL)!;
    table.add('L', 2, 'gw', 2, 'b', true, BOTH, LAYER_FULL, LAYER_COMPACT);
    assert.deepEqual(receivers(a, LAYER_COMPACT), [2]);
    const m = table.add('L', 3, 'gw', 3, 'm', true, COMPACT, LAYER_COMPACT, LAYER_FULL)!;
    assert.equal(m.ceiling, LAYER_COMPACT, 'never above what it asked for');
  });

  it('layers from a gateway that are not a known mask count as full only', () => {
    const table = new LineTable((gw) => gw);
    const a = table.add('L', 2, 'gw', 1, 'a', false, 99, 7)!;
    assert.deepEqual([a.layers, a.ceiling], [FULL, LAYER_FULL]);
  });
});
