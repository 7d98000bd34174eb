import { fileURLToPath } from "node:url";
import { defineConfig } from "vite";

const here = fileURLToPath(new URL(".", import.meta.url));

/** The web app: src/web is Vite's root, the build goes to build/web, which src/web/static.ts serves beside /graphql. */
export default defineConfig({
  root: here,
  base: "/",
  publicDir: "public",
  logLevel: "warn",
  oxc: { jsx: { runtime: "automatic", importSource: "preact" } },
  build: {
    outDir: fileURLToPath(new URL("../../build/web", import.meta.url)),
    emptyOutDir: true,
    target: "es2022",
    reportCompressedSize: false,
  },
  // `npx vite --config src/web/vite.config.mts` against a running `npm start`.
  server: {
    host: "127.0.0.1",
    proxy: { "/graphql": "http://127.0.0.1:4000", "/web-config.json": "http://127.0.0.1:4000" },
  },
});
