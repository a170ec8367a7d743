// Persisted documents: the page sends each document's id, not its text. The ids are those of
// generated/gql/persisted-documents.json, which `npm run build` writes (GraphQL Code Generator's client
// preset, codegen.ts) from the documents in src/; a server run with TRUSTED_DOCUMENTS pointing at that
// file executes these documents and nothing else (docs/persisted-queries.md).
import manifest from "../generated/gql/persisted-documents.json";

export interface PersistedDocument {
  id: string; // `sha256:<hex>`, as the manifest names it
  document: string; // the manifest's (normalised) text
}

const byOperation = new Map<string, PersistedDocument>();
for (const [id, document] of Object.entries(manifest as Record<string, string>)) {
  const name = operationName(document);
  if (name) byOperation.set(name, { id, document });
}

function operationName(document: string): string | undefined {
  return /\b(?:query|mutation|subscription)\s+([_A-Za-z][_0-9A-Za-z]*)/.exec(document)?.[1];
}

/** The manifest's entry for one of the page's documents (found by its operation's name). */
export function persisted(document: string): PersistedDocument {
  const name = operationName(document);
  const found = name ? byOperation.get(name) : undefined;
  if (!found) throw new Error(`operation ${name ?? "(anonymous)"} is not in persisted-documents.json: run npm run build`);
  return found;
}
