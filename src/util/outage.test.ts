import { describe, expect, it } from 'vitest';
import { OutageLog, errorText } from './outage.js';

describe('OutageLog', () => {
  it('logs the first failure of an outage and its recovery, nothing between', () => {
    const lines: string[] = [];
    const o = new OutageLog({ down: (err) => lines.push(`down ${errorText(err)}`), up: () => lines.push('up') });
    expect(o.failing).toBe(false);
    expect(o.ok()).toBe(false);
    expect(o.failed(new Error('a'))).toBe(true);
    expect(o.failed(new Error('b'))).toBe(false);
    expect(o.failed('c')).toBe(false);
    expect(o.failing).toBe(true);
    expect(o.ok()).toBe(true);
    expect(o.ok()).toBe(false);
    expect(o.failing).toBe(false);
    expect(o.failed('d')).toBe(true);
    expect(lines).toEqual(['down a', 'up', 'down d']);
  });

  it('without an up callback the recovery is silent, but still ends the outage', () => {
    const lines: string[] = [];
    const o = new OutageLog({ down: () => lines.push('down') });
    o.failed(1);
    expect(o.ok()).toBe(true);
    o.failed(2);
    expect(lines).toEqual(['down', 'down']);
  });
});

describe('errorText', () => {
  it('is the message of an Error, else the value as text', () => {
    expect(errorText(new Error('boom'))).toBe('boom');
    expect(errorText(42)).toBe('42');
  });
});
