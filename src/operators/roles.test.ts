import { describe, expect, it } from 'vitest';
import { atLeast, canManage } from './roles.js';

describe('roles', () => {
  it('orders viewer < analyst < admin', () => {
    expect(atLeast('admin', 'analyst')).toBe(true);
    expect(atLeast('analyst', 'analyst')).toBe(true);
    expect(atLeast('viewer', 'analyst')).toBe(false);
  });
  it('lets only admins manage operators, and nobody a role above their own', () => {
    expect(canManage('admin', 'admin')).toBe(true);
    expect(canManage('admin', 'viewer')).toBe(true);
    expect(canManage('analyst', 'viewer')).toBe(false);
    expect(canManage('analyst', 'admin')).toBe(false);
    expect(canManage('viewer', 'viewer')).toBe(false);
  });
});
