/** Names, role attributes and service-policy roles of the fabric: validation and matching (OpenZiti's AnyOf semantic). */
import { FabricError } from '../core/index.js';
import type { FabricIdentity, FabricPolicy, FabricService } from './store-schema.js';

const NAME = /^[A-Za-z0-9_.-]{1,128}$/;
const ROLE = /^[#@][A-Za-z0-9_.-]{1,128}$/;

/** Check a name (identity, service, policy) or a bare role attribute. @throws ERR_FABRIC_NAME_INVALID */
export function checkName(name: unknown, what: string): string {
  if (typeof name !== 'string' || !NAME.test(name)) {
    throw new FabricError('ERR_FABRIC_NAME_INVALID', `${what} must be 1-128 letters, digits, ".", "_" or "-"`);
  }
  return name;
}

/** Check role attributes; a leading `#` is dropped, duplicates removed. @throws ERR_FABRIC_NAME_INVALID */
export function checkAttributes(attrs: unknown): string[] {
  if (!Array.isArray(attrs)) throw new FabricError('ERR_FABRIC_NAME_INVALID', 'role attributes must be a list');
  const out = attrs.map((a) => checkName(typeof a === 'string' ? a.replace(/^#/, '') : a, `role attribute "${String(a)}"`));
  return [...new Set(out)];
}

/** Check a service policy type. @throws ERR_FABRIC_POLICY_INVALID */
export function checkPolicyType(type: unknown): 'Dial' | 'Bind' {
  if (type !== 'Dial' && type !== 'Bind') throw new FabricError('ERR_FABRIC_POLICY_INVALID', `policy type must be Dial or Bind, not "${String(type)}"`);
  return type;
}

/** Check policy roles: `#attribute`, `#all`, `@name`, `@id`. @throws ERR_FABRIC_POLICY_INVALID */
export function checkRoles(roles: unknown, what: string): string[] {
  if (!Array.isArray(roles) || roles.length === 0) throw new FabricError('ERR_FABRIC_POLICY_INVALID', `${what} must list at least one role`);
  for (const role of roles) {
    if (typeof role !== 'string' || !ROLE.test(role)) {
      throw new FabricError('ERR_FABRIC_POLICY_INVALID', `${what}: "${String(role)}" is not #attribute, #all, @name or @id`);
    }
  }
  return [...new Set(roles as string[])];
}

/** AnyOf: `#all`, a matching `@name`/`@id`, or any shared `#attribute`. */
function matches(roles: readonly string[], entity: { id: string; name: string; roleAttributes: readonly string[] }): boolean {
  return roles.some((role) => {
    const value = role.slice(1);
    if (role.startsWith('@')) return value === entity.id || value === entity.name;
    return value === 'all' || entity.roleAttributes.includes(value);
  });
}

/** What `policies` grant `identity` on `service`, sorted (`Bind` before `Dial`). */
export function grants(policies: readonly FabricPolicy[], identity: FabricIdentity, service: FabricService): ('Dial' | 'Bind')[] {
  const out = new Set<'Dial' | 'Bind'>();
  for (const p of policies) if (matches(p.identityRoles, identity) && matches(p.serviceRoles, service)) out.add(p.type);
  return (['Bind', 'Dial'] as const).filter((t) => out.has(t));
}
