// Type-checked with tsc --strict against the types openapi-typescript
// generates from openapi.yaml (npm run generate && npm run typecheck): an
// integrator creates an extension giving only number and name, then changes
// one field with a merge patch guarded by If-Match.
import type { components, paths } from "./generated/dialtone";

type ExtensionCreate = components["schemas"]["ExtensionCreate"];
type ExtensionPatch = components["schemas"]["ExtensionPatch"];
type CreateBody = paths["/v1/extensions"]["post"]["requestBody"]["content"]["application/json"];
type Created = paths["/v1/extensions"]["post"]["responses"][201]["content"]["application/json"];
type PatchBody = paths["/v1/extensions/{id}"]["patch"]["requestBody"]["content"]["application/merge-patch+json"];
type Updated = paths["/v1/extensions/{id}"]["patch"]["responses"][200]["content"]["application/json"];
type Problem = components["schemas"]["ErrorModel"];
type ListQuery = NonNullable<paths["/v1/extensions"]["get"]["parameters"]["query"]>;
type ExtensionPage = paths["/v1/extensions"]["get"]["responses"][200]["content"]["application/json"];

// Only number and name: every other field has a default.
const create: ExtensionCreate = { number: "1001", name: "Ann Lee" };
const createBody: CreateBody = create;

// One field; null clears a field that may be empty.
const rename: ExtensionPatch = { name: "Ann Smith" };
const clearEmail: PatchBody = { email: null };

async function call<T>(base: string, key: string, method: string, path: string, body?: unknown, headers: Record<string, string> = {}): Promise<{ status: number; etag: string | null; body: T }> {
  const res = await fetch(base + path, {
    method,
    headers: { Authorization: `Bearer ${key}`, "Content-Type": "application/json", ...headers },
    body: body === undefined ? undefined : JSON.stringify(body),
  });
  return { status: res.status, etag: res.headers.get("ETag"), body: (await res.json()) as T };
}

export async function scenario(base: string, key: string): Promise<string> {
  const created = await call<Created>(base, key, "POST", "/v1/extensions", createBody, { "Idempotency-Key": "ts-create-1001" });
  if (created.status !== 201 || created.etag === null) {
    throw new Error(`create: ${created.status}`);
  }
  const ext: Created = created.body;
  const secret: string = ext.sip_password;
  const patched = await call<Updated | Problem>(base, key, "PATCH", `/v1/extensions/${ext.id}`, rename, {
    "Content-Type": "application/merge-patch+json",
    "If-Match": created.etag,
  });
  if (patched.status === 412) {
    const problem = patched.body as Problem;
    throw new Error(problem.detail ?? "precondition failed");
  }
  await call<Updated>(base, key, "PATCH", `/v1/extensions/${ext.id}`, clearEmail);
  const query: ListQuery = { limit: 10 };
  const page = await call<ExtensionPage>(base, key, "GET", `/v1/extensions?limit=${query.limit ?? 50}`);
  const next: string | undefined = page.body.next_cursor;
  return `${ext.number} ${secret.length} ${(patched.body as Updated).name} ${page.body.items.length} ${next ?? ""}`;
}
