import { defineConfig } from "vite";

// The console is served by proisp-adminapi itself (same origin as /api/v1), which embeds
// dist/ at build time. No inline script: the module preload polyfill is left out, and
// assets are never inlined as data: URLs into scripts.
export default defineConfig({
  build: {
    outDir: "dist",
    emptyOutDir: true,
    modulePreload: { polyfill: false },
    assetsInlineLimit: 0,
    target: "es2022",
  },
});
