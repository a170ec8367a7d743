// GraphQL Code Generator: TypeScript types for the schema and for this app's queries (`npm run codegen`).
import type { CodegenConfig } from "@graphql-codegen/cli";

const config: CodegenConfig = {
  // The exported SDL, not the live endpoint: codegen's introspection query does not ask for `isOneOf`,
  // so `WhatsAppLogOrderBy` would lose `@oneOf` and its type would accept what the server refuses.
  schema: "../../schema.graphql",
  // The queries in src/ marked with a /* GraphQL */ comment.
  documents: ["src/**/*.ts"],
  generates: {
    // The client preset's persisted documents: generated/gql/persisted-documents.json, {sha256: document},
    // the manifest the server runs in TRUSTED_DOCUMENTS mode (docs/persisted-queries.md); the page
    // sends these ids instead of its documents (src/persisted.ts).
    "generated/gql/": {
      preset: "client",
      presetConfig: { persistedDocuments: true, fragmentMasking: false },
      config: {
        scalars: { DateTime: "string", Phone: "string", BigInt: "number" },
        strictScalars: true,
        useTypeImports: true, // tsconfig has verbatimModuleSyntax
      },
    },
    "generated/graphql.ts": {
      plugins: ["typescript-operations"],
      config: {
        // What the server sends: DateTime an RFC 3339 string, Phone a string, BigInt a JSON number.
        scalars: { DateTime: "string", Phone: "string", BigInt: "number" },
        // A custom scalar missing above fails the generation instead of becoming `unknown`.
        strictScalars: true,
      },
    },
  },
};

export default config;
