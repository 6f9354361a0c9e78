import { describe, expect, it } from 'vitest';
import { groupOf, idTime, trimmedUnread } from './redis-stream.js';

const stream = (o: Record<string, unknown>) => new Map(Object.entries({ length: 100, 'entries-added': 300, 'first-entry': ['1700000000500-0', ['e', '{}']], ...o }));
const group = (o: Record<string, unknown>) => new Map(Object.entries({ name: 'abuse', 'last-delivered-id': '1700000000100-0', 'entries-read': 10, ...o }));

describe('trimmedUnread', () => {
  it('counts the entries gone from the stream that the group never read, when its position is before the first entry', () => {
    // 300 added, 100 left: 200 gone, of which the group read 10.
    expect(trimmedUnread(stream({}), group({}))).toEqual({ lost: 190, entriesRead: 200, after: '1700000000100-0', before: '1700000000500-0' });
  });

  it('finds nothing while the group reads inside the stream: trimming takes from the head only', () => {
    expect(trimmedUnread(stream({}), group({ 'last-delivered-id': '1700000000500-0', 'entries-read': 201 }))).toBeUndefined();
    expect(trimmedUnread(stream({}), group({ 'last-delivered-id': '1700000000900-3', 'entries-read': 250 }))).toBeUndefined();
  });

  it('finds nothing when every entry gone was read (our own trimming of acknowledged entries)', () => {
    expect(trimmedUnread(stream({}), group({ 'entries-read': 200 }))).toBeUndefined();
  });

  it('counts a stream trimmed empty', () => {
    expect(trimmedUnread(stream({ length: 0, 'first-entry': null }), group({}))).toEqual({ lost: 290, entriesRead: 300, after: '1700000000100-0', before: undefined });
  });

  it('says nothing when Redis cannot tell: before 7.0, or a read counter it does not know', () => {
    expect(trimmedUnread(stream({ 'entries-added': undefined }), group({}))).toBeUndefined();
    expect(trimmedUnread(stream({}), group({ 'entries-read': null }))).toBeUndefined();
  });
});

describe('idTime', () => {
  it('dates a stream id by its milliseconds, and not the zero id', () => {
    expect(idTime('1700000000100-7')).toBe('2023-11-14T22:13:20.100Z');
    expect(idTime('0-0')).toBeUndefined();
  });
});

describe('groupOf', () => {
  it("finds one group's fields in an XINFO GROUPS reply", () => {
    const reply = [
      ['name', 'other', 'pending', 3],
      ['name', 'abuse', 'pending', 0, 'lag', 5],
    ];
    expect(groupOf(reply, 'abuse')?.get('lag')).toBe(5);
    expect(groupOf(reply, 'missing')).toBeUndefined();
    expect(groupOf(null, 'abuse')).toBeUndefined();
  });
});
